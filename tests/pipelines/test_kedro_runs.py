"""The pipelines run end to end through KedroSession on the shipped sample, in base and in postgis."""

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
import sqlalchemy as sa
import yaml

from tests.conftest import run_kedro

pytestmark = pytest.mark.slow  # whole kedro runs / training: `pytest -m "not slow"` skips them


def test_base_env_tiles_and_labels_the_sample(project_copy):
    run_kedro(project_copy, ["preprocessing", "labels"])

    tiles = sorted((project_copy / "data/02_intermediate/tiles").glob("*.tif"))
    index = gpd.read_file(project_copy / "data/02_intermediate/tile_index.gpkg")
    assert len(tiles) == len(index) == 9
    with rasterio.open(tiles[0]) as tile:
        assert tile.crs == "EPSG:32737" and tile.shape == (512, 512) and tile.count == 3
    report = pd.read_csv(project_copy / "data/08_reporting/label_report.csv")
    assert report.problem.str.startswith("invalid geometry").sum() == 8
    masks = list((project_copy / "data/03_primary/instance_masks").glob("*.npz"))
    assert len(masks) == 9
    split = pd.read_csv(project_copy / "data/05_model_input/tile_split.csv")
    assert set(split.split) >= {"train", "val"}


@pytest.mark.postgis
def test_postgis_env_gives_the_same_tile_items_as_geopackage(project_copy, postgis_url):
    run_kedro(project_copy, ["preprocessing", "labels"])
    embedded = gpd.read_file(project_copy / "data/03_primary/tile_instances.gpkg")
    (project_copy / "conf/local/credentials.yml").write_text(yaml.safe_dump({"postgis": {"con": postgis_url}}))

    run_kedro(project_copy, ["preprocessing", "labels"], env="postgis")

    engine = sa.create_engine(postgis_url)
    in_db = gpd.read_postgis("SELECT * FROM tile_instances", engine, geom_col="geometry")
    assert in_db.crs == embedded.crs == "EPSG:4326"  # tiles of every image CRS share the layer
    key = ["tile_id", "label_id"]
    embedded, in_db = embedded.sort_values(key).reset_index(drop=True), in_db.sort_values(key).reset_index(drop=True)
    assert embedded[key].equals(in_db[key]) and len(embedded) > 0
    assert (embedded.class_id.to_numpy() == in_db.class_id.to_numpy()).all()
    utm = embedded.to_crs("EPSG:32737"), in_db.to_crs("EPSG:32737")
    difference = utm[0].geometry.symmetric_difference(utm[1].geometry, align=False).area
    assert (difference < 1e-6 * utm[0].area).all()
    with engine.connect() as connection:
        indexed = connection.execute(sa.text("SELECT count(*) FROM pg_indexes WHERE tablename = 'labels' "
                                             "AND indexdef ILIKE '%gist%'")).scalar()
    assert indexed == 1
