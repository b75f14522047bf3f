"""Catalogue of bad inputs: what a user can get wrong, and what the project does about each.

Every case is one test: it builds a real bad input (GeoTIFFs written by rasterio, label files by geopandas,
weights by safetensors) in the test's temp dir, feeds it to the code that consumes it in a real run (a
dataset's ``load``, a node function, or a whole ``kedro run`` on a project copy), and checks the outcome:

* ``Raises``: the run stops with one of our exceptions (``InputError``, ``WeightsError``,
  ``NonFiniteLossError``; Kedro's ``DatasetError`` only where Kedro itself finds the problem, never a
  library's), whose message is ONE line naming the file, feature or setting and what to do; a ``kedro run``
  that stops leaves none of its outputs behind;
* ``Handled``: the input is used, and what was done to it is reported (label_report.csv rows, a log line).

docs/bad_inputs.md is generated from the same table, so the two cannot drift apart. Regenerate it with::

    .venv/bin/python -m tests.test_bad_inputs > docs/bad_inputs.md
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from kedro.io import DatasetError
from rasterio.control import GroundControlPoint
from rasterio.errors import NotGeoreferencedWarning
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from footprints.datasets.raster import GeoTIFFDataset
from footprints.datasets.vector import VectorFileDataset
from footprints.errors import InputError, ParameterError
from footprints.model import NonFiniteLossError, WeightsError
from footprints.pipelines.labels.nodes import clean_labels
from footprints.pipelines.preprocessing.nodes import tile_images
from tests.conftest import PROJECT, project_params, run_kedro, write_raster

DOC = PROJECT / "docs/bad_inputs.md"
REGENERATE = ".venv/bin/python -m tests.test_bad_inputs > docs/bad_inputs.md"

UTM = "EPSG:32737"  # write_raster's grid: 0.5 m pixels, top-left corner at (532850, 9366850)
X0, Y0 = 532850.0, 9366850.0
TILING = {**project_params("preprocessing"), "tile_size": 128, "overlap": 16}
LABELS = project_params("labels")


# ---------------------------------------------------------------------------------------------- the table

@dataclass(frozen=True)
class Raises:
    """The run stops with ``error``: one line matching ``match`` that contains ``names`` verbatim."""

    error: type[Exception]
    match: str
    names: str  # the file / feature / setting the message must name
    leaves_nothing: tuple[str, ...] = ()  # project-relative globs that must match no file afterwards

    @property
    def kind(self) -> str:
        return f"**stops** (`{self.error.__name__}`)"


@dataclass(frozen=True)
class Handled:
    """The input is used; ``check`` asserts what was done with it, ``log`` a line that says so."""

    check: Callable[[Any], None] = lambda result: None
    log: str | None = None

    @property
    def kind(self) -> str:
        return "**handled**"


@dataclass(frozen=True)
class BadInput:
    """One bad input: what the user gave, what happens (both for the docs), how to build and run it."""

    id: str
    given: str  # user-facing: what the user gave
    behaviour: str  # user-facing: what happens and what to do
    make: Callable[[Context], Any]  # writes the bad input, returns what ``run`` needs
    run: Callable[[Any], Any]  # the real code path that consumes it
    expect: Raises | Handled


@dataclass
class Context:
    """What a case's ``make`` gets: its temp dir and, on demand, a project copy for ``kedro run``."""

    tmp: Path
    request: pytest.FixtureRequest
    _project: Path | None = field(default=None, repr=False)

    @property
    def made_project(self) -> bool:
        return self._project is not None

    def project(self) -> Path:
        """A project copy with an initialised MLflow store (so ``kedro run`` does not migrate a new one)."""
        if self._project is None:
            root = self.request.getfixturevalue("project_copy")
            shutil.copy(self.request.getfixturevalue("mlflow_store"), root / "mlflow.db")
            self._project = root
        return self._project


# ------------------------------------------------------------------------------------ builders: rasters

def written(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def png_named_tif(path: Path) -> Path:
    with warnings.catch_warnings(action="ignore", category=NotGeoreferencedWarning), \
            rasterio.open(path, "w", driver="PNG", width=64, height=64, count=3, dtype="uint8") as dst:
        dst.write(np.full((3, 64, 64), 90, np.uint8))
    return path


def truncated(path: Path) -> Path:
    whole = write_raster(path, width=512, height=512).read_bytes()
    path.write_bytes(whole[: len(whole) // 3])
    return path


def damaged_block(path: Path) -> Path:
    """A tiled, deflate-compressed GeoTIFF whose last block is zeroed: it opens and its last pixel reads (the
    block holding it is another), only decoding that block fails."""
    profile = {"driver": "GTiff", "width": 256, "height": 256, "count": 3, "dtype": "uint8", "crs": UTM,
               "transform": Affine(0.5, 0, X0, 0, -0.5, Y0), "tiled": True, "blockxsize": 128,
               "blockysize": 128, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.random.default_rng(0).integers(0, 255, (3, 256, 256), dtype=np.uint8))
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_1", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_0_1", "TIFF", bidx=1))
    data = bytearray(path.read_bytes())
    data[offset + 2: offset + size - 2] = bytes(size - 4)
    path.write_bytes(bytes(data))
    return path


def two_layers(path: Path) -> Path:
    for layer in ("buildings", "roads"):
        gpd.GeoDataFrame({"condition": ["Complete"]}, geometry=[building(10, 10)], crs=UTM).to_file(
            path, layer=layer, engine="pyogrio")
    return path


def without_geotransform(path: Path, gcps: bool = False) -> Path:
    """A GeoTIFF in pixel coordinates; with ``gcps``, placed on the map by ground control points only."""
    points = [GroundControlPoint(row, col, X0 + col / 2, Y0 - row / 2) for row in (0, 64) for col in (0, 64)]
    extra = {"gcps": points, "crs": UTM} if gcps else {"crs": UTM}
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 3, "dtype": "uint8", **extra}
    with warnings.catch_warnings(action="ignore", category=NotGeoreferencedWarning), \
            rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((3, 64, 64), 90, np.uint8))
    return path


def load_raster(path: Path):
    return GeoTIFFDataset(filepath=str(path)).load()


def tile(path: Path, **params):
    """``tile_images`` as the preprocessing node runs it, on one image, no tiles yet; returns (tiles, index)."""
    return tile_images({path.stem: GeoTIFFDataset(filepath=str(path), lazy=True).load}, {}, {**TILING, **params})


def tiles_like(count: int, dtype: str, n_tiles: int):
    """Check: ``n_tiles`` tiles that keep the raster's band count and data type."""
    def check(result):
        tiles, index = result
        assert len(index) == len(tiles) == n_tiles
        arrays = [load().array for load in tiles.values()]
        assert {a.shape for a in arrays} == {(count, 128, 128)}
        assert {a.dtype for a in arrays} == {np.dtype(dtype)}
    return check


