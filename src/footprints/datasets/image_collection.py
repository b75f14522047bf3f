"""``GeoTIFFCollectionDataset``: the GeoTIFFs a user names on the command line, files or folders alike."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from footprints.datasets.partitions import RASTER_SUFFIXES
from footprints.datasets.raster import GeoTIFFDataset, RasterSource
from footprints.errors import InputError


class GeoTIFFCollectionDataset(AbstractDataset[None, dict[str, Callable[[], RasterSource]]]):
    """Loads ``{image_id: loader of a lazy RasterSource}`` for GeoTIFF files and folders of them.

    ``paths`` is one path or a list; a folder contributes its ``*.tif``/``*.tiff`` files (any case, not
    recursive). The image id is the file name without its suffix, so two images with one name in different
    folders are refused rather than one overwriting the other's outputs.

    Example catalog entry (the ``footprints predict`` command passes ``images`` as a list)::

        predict_images:
          type: footprints.datasets.image_collection.GeoTIFFCollectionDataset
          paths: ${runtime_params:images,data/01_raw/images}
    """

    def __init__(self, *, paths: str | list[str], metadata: dict[str, Any] | None = None) -> None:
        self._paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        self.metadata = metadata

    def load(self) -> dict[str, Callable[[], RasterSource]]:
        files: dict[str, Path] = {}
        for path in self._paths:
            for file in _geotiffs(path):
                if file.stem in files and files[file.stem] != file:
                    raise InputError(f"{file} and {files[file.stem]}: two images named {file.stem!r}; rename one "
                                     "(outputs are named after the image)")
                files[file.stem] = file
        if not files:
            raise InputError(f"no GeoTIFF (.tif/.tiff) in {', '.join(map(str, self._paths))}: name GeoTIFF files "
                             "or folders that hold them")
        return {image_id: partial(_load, file) for image_id, file in sorted(files.items())}

    def save(self, data: None) -> None:
        raise NotImplementedError("GeoTIFFCollectionDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"paths": [str(p) for p in self._paths]}


def _geotiffs(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    if path.is_file():
        return [path]
    raise InputError(f"{path}: no such file or folder; name GeoTIFF files or folders that hold them")


def _load(file: Path) -> RasterSource:
    return GeoTIFFDataset(filepath=str(file), lazy=True).load()
