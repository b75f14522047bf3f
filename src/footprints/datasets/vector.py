"""``VectorFileDataset``: GeoJSON / GeoPackage layers, written atomically, optionally loaded as a queryable table."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import numpy as np
import pyogrio
import shapely
from pyogrio.raw import detect_write_driver, read as read_raw
from kedro.io import AbstractDataset
from kedro_datasets._typing import TablePreview
from pyproj import CRS

from footprints.atomic import atomic_path
from footprints.datasets.spatial_table import TILE_KEY, all_boxes, clip_pairs, finish_clip
from footprints.errors import InputError


class GeoPackageTable:
    """A GeoPackage layer seen as a ``SpatialTable``: bbox reads use the file's R-tree index."""

    def __init__(self, path: Path, layer: str | None) -> None:
        self.path, self.layer = path, layer
        self.crs = CRS.from_user_input(pyogrio.read_info(path, layer=layer)["crs"])

    def read(self, bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
        return gpd.read_file(self.path, layer=self.layer, bbox=bbox, engine="pyogrio")

    def clip_to(self, tiles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Spatial join (STRtree) of the rows with the tile footprints, then one vectorised intersection (of
        only the rows reaching past their footprint when footprints are boxes: ``clip_pairs``).

        The clip happens in the tiles' CRS (an image's own): the rows inside the tiles' box are read with the
        file's R-tree and transformed there; the result is in the tiles' CRS.
        """
        crs = tiles.crs or self.crs
        bbox = tuple(tiles.to_crs(self.crs).total_bounds) if len(tiles) and tiles.crs else tuple(tiles.total_bounds)
        rows = (self.read(bbox=bbox) if len(tiles) else self.read().iloc[:0]).to_crs(crs)
        tiles = tiles[[TILE_KEY, "geometry"]].reset_index(drop=True)
        pairs = gpd.sjoin(rows, tiles, predicate="intersects", how="inner")
        footprints = tiles.geometry.values[pairs.pop("index_right").to_numpy()]
        clipped = pairs.set_geometry(clip_pairs(pairs.geometry.values, footprints, all_boxes(tiles)), crs=crs)
        columns = [TILE_KEY] + [c for c in rows.columns if c != "geometry"] + ["geometry"]
        return finish_clip(clipped[columns], sort_by=[TILE_KEY, *rows.columns[:1]])


class VectorFileDataset(AbstractDataset[gpd.GeoDataFrame, gpd.GeoDataFrame | GeoPackageTable]):
    """A vector layer in a file (GeoJSON, GeoPackage, anything pyogrio writes), saved via temp file + rename.

    With ``lazy: true`` (GeoPackage only) ``load`` returns a ``GeoPackageTable`` handle whose ``clip_to``
    answers the per-tile label query without loading unrelated rows.

    Example catalog entries::

        tile_index:
          type: footprints.datasets.vector.VectorFileDataset
          filepath: data/02_intermediate/tile_index.gpkg
          layer: tile_index

        label_database:
          type: footprints.datasets.vector.VectorFileDataset
          filepath: data/03_primary/labels.gpkg
          layer: labels
          lazy: true

    Example in Python::

        VectorFileDataset(filepath="out.geojson").save(gdf)
    """

    def __init__(self, *, filepath: str, layer: str | None = None, lazy: bool = False,
                 load_args: dict[str, Any] | None = None, save_args: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._layer = layer
        self._lazy = lazy
        self._load_args = load_args or {}
        self._save_args = save_args or {}
        self.metadata = metadata

    def load(self) -> gpd.GeoDataFrame | GeoPackageTable:
        if not self._filepath.is_file():
            raise InputError(f"{self._filepath}: file not found; check the path, or its filepath in the "
                             "catalog")
        if self._filepath.stat().st_size == 0:
            raise InputError(f"{self._filepath}: cannot read as a vector file: it is empty (0 bytes); export "
                             'it again, or write {"type": "FeatureCollection", "features": []} if it has no '
                             "features")
        if self._lazy:
            return GeoPackageTable(self._filepath, self._layer)
        try:
            self._check_one_layer()
            with warnings.catch_warnings():  # GDAL's note on an unclosed ring: reported by feature instead
                warnings.filterwarnings("ignore", message="Non closed ring detected", category=RuntimeWarning)
                try:
                    frame = gpd.read_file(self._filepath, layer=self._layer, engine="pyogrio", **self._load_args)
                except shapely.errors.GEOSException:  # a feature's geometry cannot even be built
                    frame = self._read_marking_malformed()
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
            detail = str(err).splitlines()[0].split("; It might help")[0]  # GDAL's driver hint does not apply
            raise InputError(f"{self._filepath}: cannot read as a vector file ({detail}); check it is a "
                             "complete GeoJSON or GeoPackage file") from None
        frame.attrs["source"] = str(self._filepath)  # lets later steps name the file in their messages
        return frame

    def _check_one_layer(self) -> None:
        """Refuse to guess: with several layers and none named, GDAL would read the first and lose the rest."""
        if self._layer is not None:
            return
        # tables without geometry (a QGIS style table: layer_styles) are not layers to choose from
        layers = [str(name) for name, geometry in pyogrio.list_layers(self._filepath) if geometry is not None]
        if len(layers) > 1:
            raise InputError(f"{self._filepath}: holds {len(layers)} layers ({', '.join(layers)}); name the one "
                             "to read with layer: in its catalog entry (conf/base/catalog.yml), or merge them "
                             "into one layer")

    def _read_marking_malformed(self) -> gpd.GeoDataFrame:
        """The layer with a null geometry for each feature whose geometry is malformed (e.g. a ring that does
        not close), and ``attrs["malformed"]``: position -> GEOS's reason, for the label report."""
        meta, _, wkb, fields = read_raw(self._filepath, layer=self._layer, **self._load_args)
        geometry = shapely.from_wkb(wkb, on_invalid="ignore")
        malformed = {}
        for position in np.flatnonzero(np.equal(geometry, None) & np.not_equal(wkb, None)):
            try:
                shapely.from_wkb(wkb[position])
            except shapely.errors.GEOSException as err:
                malformed[int(position)] = str(err).split(": ", 1)[-1]
        frame = gpd.GeoDataFrame(dict(zip(meta["fields"], fields)), geometry=geometry, crs=meta["crs"])
        frame.attrs["malformed"] = malformed
        return frame

    def save(self, data: gpd.GeoDataFrame) -> None:
        data = _with_plain_columns(data)
        with atomic_path(self._filepath) as tmp:  # the layer is named after the target, not the temp file
            data.to_file(tmp, layer=self._layer or self._filepath.stem, engine="pyogrio",
                         driver=detect_write_driver(str(self._filepath)), **self._save_args)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "layer": self._layer, "lazy": self._lazy}

    def preview(self, nrows: int = 20) -> TablePreview:
        """The first rows as a table for kedro-viz, geometry shown as WKT."""
        frame = gpd.read_file(self._filepath, layer=self._layer, engine="pyogrio", max_features=nrows)
        frame = pd.DataFrame(frame).assign(geometry=frame.geometry.to_wkt(rounding_precision=2))
        return TablePreview(frame.to_dict(orient="split"))


def _with_plain_columns(data: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Lists and dicts (tile ids, scores) cannot be stored in a GeoPackage column: store them as JSON text."""
    import json

    data = data.copy()
    for column in data.columns:
        if column != data.geometry.name and data[column].map(lambda v: isinstance(v, (list, dict))).any():
            data[column] = data[column].map(json.dumps)
    return data