def one_padded_tile(result):
    tiles, index = result
    (load,) = tiles.values()
    raster = load()
    assert len(index) == 1 and raster.array.shape == (3, 128, 128)
    assert (raster.mask[:40, :50] == 255).all() and (raster.mask[40:, :] == 0).all()  # padding is nodata


def tile_all(paths: list[Path]):
    """``tile_images`` on several images at once, as the preprocessing node runs it."""
    images = {path.stem: GeoTIFFDataset(filepath=str(path), lazy=True).load for path in paths}
    return tile_images(images, {}, TILING)


def only_good_tiles(result):
    tiles, index = result
    assert len(tiles) == len(index) == 6 and set(index.image_id) == {"good"}


# ------------------------------------------------------------------------------------- builders: labels

def building(x: float, y: float, size: float = 5.0) -> Polygon:
    """A square building ``(x, y)`` metres from the raster's top-left corner (y counts downwards)."""
    return box(X0 + x, Y0 - y - size, X0 + x + size, Y0 - y)


def bow_tie(x: float, y: float) -> Polygon:
    return Polygon([(X0 + x, Y0 - y), (X0 + x + 6, Y0 - y - 6), (X0 + x + 6, Y0 - y), (X0 + x, Y0 - y - 6)])


def write_labels(path: Path, features: list[tuple[Any, Any]], crs: str | None = UTM) -> Path:
    """A real label file (driver from the suffix) of ``(geometry, condition)`` features in ``crs``."""
    frame = gpd.GeoDataFrame({"condition": [c for _, c in features]}, geometry=[g for g, _ in features],
                             crs=UTM)
    if crs is None:
        frame = frame.set_crs(None, allow_override=True)
    elif crs != UTM:
        frame = frame.to_crs(crs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        frame.to_file(path, engine="pyogrio")
    return path


def grid_index(tmp: Path) -> gpd.GeoDataFrame:
    """The tile index of a 300 x 200 px raster (150 m x 100 m), as the labels pipeline gets it."""
    return tile(write_raster(tmp / "grid.tif"))[1]


def labels_case(id: str, given: str, behaviour: str, expect: Raises | Handled,
                features: list[tuple[Any, Any]] | None = None, crs: str | None = UTM,
                suffix: str = ".geojson", params: dict[str, Any] | None = None, text: str | None = None
                ) -> BadInput:
    """A label file (``features``, or raw ``text``) cleaned by the labels node against a real tile index."""
    def make(ctx: Context):
        path = ctx.tmp / f"labels{suffix}"
        if text is not None:
            path.write_text(text)
        else:
            write_labels(path, features, crs)
        return path, grid_index(ctx.tmp)

    def run(made):
        path, index = made
        return clean_labels(VectorFileDataset(filepath=str(path)).load(), index, {**LABELS, **(params or {})})

    return BadInput(id, given, behaviour, make, run, expect)


def reported(rows: list[tuple[int, str, str]], kept: list[int] | None = None):
    """Check: the report is exactly ``rows`` (source_fid, problem regex, action), the labels ``kept`` fids."""
    def check(result):
        labels, report = result
        got = list(zip(report.source_fid, report.problem, report.action))
        assert len(got) == len(rows), got
        for (fid, problem, action), (want_fid, want_problem, want_action) in zip(got, rows):
            assert fid == want_fid and re.fullmatch(want_problem, problem) and action == want_action, got
        if kept is not None:
            assert list(labels.source_fid) == kept
        assert labels.geometry.is_valid.all() and set(labels.geom_type) <= {"Polygon"}
    return check


def reprojected_to_utm(result):
    labels, report = result  # kept in their CRS; each image's query transforms them
    assert report.empty
    assert labels.to_crs(UTM).geometry[0].symmetric_difference(building(10, 10)).area < 1e-3


def measured_in_utm_37s(result):
    _, index = result
    assert len(index) and set(index.metric_crs) == {"EPSG:32737"} and set(index["crs"]) == {"EPSG:4326"}


# ---------------------------------------------------------------------------- builders: kedro project runs

def project_images(ctx: Context, *bad: Callable[[Path], Path], good: bool = True) -> Path:
    """The project copy with its raw images replaced by a small good raster (if ``good``) and the bad ones."""
    root = ctx.project()
    images = root / "data/01_raw/images"
    for old in images.iterdir():
        old.unlink()
    if good:
        write_raster(images / "good.tif")
    for builder in bad:
        builder(images)
    return root


def project_with_labels(ctx: Context, write: Callable[[Path], Any]) -> Path:
    """One small raster, and the raw label file (same name as in the catalog) written by ``write``."""
    root = project_images(ctx)
    write(root / "data/01_raw/labels/tanzania_sample.geojson")
    return root


def kedro(*pipelines: str, params: dict[str, Any] | None = None) -> Callable[[Path], Path]:
    """``kedro run --pipelines ...`` through a real KedroSession on the project copy; returns its root."""
    def run(root: Path) -> Path:
        run_kedro(root, list(pipelines), params=params)
        return root
    run.slow = True  # a whole KedroSession: left out by `pytest -m "not slow"`
    return run


TILE_OUTPUTS = ("data/02_intermediate/tiles/*", "data/02_intermediate/tile_index.gpkg")
LABEL_OUTPUTS = ("data/03_primary/*", "data/08_reporting/label_report.csv", "data/05_model_input/*")


def nothing_labelled(root: Path):
    report = pd.read_csv(root / "data/08_reporting/label_report.csv")
    assert len(report) == 3 and set(report.problem) == {"outside every raster"}
    split = pd.read_csv(root / "data/05_model_input/tile_split.csv")
    assert len(split) and set(split.split) == {"unlabelled"}


# ---------------------------------------------------------------------------------- builders: the model

def weights_for_classes(path: Path, num_classes: int) -> Path:
    from footprints.model import build_model, save_weights

    model = build_model("maskrcnn_resnet50_fpn", num_classes=num_classes, tile_size=64, pretrained="none")
    save_weights(model, path)
    return path


def build_from(path: Path):
    from footprints.model import build_model

    return build_model("maskrcnn_resnet50_fpn", tile_size=64, pretrained="none", weights_path=path)


def load_weights_file(path: Path):
    from footprints.datasets.weights import ModelWeightsDataset

    return ModelWeightsDataset(filepath=str(path)).load()


def float_tile_with_inf(tmp: Path) -> Path:
    """A float32 tile with one building and a patch of +inf pixels (a ratio band divided by zero)."""
    pixels = np.full((3, 64, 64), 40.0, np.float32)
    pixels[:, 10:40, 10:40] = 200.0
    pixels[:, 50:54, 50:54] = np.inf
    return write_raster(tmp / "ratio.tif", width=64, height=64, dtype="float32", fill=pixels)


def _constant(value):
    return value


def train_one_step(path: Path):
    """One training step of a small Mask R-CNN on the tile, fed as the training pipeline feeds it."""
    import torch

    from footprints.model import TileDataset, TileSample, build_model, collate_fn, train_one_epoch
    from footprints.tile_data import NODATA, tile_pixels

    torch.manual_seed(0)
    masks = np.zeros((1, 64, 64), np.uint8)
    masks[0, 10:40, 10:40] = 1
    sample = TileSample(path.stem, functools.partial(tile_pixels, functools.partial(load_raster, path)),
                        functools.partial(_constant, (masks, np.array([1]))), NODATA)
    dataset = TileDataset([sample], [1, 2, 3], [123.7, 116.3, 103.5], [58.4, 57.1, 57.4])
    model = build_model("maskrcnn_resnet50_fpn", tile_size=64, pretrained="none")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.005)
    batches = [collate_fn([dataset[0]])]
    return train_one_epoch(model, optimizer, batches, torch.device("cpu"), epoch=1, progress=False)



