"""Label cleaning, the per-tile query and instance masks, on the shipped sample and hand-made bad labels."""

import geopandas as gpd
import numpy as np
import pytest
import shapely.affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from footprints.datasets.raster import GeoTIFFDataset
from footprints.datasets.vector import VectorFileDataset
from footprints.errors import InputError
from footprints.pipelines.labels.nodes import build_instance_masks, clean_labels, query_tile_labels
from footprints.pipelines.preprocessing.nodes import tile_images
from tests.conftest import SAMPLE_IMAGE, SAMPLE_LABELS, project_params

LABELS = project_params("labels")


@pytest.fixture(scope="module")
def sample_index():
    source = GeoTIFFDataset(filepath=str(SAMPLE_IMAGE), lazy=True)
    return tile_images({"tanzania_sample": source.load}, {}, project_params("preprocessing"))[1]


def utm_labels(geoms, conditions, crs="EPSG:32737"):
    return gpd.GeoDataFrame({"condition": conditions}, geometry=geoms, crs=crs)


def at(x, y, size=5.0):
    return box(532860 + x, 9366780 + y, 532860 + x + size, 9366780 + y + size)


def test_sample_labels_are_cleaned_and_every_problem_reported(sample_index):
    raw = VectorFileDataset(filepath=str(SAMPLE_LABELS)).load()
    labels, report = clean_labels(raw, sample_index, LABELS)
    problems = report.problem.str.split(":").str[0].value_counts()
    assert problems["invalid geometry"] == 8 and problems["missing condition"] == 8
    assert labels.crs == sample_index.crs and labels.geometry.is_valid.all()
    assert set(labels.geom_type) == {"Polygon"} and labels.label_id.is_unique
    assert set(labels.class_name) == {"complete", "incomplete", "foundation"}


def test_invalid_null_empty_and_non_polygon_features(sample_index):
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    bowtie = Polygon([(532860 + x, 9366780 + y) for x, y in bowtie.exterior.coords])
    raw = utm_labels([bowtie, None, Polygon(), Point(532870, 9366790), LineString([(532860, 9366780),
                      (532870, 9366790)]), MultiPolygon([at(0, 0), at(20, 0)])], ["Complete"] * 6)
    labels, report = clean_labels(raw, sample_index, LABELS)
    assert dict(zip(report.source_fid, report.action)) == {
        0: "repaired with make_valid", 1: "dropped", 2: "dropped", 3: "dropped", 4: "dropped"}
    assert list(labels.source_fid) == [0, 0, 5, 5]  # bow tie -> two triangles, multipolygon -> two buildings
    assert labels.area.round(1).tolist() == [25.0, 25.0, 25.0, 25.0]


def test_unknown_and_missing_classes_dropped_or_mapped(sample_index):
    raw = utm_labels([at(0, 0), at(10, 0), at(20, 0)], ["Complete", "Ruin", None])
    dropped, report = clean_labels(raw, sample_index, LABELS)
    assert list(dropped.source_fid) == [0]
    assert list(report.problem) == ["unknown condition 'Ruin'", "missing condition"]
    mapped, report = clean_labels(raw, sample_index, {**LABELS, "unknown_class": "complete"})
    assert list(mapped.class_name) == ["complete"] * 3 and set(report.action) == {"mapped to complete"}
    with pytest.raises(InputError, match="unknown_class"):
        clean_labels(raw, sample_index, {**LABELS, "unknown_class": "ruin"})


def test_labels_in_another_crs_are_clipped_in_the_image_crs(tmp_path, sample_index):
    utm = utm_labels([at(0, 0)], ["Complete"])
    labels, _ = clean_labels(utm.to_crs("EPSG:3857"), sample_index, LABELS)
    assert labels.crs == "EPSG:3857"  # the label database keeps the labels' CRS
    store = VectorFileDataset(filepath=str(tmp_path / "labels.gpkg"), layer="labels", lazy=True)
    store.save(labels)
    instances, _ = query_tile_labels(store.load(), sample_index)
    pieces = instances.to_crs("EPSG:32737").geometry.union_all()  # its clips on the overlapping tiles
    assert len(instances) >= 1 and pieces.symmetric_difference(at(0, 0)).area < 1e-3


