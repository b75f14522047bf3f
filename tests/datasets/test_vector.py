"""VectorFileDataset and the GeoPackage label table on real files."""

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Polygon, box

from footprints.datasets.spatial_table import all_boxes, clip_pairs

from footprints.datasets.vector import VectorFileDataset
from footprints.errors import InputError


def frame():
    return gpd.GeoDataFrame({"label_id": [1, 2, 3], "class_id": [1, 2, 3], "tiles": [["a"], ["b", "c"], []]},
                            geometry=[box(0, 0, 4, 4), box(8, 8, 12, 12), box(30, 30, 32, 32)],
                            crs="EPSG:32737")


class TestVectorFileDataset:
    @pytest.mark.parametrize("name", ["x.gpkg", "x.geojson"])
    def test_round_trip(self, tmp_path, name):
        ds = VectorFileDataset(filepath=str(tmp_path / name))
        ds.save(frame())
        back = ds.load()
        assert back.crs == "EPSG:32737" and list(back.label_id) == [1, 2, 3]
        assert list(back.tiles[1]) == ["b", "c"] or back.tiles[1] == '["b", "c"]'  # lists kept as JSON
        assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left behind

    def test_missing_and_unreadable_files(self, tmp_path):
        with pytest.raises(InputError, match="nope.geojson: file not found"):
            VectorFileDataset(filepath=str(tmp_path / "nope.geojson")).load()
        (tmp_path / "empty.geojson").write_text("")
        with pytest.raises(InputError, match="empty.geojson: cannot read"):
            VectorFileDataset(filepath=str(tmp_path / "empty.geojson")).load()

    def test_lazy_table_clips_to_tiles(self, tmp_path):
        ds = VectorFileDataset(filepath=str(tmp_path / "l.gpkg"), layer="labels", lazy=True)
        ds.save(frame())
        tiles = gpd.GeoDataFrame({"tile_id": ["t1", "t2"]}, geometry=[box(0, 0, 10, 10), box(6, 6, 16, 16)],
                                 crs="EPSG:32737")
        clipped = ds.load().clip_to(tiles)
        assert list(zip(clipped.tile_id, clipped.label_id)) == [("t1", 1), ("t1", 2), ("t2", 2)]
        assert clipped.geometry.area.tolist() == [16, 4, 16]

    def test_only_rows_reaching_past_a_box_footprint_are_cut(self):
        geoms = np.array([box(1, 1, 3, 3), box(8, 8, 12, 12), box(1, 1, 3, 3)])
        footprints = np.array([box(0, 0, 10, 10), box(0, 0, 10, 10), Polygon([(0, 0), (4, 0), (0, 4)])])
        boxed = clip_pairs(geoms[:2], footprints[:2], boxes=True)
        assert boxed[0] is geoms[0]  # inside: the stored row as it is
        assert boxed[1].equals(box(8, 8, 10, 10))
        assert all_boxes(gpd.GeoDataFrame(geometry=footprints[:2])) and not all_boxes(gpd.GeoDataFrame(
            geometry=footprints))
        triangle = clip_pairs(geoms[2:], footprints[2:], boxes=False)[0]  # inside the bounds, not the triangle
        assert triangle.equals(geoms[2].intersection(footprints[2])) and triangle.area < 4

    def test_preview_is_a_table(self, tmp_path):
        ds = VectorFileDataset(filepath=str(tmp_path / "x.gpkg"))
        ds.save(frame())
        assert ds.preview()["columns"][-1] == "geometry"