# --------------------------------------------------------------------- builders: run state and settings

def tiff_spellings(folder: Path) -> None:
    """Beside good.tif: GeoTIFFs named .TIF and .tiff, and a file that is no image at all."""
    write_raster(folder / "upper.TIF")
    write_raster(folder / "long.tiff")
    (folder / "notes.txt").write_text("flight notes")


def three_images_tiled(root: Path):
    index = gpd.read_file(root / "data/02_intermediate/tile_index.gpkg")
    assert set(index.image_id) == {"good", "upper", "long"}


def damaged_mlflow_store(ctx: Context) -> Path:
    root = project_images(ctx)
    store = root / "mlflow.db"
    store.write_bytes(store.read_bytes()[:50_000])  # a copy or disk that stopped half-way
    return root


def run_lock_held(ctx: Context) -> Path:
    """Another ``kedro run`` (here: a process that holds the project's run lock) is under way."""
    import subprocess
    import sys

    root = project_images(ctx)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    ctx.request.addfinalizer(holder.kill)
    return root


HOLD_LOCK = """import sys, time
from pathlib import Path
from footprints.hooks.project_checks import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def masks_without_manifest(ctx: Context) -> Path:
    """What a run killed while writing instance masks leaves: some .npz files, no manifest."""
    from footprints.datasets.masks import InstanceMasks, InstanceMasksDataset

    folder = ctx.tmp / "instance_masks"
    for tile_id in ("a_r0_c0", "a_r0_c1"):
        InstanceMasksDataset(filepath=str(folder / f"{tile_id}.npz")).save(
            InstanceMasks(np.ones((1, 8, 8), np.uint8), np.array([1]), np.array([1])))
    return folder


def masks_with_changed_member(ctx: Context) -> Path:
    """A complete set, then one member overwritten by something else (a second writer, a restore...)."""
    folder = ctx.tmp / "instance_masks"
    dataset = mask_folder(folder)
    from footprints.datasets.masks import InstanceMasks

    dataset.save({t: InstanceMasks(np.ones((1, 8, 8), np.uint8), np.array([1]), np.array([1]))
                  for t in ("a_r0_c0", "a_r0_c1")})
    (folder / "a_r0_c1.npz").write_bytes(b"not the mask that was written")
    return folder


def mask_folder(folder: Path):
    from footprints.datasets.partitions import ManifestPartitionsDataset

    return ManifestPartitionsDataset(path=str(folder), filename_suffix=".npz",
                                     dataset="footprints.datasets.masks.InstanceMasksDataset")


def load_masks(folder: Path):
    return mask_folder(folder).load()


def postgis_con(password: str) -> Callable[[Context], dict[str, Any]]:
    def make(ctx: Context) -> dict[str, Any]:
        return {"con": f"postgresql+psycopg2://someone:{password}@127.0.0.1:5432/labels_db"}
    return make


def postgis_dataset(credentials: dict[str, Any]):
    from footprints.datasets.postgis import PostGISTableDataset

    return PostGISTableDataset(table="labels", credentials=credentials)


def numbered_classes(result):
    labels, report = result
    assert report.empty and list(labels.class_name) == ["complete", "incomplete", "foundation"]


NUMBERED = {"classes": {1: "complete", 2: "incomplete", 3: "foundation"}}


# ------------------------------------------------------------------------------------------------ cases

CASES: list[BadInput] = [
    # --- raw images ---------------------------------------------------------------------------------
    BadInput(
        "png_named_tif",
        "a PNG (or JPEG...) among the raw images, saved with a `.tif` name",
        "`kedro run` ends before any tile is written: `<file>: is a PNG file, not a GeoTIFF; convert it with "
        "gdal_translate`",
        lambda ctx: project_images(ctx, lambda folder: png_named_tif(folder / "scan.tif")),
        kedro("preprocessing"),
        Raises(InputError, r"scan\.tif: is a PNG file, not a GeoTIFF; convert it with gdal_translate$",
               "scan.tif", leaves_nothing=TILE_OUTPUTS)),
    BadInput(
        "text_named_tif",
        "a file that is no image at all with a `.tif` name (e.g. a saved HTML error page)",
        "`<file>: cannot read as a GeoTIFF (... not recognized as being in a supported file "
        "format.); check the file is a complete GeoTIFF`",
        lambda ctx: written(ctx.tmp / "download.tif", b"<html>403 Forbidden</html>"),
        load_raster,
        Raises(InputError, r"download\.tif: cannot read as a GeoTIFF \(.*not recognized.*\); check the file "
               r"is a complete GeoTIFF$", "download.tif")),
    BadInput(
        "truncated_geotiff",
        "a GeoTIFF cut short (interrupted copy or download) among the raw images",
        "`kedro run` ends before any tile is written: `<file>: pixel data cannot be read, the file is "
        "truncated or corrupt (...); copy or export it again`",
        lambda ctx: project_images(ctx, lambda folder: truncated(folder / "cut.tif")),
        kedro("preprocessing"),
        Raises(InputError, r"cut\.tif: pixel data cannot be read, the file is truncated or corrupt \(.+\); "
               r"copy or export it again$", "cut.tif", leaves_nothing=TILE_OUTPUTS)),
    BadInput(
        "raster_without_crs",
        "a GeoTIFF with a geotransform but no CRS",
        "`<file>: raster has no CRS; assign one (gdal_edit.py -a_srs EPSG:XXXX) and re-run`",
        lambda ctx: write_raster(ctx.tmp / "nocrs.tif", crs=None),
        load_raster,
        Raises(InputError, r"nocrs\.tif: raster has no CRS; assign one \(gdal_edit\.py -a_srs EPSG:XXXX\)",
               "nocrs.tif")),
    BadInput(
        "raster_in_degrees",
        "a GeoTIFF in a geographic CRS (EPSG:4326, degrees)",
        "tiled in its own CRS, pixels untouched; lengths and areas measured in the UTM zone of its centre "
        "(`metric_crs` in the tile index); nothing to do",
        lambda ctx: write_raster(ctx.tmp / "degrees.tif", crs="EPSG:4326",
                                 transform=rasterio.Affine(1e-6, 0, 39.3, 0, -1e-6, -5.72)),
        lambda path: tile(path),
        Handled(measured_in_utm_37s)),
    BadInput(
        "raster_without_geotransform",
        "a GeoTIFF in pixel coordinates only (no geotransform)",
        "`<file>: raster has no geotransform (pixel coordinates only); georeference it "
        "(gdal_translate -a_ullr / gdalwarp) first`",
        lambda ctx: without_geotransform(ctx.tmp / "pixels.tif"),
        load_raster,
        Raises(InputError, r"pixels\.tif: raster has no geotransform .*; georeference it", "pixels.tif")),
    BadInput(
        "raster_with_gcps_only",
        "a GeoTIFF placed on the map by ground control points only",
        "`<file>: raster is georeferenced by ground control points only; warp it to a "
        "north-up grid (gdalwarp -t_srs EPSG:XXXX) first`",
        lambda ctx: without_geotransform(ctx.tmp / "gcps.tif", gcps=True),
        load_raster,
        Raises(InputError, r"gcps\.tif: raster is georeferenced by ground control points only; warp it",
               "gcps.tif")),
    BadInput(
        "rotated_raster",
        "a GeoTIFF whose geotransform has rotation terms",
        "`<file>: raster has rotation terms in its geotransform; warp it to a north-up grid "
        "(gdalwarp) first`",
        lambda ctx: write_raster(ctx.tmp / "rotated.tif", transform=Affine(0.5, 0.1, X0, 0.1, -0.5, Y0)),
        load_raster,
        Raises(InputError, r"rotated\.tif: raster has rotation terms in its geotransform; warp it",
               "rotated.tif")),
    BadInput(
        "one_band_raster",
        "a 1-band (panchromatic) GeoTIFF",
        "tiled like any other: 1-band tiles of the same data type; to train on it set `training.bands: [1]` "
        "and one `mean`/`std` value",
        lambda ctx: write_raster(ctx.tmp / "pan.tif", count=1),
        tile,
        Handled(tiles_like(1, "uint8", 6))),
    BadInput(
        "four_band_raster",
        "a 4-band (RGB + near-infrared) GeoTIFF",
        "tiled like any other: 4-band tiles; `training.bands` picks the bands the model sees",
        lambda ctx: write_raster(ctx.tmp / "rgbn.tif", count=4),
        tile,
        Handled(tiles_like(4, "uint8", 6))),
    BadInput(
        "uint16_raster",
        "a 16-bit (uint16) GeoTIFF",
        "tiled like any other: uint16 tiles, pixel values kept; set `training.mean`/`std` in raw pixel units",
        lambda ctx: write_raster(ctx.tmp / "deep.tif", dtype="uint16"),
        tile,
        Handled(tiles_like(3, "uint16", 6))),
    BadInput(
        "all_nodata_raster",
        "a GeoTIFF that holds nothing but nodata",
        "the image gives no tiles and a warning: `<file>: no tile has 2% valid pixels; the image is skipped`; "
        "the other images are tiled",
        lambda ctx: [write_raster(ctx.tmp / "blank.tif", nodata=0, fill=np.zeros((3, 200, 300), np.uint8)),
                     write_raster(ctx.tmp / "good.tif")],
        tile_all,
        Handled(only_good_tiles, log=r"blank\.tif: no tile has 2% valid pixels; the image is skipped")),
    BadInput(
        "nothing_tiled",
        "raw images none of which gives a tile (all nodata, or a nodata value that covers everything)",
        "the run stops before any tile is written: `none of the 1 raw images gave a tile with 2% valid pixels; "
        "check their nodata value, or lower preprocessing.min_valid_fraction`",
        lambda ctx: write_raster(ctx.tmp / "blank.tif", nodata=0, fill=np.zeros((3, 200, 300), np.uint8)),
        tile,
        Raises(InputError, r"^none of the 1 raw images gave a tile with 2% valid pixels; check their nodata "
               r"value, or lower preprocessing\.min_valid_fraction$", "preprocessing.min_valid_fraction")),
    BadInput(
        "raster_smaller_than_a_tile",
        "a GeoTIFF smaller than one tile",
        "one tile, padded with nodata past the image edge (the padding is masked out of training and "
        "metrics)",
        lambda ctx: write_raster(ctx.tmp / "small.tif", width=50, height=40),
        tile,
        Handled(one_padded_tile)),
    BadInput(
        "no_raw_images",
        "no GeoTIFF at all in `data/01_raw/images`",
        "`kedro run` ends before anything is written: `No partitions found in '<folder>'` (Kedro's own "
        "message: put GeoTIFFs there)",
        lambda ctx: project_images(ctx, good=False),
        kedro("preprocessing"),
        Raises(DatasetError, r"No partitions found in '.*data/01_raw/images'", "data/01_raw/images",
               leaves_nothing=TILE_OUTPUTS)),
    # --- tiling settings ----------------------------------------------------------------------------
    BadInput(
        "overlap_equal_to_tile_size",
        "`preprocessing.overlap` equal to `preprocessing.tile_size` (e.g. `--params "
        "preprocessing.overlap=512`)",
        "`kedro run` refuses it before any work: `parameter preprocessing.overlap: 512 is not allowed; use an "
        "integer >= 0 and smaller than preprocessing.tile_size (...)`",
        lambda ctx: project_images(ctx),
        kedro("preprocessing", params={"preprocessing": {"overlap": 512}}),
        Raises(ParameterError, r"^parameter preprocessing\.overlap: 512 is not allowed; use an integer >= 0 and "
               r"smaller than preprocessing\.tile_size", "preprocessing.overlap", leaves_nothing=TILE_OUTPUTS)),
    BadInput(
        "overlap_larger_than_tile_size",
        "`preprocessing.overlap` larger than `preprocessing.tile_size`",
        "before any pixel is read: `preprocessing.overlap (200) must be smaller than preprocessing.tile_size (128); set ...`",
        lambda ctx: write_raster(ctx.tmp / "image.tif"),
        lambda path: tile(path, overlap=200),
        Raises(InputError, r"^preprocessing\.overlap \(200\) must be smaller than preprocessing\.tile_size \(128\); set ", "overlap")),
    BadInput(
        "tile_size_zero",
        "`preprocessing.tile_size: 0`",
        "before any pixel is read: `preprocessing.tile_size must be a positive integer of pixels, got 0; set ...`",
        lambda ctx: write_raster(ctx.tmp / "image.tif"),
        lambda path: tile(path, tile_size=0, overlap=0),
        Raises(InputError, r"^preprocessing\.tile_size must be a positive integer of pixels, got 0; set ", "tile_size")),
    BadInput(
        "negative_overlap",
        "a negative `preprocessing.overlap`",
        "before any pixel is read: `preprocessing.overlap must be an integer >= 0 pixels, got -8; set ...`",
        lambda ctx: write_raster(ctx.tmp / "image.tif"),
        lambda path: tile(path, overlap=-8),
        Raises(InputError, r"^preprocessing\.overlap must be an integer >= 0 pixels, got -8; set ", "overlap")),
    # --- labels -------------------------------------------------------------------------------------
    labels_case(
        "labels_in_another_crs",
        "labels in another CRS than the rasters (e.g. a plain WGS84 GeoJSON)",
        "kept in their CRS and clipped per image in the image's CRS; nothing to do",
        Handled(reprojected_to_utm),
        features=[(building(10, 10), "Complete")], crs="EPSG:4326"),
    labels_case(
        "labels_without_crs",
        "a label file without a CRS (e.g. a GeoPackage with an undefined SRS, a shapefile without `.prj`)",
        "`<file>: labels have no CRS; add one to the file or set labels.assume_crs (e.g. EPSG:4326) in "
        "conf/base/parameters_labels.yml`",
        Raises(InputError, r"labels\.gpkg: labels have no CRS; add one to the file or set labels\.assume_crs",
               "labels.assume_crs"),
        features=[(building(10, 10), "Complete")], crs=None, suffix=".gpkg"),
    labels_case(
        "invalid_geometry",
        "a self-intersecting (bow-tie) polygon",
        "repaired with `make_valid`, every piece kept; a label_report.csv row `invalid geometry: "
        "Self-intersection[...]`, action `repaired with make_valid`",
        Handled(reported([(0, r"invalid geometry: Self-intersection\[.*\]", "repaired with make_valid")],
                         kept=[0, 0, 1])),
        features=[(bow_tie(10, 10), "Complete"), (building(30, 10), "Complete")]),
    labels_case(
        "empty_geometry",
        "a feature with an empty geometry",
        "dropped; a label_report.csv row `empty geometry`, action `dropped`",
        Handled(reported([(0, "empty geometry", "dropped")], kept=[1])),
        features=[(Polygon(), "Complete"), (building(30, 10), "Complete")], suffix=".gpkg"),
    labels_case(
        "null_geometry",
        "a feature with a null geometry",
        "dropped; a label_report.csv row `null geometry`, action `dropped`",
        Handled(reported([(0, "null geometry", "dropped")], kept=[1])),
        features=[(None, "Complete"), (building(30, 10), "Complete")]),
    labels_case(
        "multipolygon",
        "a MultiPolygon feature (several buildings in one feature)",
        "split into one building per part (each keeps the feature's `source_fid`); the log says `labels: 1 "
        "multi-part features split into 2 buildings`",
        Handled(reported([], kept=[0, 0, 1]), log=r"1 multi-part features split into 2 buildings"),
        features=[(MultiPolygon([building(10, 10), building(30, 10)]), "Complete"),
                  (building(50, 10), "Complete")]),
    labels_case(
        "points_and_lines_among_polygons",
        "points or lines among the polygons",
        "dropped; a label_report.csv row `not a polygon (Point)` / `not a polygon (LineString)`, action "
        "`dropped`",
        Handled(reported([(1, r"not a polygon \(Point\)", "dropped"),
                          (2, r"not a polygon \(LineString\)", "dropped")], kept=[0])),
        features=[(building(10, 10), "Complete"), (Point(X0 + 40, Y0 - 10), "Complete"),
                  (LineString([(X0 + 50, Y0 - 10), (X0 + 60, Y0 - 20)]), "Complete")]),
    labels_case(
        "unknown_class",
        "a class value that `labels.classes` does not list (e.g. `condition: Ruin`)",
        "dropped (or mapped to the class `labels.unknown_class` names); a label_report.csv row "
        "`unknown condition 'Ruin'`",
        Handled(reported([(1, "unknown condition 'Ruin'", "dropped")], kept=[0])),
        features=[(building(10, 10), "Complete"), (building(30, 10), "Ruin")]),
    labels_case(
        "missing_class",
        "a feature without a class value",
        "dropped (or mapped to the class `labels.unknown_class` names); a label_report.csv row "
        "`missing condition`",
        Handled(reported([(1, "missing condition", "mapped to incomplete")], kept=[0, 1])),
        features=[(building(10, 10), "Complete"), (building(30, 10), None)],
        params={"unknown_class": "incomplete"}),
    labels_case(
        "class_attribute_absent",
        "labels whose class property has another name than `labels.class_attribute`",
        "a warning names the file and the properties it has, and the run stops as no feature is kept: "
        "`<file>: none of its 1 features was kept (1 x missing condition -> dropped); fix the file, or "
        "labels.class_attribute / labels.classes in conf/base/parameters_labels.yml`",
        Raises(InputError, r"labels\.geojson: none of its 1 features was kept \(1 x missing condition -> "
               r"dropped\); fix the file, or labels\.class_attribute / labels\.classes", "class_attribute"),
        text='{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"status": '
             '"Complete"}, "geometry": {"type": "Polygon", "coordinates": [[[39.3, -5.7], [39.3001, -5.7], '
             '[39.3001, -5.7001], [39.3, -5.7]]]}}]}'),
    labels_case(
        "numeric_class_codes",
        "class codes stored as numbers (`condition: 1.0` in a GeoPackage, `1` or `\"1\"` in GeoJSON) with "
        "`labels.classes: {1: complete, 2: incomplete, 3: foundation}`",
        "matched by value whatever their type: `1`, `1.0` and `\"1\"` all match the key `1`",
        Handled(numbered_classes),
        features=[(building(10, 10), 1.0), (building(30, 10), 2.0), (building(50, 10), 3.0)],
        suffix=".gpkg", params=NUMBERED),
    labels_case(
        "no_class_matches",
        "class values none of which `labels.classes` lists (e.g. codes when the settings name words)",
        "the run stops before the label database is written: `<file>: none of its 2 features was kept "
        "(2 x unknown condition ... -> dropped); fix the file, or labels.class_attribute / labels.classes ...`",
        Raises(InputError, r"labels\.geojson: none of its 2 features was kept \(.*unknown condition 7.*\); "
               r"fix the file, or labels\.class_attribute / labels\.classes", "labels.classes"),
        features=[(building(10, 10), 7), (building(30, 10), 8)]),
    labels_case(
        "some_labels_dropped",
        "some features dropped or repaired (unknown class, invalid geometry...)",
        "each gets a label_report.csv row, and one WARNING names the file with the counts: `<file>: 2 "
        "features in, 1 polygons kept; 1 x unknown condition 'Ruin' -> dropped; ...`",
        Handled(reported([(1, "unknown condition 'Ruin'", "dropped")], kept=[0]),
                log=r"WARNING.*labels\.geojson: 2 features in, 1 polygons kept; 1 x unknown condition 'Ruin' "
                    r"-> dropped"),
        features=[(building(10, 10), "Complete"), (building(30, 10), "Ruin")]),
    labels_case(
        "unknown_class_setting",
        "`labels.unknown_class` (or a `labels.classes` value) naming a class the model does not have",
        "`labels.classes / labels.unknown_class name ['ruin']: use one of ['complete', 'incomplete', "
        "'foundation'] or 'drop'`",
        Raises(InputError, r"^labels\.classes / labels\.unknown_class name \['ruin'\]: use one of",
               "unknown_class"),
        features=[(building(10, 10), None)], params={"unknown_class": "ruin"}),
    BadInput(
        "empty_label_file",
        "a 0-byte label file",
        "`kedro run` ends before the label database or report is written: `<file>: cannot read as a vector "
        'file: it is empty (0 bytes); export it again, or write {"type": "FeatureCollection", "features": '
        '[]} if it has no features`',
        lambda ctx: project_with_labels(ctx, lambda path: path.write_bytes(b"")),
        kedro("preprocessing", "labels"),
        Raises(InputError, r"tanzania_sample\.geojson: cannot read as a vector file: it is empty \(0 bytes\)",
               "tanzania_sample.geojson", leaves_nothing=LABEL_OUTPUTS)),
    labels_case(
        "empty_feature_collection",
        "a label file with no features (an empty FeatureCollection)",
        "every tile is unlabelled (negatives, or new imagery for inference); a warning says `the label file "
        "holds no features`",
        Handled(reported([], kept=[]), log="the label file holds no features"),
        text='{"type": "FeatureCollection", "features": []}'),
    labels_case(
        "labels_outside_every_raster",
        "some labels that touch no raster",
        "stored in the label database but unused; a label_report.csv row `outside every raster`, action "
        "`stored, unused`",
        Handled(reported([(1, "outside every raster", "stored, unused")], kept=[0, 1])),
        features=[(building(10, 10), "Complete"), (building(1000, 10), "Complete")]),
    BadInput(
        "labels_and_rasters_do_not_overlap",
        "a label file and rasters that do not overlap at all (wrong area, or a wrong CRS)",
        "every label gets an `outside every raster` row, every tile is `unlabelled` in tile_split.csv, and "
        "a warning says `no label touches any raster: check that labels and images cover the same area and "
        "that the label CRS is right`",
        lambda ctx: project_with_labels(ctx, lambda path: write_labels(
            path, [(building(5000 + 20 * i, 10), "Complete") for i in range(3)], "EPSG:4326")),
        kedro("preprocessing", "labels"),
        Handled(nothing_labelled, log=r"no label touches any raster: check that labels and images cover the "
                                      r"same area and that the label CRS is right")),
    BadInput(
        "single_small_labelled_image",
        "one small labelled image (300 x 200 px, or 600 x 600 at the default tile size): too few tiles to "
        "hold out validation tiles that share no pixel with training",
        "the run stops before the label database, masks or report are written: `labelled image <id>: 1 "
        "tile(s) of 512 px cannot be split ...; add a labelled image, or set a smaller "
        "preprocessing.tile_size (e.g. 128) ...`",
        lambda ctx: project_with_labels(ctx, lambda path: write_labels(
            path, [(building(10, 10), "Complete"), (building(60, 40), "Complete")])),
        kedro("preprocessing", "labels"),
        Raises(InputError, r"^labelled image good: 1 tile\(s\) of 512 px cannot be split .*labels\.split\."
               r"val_fraction.*set a smaller preprocessing\.tile_size", "preprocessing.tile_size",
               leaves_nothing=LABEL_OUTPUTS)),
    # --- run state and settings ---------------------------------------------------------------------
    BadInput(
        "tif_and_tiff_spellings",
        "GeoTIFFs named `*.TIF` or `*.tiff` beside `*.tif` ones, and other files in the images folder",
        "every `.tif`/`.tiff` (any case) is tiled; a warning names the files that are not used: `data/01_raw/"
        "images: 1 files are not GeoTIFFs (.tif/.tiff) and are ignored: notes.txt`",
        lambda ctx: project_images(ctx, tiff_spellings),
        kedro("preprocessing"),
        Handled(three_images_tiled, log=r"1 files are not GeoTIFFs \(\.tif/\.tiff\) and are ignored: "
                                        r"notes\.txt")),
    BadInput(
        "refused_parameter",
        "a parameter outside what it allows (here `labels.split.val_fraction: 1.5`)",
        "before any work: `parameter labels.split.val_fraction: 1.5 is not allowed; use a number > 0 and < 1 "
        "(conf/base/parameters_labels.yml or --params ...)`; every parameter of conf/base/parameters_*.yml is "
        "checked (src/footprints/parameters.py)",
        lambda ctx: project_images(ctx),
        kedro("preprocessing", params={"labels": {"split": {"val_fraction": 1.5}}}),
        Raises(ParameterError, r"^parameter labels\.split\.val_fraction: 1\.5 is not allowed; use a number "
               r"> 0 and < 1", "labels.split.val_fraction", leaves_nothing=TILE_OUTPUTS)),
    BadInput(
        "damaged_mlflow_store",
        "a truncated or corrupt `mlflow.db` (even for pipelines that track nothing)",
        "before any work: `<path>/mlflow.db: the MLflow store is damaged (...); move it aside (mv mlflow.db "
        "mlflow.db.broken) and re-run to start a new store, or restore it from a backup`",
        damaged_mlflow_store,
        kedro("preprocessing"),
        Raises(InputError, r"mlflow\.db: the MLflow store is damaged \(.+\); move it aside", "mlflow.db",
               leaves_nothing=TILE_OUTPUTS)),
    BadInput(
        "second_run_in_the_same_folder",
        "a second `kedro run` started in a project folder where one is running",
        "the second stops before it writes anything: `<project>: another kedro run (pid <pid>) is running in "
        "this project folder; wait for it to end (or stop it) ...`",
        run_lock_held,
        kedro("preprocessing"),
        Raises(InputError, r"another kedro run \(pid \d+\) is running in this project folder; wait",
               "pid", leaves_nothing=TILE_OUTPUTS)),
    BadInput(
        "partial_set_of_a_killed_run",
        "a partitioned output (tiles, instance masks, tile predictions, per-image outputs) left half-written "
        "by a killed run: members but no manifest",
        "not trusted: `<folder>: 2 .npz files but no _npz.manifest: the run writing them was stopped "
        "before the end, so they are not trusted; run the pipeline that writes them again`",
        masks_without_manifest,
        load_masks,
        Raises(InputError, r"instance_masks: 2 \.npz files but no _npz\.manifest: the run writing them "
               r"was stopped", "_npz.manifest")),
    BadInput(
        "set_member_changed",
        "a member of a complete partitioned output replaced or truncated after its manifest was written",
        "not trusted: `<file>: changed or missing since _npz.manifest was written, so the set is not "
        "trusted; run the pipeline that writes it again`",
        masks_with_changed_member,
        load_masks,
        Raises(InputError, r"a_r0_c1\.npz: changed or missing since _npz\.manifest was written",
               "a_r0_c1.npz")),
    BadInput(
        "password_with_at_sign_unescaped",
        "a PostGIS password with `@`, `:` or `/` written as is in `con` (conf/local/credentials.yml)",
        "refused without quoting any part of it: `PostGISTableDataset credentials con ... is not a valid "
        "SQLAlchemy URL; write it as ...with @ : / % in the user name or password percent-encoded (%40 %3A "
        "%2F %25)`",
        postgis_con("Pa@ss:w0/rd"),
        postgis_dataset,
        Raises(InputError, r"credentials con \(conf/local/credentials\.yml\) is not a valid SQLAlchemy URL; "
               r"write it as .*percent-encoded", "conf/local/credentials.yml")),
    # --- model weights and training -----------------------------------------------------------------
    BadInput(
        "missing_weights_file",
        "a weights file that does not exist (`--params model_uri=...` or the default before any training)",
        "`weights file <file> not found; train first (kedro run --pipelines training), or name another model: "
        "a .safetensors file or an MLflow URI such as runs:/<run_id>/model (MODEL of footprints predict, "
        "--params model_uri=... of kedro run)`",
        lambda ctx: ctx.tmp / "model.safetensors",
        load_weights_file,
        Raises(InputError, r"weights file .*model\.safetensors not found.*train first", "model.safetensors")),
    BadInput(
        "weights_file_not_safetensors",
        "a weights file that is not safetensors (e.g. a pickled `.pth` renamed)",
        "`<file> is not a readable safetensors file: ...; give a .safetensors file written by the training "
        "pipeline (...) or an MLflow URI`",
        lambda ctx: written(ctx.tmp / "model.safetensors", b"\x80\x04PK not tensors"),
        load_weights_file,
        Raises(InputError, r"model\.safetensors is not a readable safetensors file.*; give a \.safetensors file "
               r"written by the training pipeline", "model.safetensors")),
    BadInput(
        "weights_for_other_classes",
        "weights trained for another number of classes",
        "`<file> has 3 classes, model expects 4`: use weights trained for this project's classes, or train "
        "anew",
        lambda ctx: weights_for_classes(ctx.tmp / "other.safetensors", num_classes=3),
        build_from,
        Raises(WeightsError, r"other\.safetensors has 3 classes, model expects 4$", "other.safetensors")),
    BadInput(
        "non_finite_pixels",
        "a float raster with infinite pixel values that are not declared nodata (the loss becomes NaN)",
        "training ends at that step, before the weights change: `epoch 1 step 1: loss is not finite (...); "
        "lower lr, set max_grad_norm, or look for NaN in the inputs` (mask or fix those pixels)",
        lambda ctx: float_tile_with_inf(ctx.tmp),
        train_one_step,
        Raises(NonFiniteLossError, r"^epoch 1 step 1: loss is not finite \(.*loss=nan\); lower lr",
               "max_grad_norm")),
    BadInput(
        "damaged_compressed_block",
        "a GeoTIFF whose damage shows only when one compressed block is decoded (it opens, its size is right)",
        "the tiling stops: `<file>: pixels in rows ..., columns ... cannot be decoded, the file is damaged "
        "(...); copy or export it again, or move it out of the images folder`; the tiles it was writing are "
        "removed and no manifest is written, so no partial tile set is trusted",
        lambda ctx: project_images(ctx, lambda root: damaged_block(root / "damaged.tif"), good=False),
        kedro("preprocessing"),
        Raises(InputError, r"damaged\.tif: pixels in rows \d+-\d+, columns \d+-\d+ cannot be decoded, the file is "
               r"damaged \(.*\); copy or export it again", "damaged.tif", leaves_nothing=TILE_OUTPUTS)),
    labels_case(
        "repeated_features",
        "the same building twice (same class, another class, or shifted by centimetres)",
        "the first in the file is kept with its class; each repeat (IoU >= 0.9) gets a label_report.csv row "
        "`repeat of feature <fid> (IoU ...)`, naming both classes when they differ, action `dropped`",
        Handled(reported([(1, r"repeat of feature 0 \(IoU 1\.00\)$", "dropped"),
                          (2, r"repeat of feature 0 \(IoU 0\.9\d\) with another class \(incomplete; the kept "
                              r"feature is complete\)", "dropped")], kept=[0, 3])),
        features=[(building(10, 10), "Complete"), (building(10, 10), "Complete"),
                  (building(10.03, 10), "Incomplete"), (building(30, 10), "Complete")]),
    labels_case(
        "malformed_geometry_text",
        "a feature whose geometry cannot be built (e.g. a ring that does not close)",
        "dropped; a label_report.csv row `malformed geometry: Points of LinearRing do not form a closed "
        "linestring` for that feature, action `dropped`; the other features are used",
        Handled(reported([(1, "malformed geometry: Points of LinearRing do not form a closed linestring",
                           "dropped")], kept=[0])),
        text='{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32737"}}, '
             '"features": [{"type": "Feature", "properties": {"condition": "Complete"}, "geometry": {"type": '
             '"Polygon", "coordinates": [[[532860, 9366840], [532865, 9366840], [532865, 9366835], '
             '[532860, 9366840]]]}}, {"type": "Feature", "properties": {"condition": "Complete"}, '
             '"geometry": {"type": "Polygon", "coordinates": [[[532870, 9366840], [532875, 9366840], '
             '[532875, 9366835]]]}}]}'),
    BadInput(
        "several_layers",
        "a label GeoPackage with several layers and no `layer:` in its catalog entry",
        "refused rather than reading the first: `<file>: holds 2 layers (buildings, roads); name the one to "
        "read with layer: in its catalog entry (conf/base/catalog.yml), or merge them into one layer`",
        lambda ctx: two_layers(ctx.tmp / "labels.gpkg"),
        lambda path: VectorFileDataset(filepath=str(path)).load(),
        Raises(InputError, r"labels\.gpkg: holds 2 layers \(buildings, roads\); name the one to read with layer:",
               "layer:")),
    BadInput(
        "unknown_parameter",
        "a parameter that does not exist: a misspelt key or group, or an option since renamed (here "
        "`preprocessing.tile_sise`)",
        "before any work: `parameter preprocessing.tile_sise does not exist; did you mean "
        "preprocessing.tile_size? (...)`",
        lambda ctx: project_images(ctx),
        kedro("preprocessing", params={"preprocessing": {"tile_sise": 256}}),
        Raises(ParameterError, r"^parameter preprocessing\.tile_sise does not exist; did you mean "
               r"preprocessing\.tile_size\?", "preprocessing.tile_sise", leaves_nothing=TILE_OUTPUTS)),
    BadInput(
        "group_given_a_value",
        "a parameter group given a plain value (`--params preprocessing=5`)",
        "before any work: `parameter preprocessing is a group, not a value (5); set one of its keys, e.g. "
        "--params preprocessing.tile_size=... (...)`",
        lambda ctx: project_images(ctx),
        kedro("preprocessing", params={"preprocessing": 5}),
        Raises(ParameterError, r"^parameter preprocessing is a group, not a value \(5\); set one of its keys",
               "preprocessing", leaves_nothing=TILE_OUTPUTS)),
]


# ------------------------------------------------------------------------------------------------ tests

@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> Path:
    """An initialised (migrated) MLflow SQLite store, copied into each project so runs skip the migration."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def catalogue_params(cases: list[BadInput] = CASES) -> list:
    """One pytest param per case; the cases that run a whole KedroSession are marked slow."""
    return [pytest.param(case, id=case.id, marks=[pytest.mark.slow] if getattr(case.run, "slow", False) else [])
            for case in cases]


