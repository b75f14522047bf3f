import geopandas as gpd

from footprints.evaluation import buildings_per_tile, gallery_tiles

from .helpers import CRS, square, truth

# four 100 m tiles in a row; the last two lie mostly past the image edge
TILES = gpd.GeoDataFrame({"tile_id": ["t0", "t1", "t2", "t3"], "valid_fraction": [1.0, 0.6, 0.2, 0.1]},
                         geometry=[square(100 * i, 0, 100) for i in range(4)], crs=CRS)


def test_buildings_per_tile_counts_each_building_in_every_tile_it_touches():
    buildings = truth(*[(square(x, 10), "complete") for x in (10, 95, 310)])
    assert buildings_per_tile(TILES.geometry.values, buildings.geometry.values).tolist() == [2, 1, 0, 1]
    assert buildings_per_tile(TILES.geometry.values, truth().geometry.values).tolist() == [0, 0, 0, 0]


def test_gallery_prefers_tiles_that_are_mostly_image_then_most_buildings():
    # t3 has the most buildings but is 90 % padding: it comes after the tiles that are mostly image
    buildings = truth(*[(square(x, 10), "complete") for x in (300, 315, 330, 345, 150)])
    chosen = gallery_tiles(TILES, buildings, n=3)
    assert chosen.tile_id.tolist() == ["t1", "t0", "t3"]
    assert chosen.n_truth.tolist() == [1, 0, 4]
    assert gallery_tiles(TILES, buildings, n=2, min_valid_fraction=0.0).tile_id.tolist() == ["t3", "t1"]