def test_labels_without_crs_need_assume_crs(sample_index):
    raw = utm_labels([at(0, 0)], ["Complete"]).set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="no CRS.*assume_crs"):
        clean_labels(raw, sample_index, LABELS)
    labels, _ = clean_labels(raw, sample_index, {**LABELS, "assume_crs": "EPSG:32737"})
    assert len(labels) == 1


def test_empty_label_file_gives_unlabelled_tiles(tmp_path, sample_index, caplog):
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    labels, report = clean_labels(VectorFileDataset(filepath=str(path)).load(), sample_index, LABELS)
    assert labels.empty and report.empty and "holds no features" in caplog.text


def test_labels_that_touch_no_raster_are_reported(sample_index, caplog):
    raw = utm_labels([box(0, 0, 1, 1)], ["Complete"])
    _, report = clean_labels(raw, sample_index, LABELS)
    assert list(report.problem) == ["outside every raster"]
    assert "no label touches any raster" in caplog.text


def test_query_and_masks_on_the_sample(tmp_path, sample_index):
    raw = VectorFileDataset(filepath=str(SAMPLE_LABELS)).load()
    labels, _ = clean_labels(raw, sample_index, LABELS)
    store = VectorFileDataset(filepath=str(tmp_path / "labels.gpkg"), layer="labels", lazy=True)
    store.save(labels)
    instances, labelled = query_tile_labels(store.load(), sample_index)
    assert instances.tile_id.isin(sample_index.tile_id).all()
    assert (labelled.has_labels == (labelled.n_instances > 0)).all() and not labelled.has_labels.all()
    masks = build_instance_masks(instances, labelled)
    assert set(masks) == set(sample_index.tile_id)  # unlabelled tiles kept, with no instances
    for row in labelled.itertuples():
        tile = masks[row.tile_id]()
        assert tile.masks.shape[1:] == (512, 512) and tile.masks.dtype == np.uint8
        assert len(tile) <= row.n_instances and set(tile.class_ids) <= {1, 2, 3}


def test_a_rerun_makes_only_the_masks_whose_tile_or_instances_changed(tmp_path, sample_index):
    """Keys of unchanged tiles stay, an edited building changes its tiles' keys: the masks dataset keeps the
    others without rasterising them, and a tile gone from the index loses its mask file."""
    import json

    from footprints.datasets.partitions import ManifestPartitionsDataset

    raw = VectorFileDataset(filepath=str(SAMPLE_LABELS)).load()
    labels, _ = clean_labels(raw, sample_index, LABELS)
    store = VectorFileDataset(filepath=str(tmp_path / "labels.gpkg"), layer="labels", lazy=True)
    store.save(labels)
    instances, labelled = query_tile_labels(store.load(), sample_index)
    masks_ds = ManifestPartitionsDataset(path=str(tmp_path / "masks"), filename_suffix=".npz", overwrite=True,
                                         dataset="footprints.datasets.masks.InstanceMasksDataset")
    first = build_instance_masks(instances, labelled)
    masks_ds.save(first)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "masks").glob("*.npz")}

    edited_tile = instances.tile_id.iloc[0]
    moved = instances.copy()
    moved.loc[moved.index[0], "geometry"] = shapely.affinity.translate(moved.geometry.iloc[0], 1e-5, 0)
    dropped = next(t for t in labelled.tile_id if t != edited_tile)
    second = build_instance_masks(moved, labelled[labelled.tile_id != dropped])
    changed = {t for t in second if second[t].key != first[t].key}
    assert changed == {edited_tile}
    masks_ds.save(second)

    files = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "masks").glob("*.npz")}
    assert set(files) == {f"{t}.npz" for t in second}  # the dropped tile's mask is gone
    assert {name for name in files if files[name] != mtimes.get(name)} == {f"{edited_tile}.npz"}
    manifest = json.loads((tmp_path / "masks/_npz.manifest").read_text())["members"]
    assert {name: record["key"] for name, record in manifest.items()} == {
        f"{t}.npz": second[t].key for t in second}
    loaded = masks_ds.load()
    assert sorted(loaded) == sorted(second) and len(loaded[edited_tile]().masks) >= 1