@pytest.mark.parametrize("case", catalogue_params())
def test_bad_input(case: BadInput, tmp_path, request, caplog):
    """The contract, for every case: the input is used and every output set on disk is complete; or the run
    stops with one line naming what to fix, and leaves no output a re-run would trust."""
    caplog.set_level(logging.INFO)
    context = Context(tmp_path, request)
    made = case.make(context)
    expect = case.expect
    if isinstance(expect, Handled):
        expect.check(case.run(made))
        if expect.log:
            assert re.search(expect.log, caplog.text), caplog.text
    else:
        check_stops(case, context, made)
    if context.made_project:
        assert_output_sets_complete(context.project())


def check_stops(case: BadInput, context: Context, made: Any) -> None:
    expect = case.expect
    with pytest.raises(Exception) as raised:
        case.run(made)
    error, message = raised.value, str(raised.value)
    if type(error) is DatasetError and isinstance(error.__cause__, expect.error):
        assert message.endswith(str(error.__cause__))  # Kedro's catalog puts the dataset name in front
        error = error.__cause__
    assert isinstance(error, expect.error), f"{type(error).__module__}.{type(error).__name__}: {message}"
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    assert re.search(expect.match, message), message
    assert expect.names in message, f"{expect.names!r} not named in {message!r}"
    assert context.made_project or not expect.leaves_nothing
    for pattern in expect.leaves_nothing:
        left = sorted(context.project().glob(pattern))
        assert not left, f"a failed run left {left}"


def assert_output_sets_complete(root: Path) -> None:
    """Every partitioned output folder of the catalog is absent, or a set whose manifest checks out; no
    temp file is left."""
    import yaml

    from footprints.datasets.partitions import ManifestPartitionsDataset

    catalog = yaml.safe_load((root / "conf/base/catalog.yml").read_text())
    for name, entry in catalog.items():
        folder = root / str(entry.get("path", "-"))
        if not entry.get("type", "").startswith("footprints.datasets.partitions.") or not folder.is_dir():
            continue
        config = {k: v for k, v in entry.items() if k in ("filename_suffix", "dataset")}
        dataset = ManifestPartitionsDataset(path=str(folder), optional=True, **config)
        if "Manifest" in entry["type"] or entry["type"].endswith(("TileImagesDataset", "TileDocumentsDataset")):
            dataset.load()  # raises when members are there without a manifest that checks out
    assert not sorted(root.glob("data/**/.*.part")), "temp files left"


def test_catalogue_covers_enough_cases():
    assert len(CASES) >= 20 and len({case.id for case in CASES}) == len(CASES)


def render_table(cases: list[BadInput] = CASES) -> str:
    """The Markdown table of the catalogue: one row per case."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    rows = ["| input | behaviour |", "| --- | --- |"]
    rows += [f"| `{case.id}`: {cell(case.given)} | {case.expect.kind}: {cell(case.behaviour)} |"
             for case in cases]
    return "\n".join(rows) + "\n"


def render_doc() -> str:
    return (
        "# Bad inputs\n\n"
        "What the project does with inputs it cannot use as given. A run either stops with ONE line that "
        "names the file, feature or setting at fault and what to do (and leaves none of that run's outputs "
        "half written), or it goes on and reports what it did: a row in "
        "`data/08_reporting/label_report.csv` (`source_fid`, `problem`, `action`) or a log line.\n\n"
        "Kedro puts the dataset's name in front of errors raised while loading it "
        "(`raw_labels: <file>: ...`). Every row is a test in `tests/test_bad_inputs.py`, and this table is "
        f"generated from the same list of cases; do not edit it by hand, regenerate it with `{REGENERATE}`."
        "\n\n"
        + render_table()
    )


def test_docs_table_is_generated_from_the_cases():
    text = DOC.read_text() if DOC.is_file() else ""
    table = render_table()
    rows_in_doc = [line for line in text.splitlines() if line.startswith("|")]
    assert table in text and rows_in_doc == table.splitlines(), (
        f"{DOC.relative_to(PROJECT)} is out of date with the cases in tests/test_bad_inputs.py; "
        f"regenerate it: {REGENERATE}")


if __name__ == "__main__":
    print(render_doc(), end="")
