"""PostGISTableDataset against a real PostGIS server (see tests/postgis_server.py)."""

from __future__ import annotations

import json
import socket
import uuid

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg2
import psycopg2.sql
import pytest
import sqlalchemy as sa
from shapely import affinity
from shapely.geometry import MultiPolygon, box

from footprints.datasets.postgis import PostGISTableDataset
from footprints.datasets.vector import VectorFileDataset
from footprints.errors import InputError

pytestmark = pytest.mark.postgis

UTM_37S = "EPSG:32737"
X0, Y0 = 530_000.0, 9_250_000.0  # a neighbourhood of Dar es Salaam, in UTM zone 37S metres


def buildings() -> gpd.GeoDataFrame:
    """Building footprints of a few metres: a rotated 6x6 grid, one two-part building, one on a tile edge."""
    geoms, kinds = [], []
    for i in range(6):
        for j in range(6):
            footprint = box(-4, -5.5, 4, 5.5)  # 8 m x 11 m
            geoms.append(affinity.translate(affinity.rotate(footprint, 7 * (i + j)), X0 + 10 + 20 * i,
                                            Y0 + 10 + 20 * j))
            kinds.append(["house", "shop", "school"][(i + j) % 3])
    geoms.append(MultiPolygon([box(X0 + 122, Y0 + 2, X0 + 128, Y0 + 8),
                               box(X0 + 129, Y0 + 2, X0 + 133, Y0 + 6)]))
    geoms.append(box(X0 + 40, Y0 + 125, X0 + 48, Y0 + 131))  # touches the right edge of tile column 0
    kinds += ["garage", "house"]
    n = len(geoms)
    return gpd.GeoDataFrame({
        "building_id": np.arange(1000, 1000 + n),
        "building_type": kinds,
        "height_m": np.round(np.linspace(3.0, 12.5, n), 2),
        "scores": [[0.9, round(0.5 + k / (2 * n), 3)] for k in range(n)],
    }, geometry=geoms, crs=UTM_37S)


def tiles() -> gpd.GeoDataFrame:
    """40 m tile footprints every 32 m (8 m overlap) over the buildings, plus one tile over empty ground."""
    ids, geoms = [], []
    for row in range(5):
        for col in range(5):
            ids.append(f"dar_r{row}_c{col}")
            geoms.append(box(X0 + 32 * col, Y0 + 32 * row, X0 + 32 * col + 40, Y0 + 32 * row + 40))
    ids.append("dar_empty")
    geoms.append(box(X0 + 1000, Y0 + 1000, X0 + 1040, Y0 + 1040))
    return gpd.GeoDataFrame({"tile_id": ids}, geometry=geoms, crs=UTM_37S)


def predictions(run_id: str, image_id: str, n: int, score: float) -> gpd.GeoDataFrame:
    frame = buildings().head(n)
    return gpd.GeoDataFrame({"run_id": run_id, "image_id": image_id, "score": score,
                             "building_id": frame.building_id}, geometry=frame.geometry.values, crs=UTM_37S)


def dataset(url: str, schema: str, table: str = "labels", **kwargs) -> PostGISTableDataset:
    return PostGISTableDataset(table=table, schema=schema, credentials={"con": url}, **kwargs)


def fetch(engine: sa.Engine, query: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(query), params)]


def test_round_trip_keeps_crs_values_and_geometry(postgis_url, pg_schema):
    frame = buildings()
    dataset(postgis_url, pg_schema).save(frame)
    loaded = dataset(postgis_url, pg_schema).load().sort_values("building_id").reset_index(drop=True)
    assert loaded.crs == frame.crs
    assert list(loaded.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(loaded.drop(columns="geometry")),
                                  pd.DataFrame(frame.drop(columns="geometry")).assign(
                                      scores=frame.scores.map(json.dumps)))
    assert loaded.geometry.geom_equals_exact(frame.geometry, tolerance=0).all()


def test_geometry_column_is_srid_typed_and_gist_indexed(postgis_url, postgis_engine, pg_schema):
    dataset(postgis_url, pg_schema).save(buildings())
    assert fetch(postgis_engine, "SELECT type, srid FROM geometry_columns WHERE f_table_schema = :s "
                 "AND f_table_name = 'labels'", s=pg_schema) == [("GEOMETRY", 32737)]
    indexes = fetch(postgis_engine, "SELECT indexdef FROM pg_indexes WHERE schemaname = :s "
                    "AND tablename = 'labels'", s=pg_schema)
    assert any("USING gist (geometry)" in row[0] for row in indexes)


def test_bbox_load_returns_only_intersecting_rows(postgis_url, pg_schema):
    frame = buildings()
    dataset(postgis_url, pg_schema).save(frame)
    bbox = (X0 + 25, Y0 + 25, X0 + 55, Y0 + 45)
    loaded = dataset(postgis_url, pg_schema, load_args={"bbox": list(bbox)}).load()
    expected = frame[frame.intersects(box(*bbox))].building_id
    assert 0 < len(loaded) < len(frame)
    assert sorted(loaded.building_id) == sorted(expected)


def test_lazy_clip_to_gives_the_geopackage_rows(postgis_url, pg_schema, tmp_path):
    frame, footprints = buildings(), tiles()
    dataset(postgis_url, pg_schema).save(frame)
    VectorFileDataset(filepath=str(tmp_path / "labels.gpkg"), layer="labels").save(frame)
    from_postgis = dataset(postgis_url, pg_schema, lazy=True).load().clip_to(footprints)
    from_gpkg = VectorFileDataset(filepath=str(tmp_path / "labels.gpkg"), layer="labels",
                                  lazy=True).load().clip_to(footprints)
    assert len(from_postgis) > len(frame)  # overlapping tiles repeat buildings
    assert list(from_postgis.columns) == list(from_gpkg.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(from_postgis.drop(columns="geometry")),
                                  pd.DataFrame(from_gpkg.drop(columns="geometry")))
    difference = from_postgis.geometry.symmetric_difference(from_gpkg.geometry).area
    assert (difference < 1e-6 * from_gpkg.geometry.area).all()
    edge_tiles = set(from_postgis[from_postgis.building_id == frame.building_id.iloc[-1]].tile_id)
    assert "dar_r3_c1" in edge_tiles and "dar_r3_c0" not in edge_tiles  # a shared edge is no overlap


def test_lazy_handle_reads_with_crs_and_bbox(postgis_url, pg_schema):
    dataset(postgis_url, pg_schema).save(buildings())
    handle = dataset(postgis_url, pg_schema, lazy=True).load()
    assert handle.crs == buildings().crs
    assert len(handle.read()) == len(buildings())
    assert len(handle.read(bbox=(X0 + 1000, Y0 + 1000, X0 + 1040, Y0 + 1040))) == 0


def test_failed_replace_leaves_previous_content(postgis_url, pg_schema):
    frame = buildings()
    dataset(postgis_url, pg_schema).save(frame)
    broken = frame.copy()
    broken.loc[len(broken) - 1, "building_type"] = "house\x00"  # PostgreSQL text cannot hold NUL
    with pytest.raises(InputError, match=rf"{pg_schema}\.labels in database .*: save failed, the table is left as it"):
        dataset(postgis_url, pg_schema).save(broken)
    assert sorted(dataset(postgis_url, pg_schema).load().building_type) == sorted(frame.building_type)


def test_append_replace_where_keeps_other_runs(postgis_url, pg_schema):
    store = dataset(postgis_url, pg_schema, table="predictions",
                    save_args={"mode": "append", "replace_where": ["run_id", "image_id"]})
    store.save(pd.concat([predictions("run-1", "img-a", 5, 0.5), predictions("run-1", "img-b", 4, 0.5)]))
    store.save(predictions("run-2", "img-a", 3, 0.7))
    store.save(predictions("run-1", "img-a", 2, 0.9))  # a re-run of run-1 on img-a
    counts = store.load().groupby(["run_id", "image_id"]).score.agg(["count", "max"])
    assert counts.to_dict("index") == {("run-1", "img-a"): {"count": 2, "max": 0.9},
                                       ("run-1", "img-b"): {"count": 4, "max": 0.5},
                                       ("run-2", "img-a"): {"count": 3, "max": 0.7}}


def test_failed_append_keeps_the_rows_it_would_replace(postgis_url, pg_schema):
    store = dataset(postgis_url, pg_schema, table="predictions",
                    save_args={"mode": "append", "replace_where": ["run_id", "image_id"]})
    store.save(predictions("run-1", "img-a", 5, 0.5))
    in_wgs84 = predictions("run-1", "img-a", 2, 0.9).to_crs("EPSG:4326")  # the column is SRID 32737
    with pytest.raises(InputError, match="save failed, the table is left as it was"):
        store.save(in_wgs84)
    assert sorted(store.load().score) == [0.5] * 5


def test_missing_schema_is_created_only_when_asked(postgis_url, postgis_engine, pg_schema):
    schema = f"{pg_schema}_new"
    with pytest.raises(InputError, match="create_schema: true"):
        dataset(postgis_url, schema).save(buildings())
    try:
        dataset(postgis_url, schema, save_args={"create_schema": True}).save(buildings())
        assert len(dataset(postgis_url, schema).load()) == len(buildings())
    finally:
        with postgis_engine.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))


def test_hostile_table_name_is_a_literal_identifier(postgis_url, postgis_engine, pg_schema):
    with postgis_engine.begin() as conn:
        conn.execute(sa.schema.CreateTable(sa.Table("sentinel", sa.MetaData(), sa.Column("id", sa.Integer),
                                                    schema=pg_schema)))
    hostile = f'x"; DROP TABLE "{pg_schema}".sentinel; --'
    store = dataset(postgis_url, pg_schema, table=hostile)
    store.save(buildings())
    assert len(store.load()) == len(buildings())
    assert len(dataset(postgis_url, pg_schema, table=hostile, lazy=True).load().clip_to(tiles())) > 0
    tables = fetch(postgis_engine, "SELECT table_name FROM information_schema.tables WHERE table_schema = :s",
                   s=pg_schema)
    assert sorted(tables) == sorted([("sentinel",), (hostile,)])


@pytest.mark.parametrize("setting", ["table", "schema"])
@pytest.mark.parametrize("name", ["labels\x00", "b" * 64, "é" * 32, ""],
                         ids=["nul", "64-bytes", "64-utf8-bytes", "empty"])
def test_unusable_names_are_rejected_naming_the_setting(setting, name):
    kwargs = {"table": "labels", "schema": "public", setting: name}
    with pytest.raises(InputError, match=rf"PostGISTableDataset {setting} .*at most 63 bytes"):
        PostGISTableDataset(credentials={"con": "postgresql+psycopg2://u@h/db"}, **kwargs)


def test_missing_table_names_schema_and_table(postgis_url, pg_schema):
    with pytest.raises(InputError, match=rf"^{pg_schema}\.nowhere: no such table in database") as err:
        dataset(postgis_url, pg_schema, table="nowhere").load()
    assert "\n" not in str(err.value)


def admin(url: str, statement: psycopg2.sql.Composable, *params) -> None:
    """One statement in autocommit (CREATE DATABASE refuses transactions); psycopg2 quotes identifiers."""
    conn = psycopg2.connect(**sa.make_url(url).translate_connect_args(username="user", database="dbname"))
    conn.autocommit = True
    try:
        conn.cursor().execute(statement, params or None)
    finally:
        conn.close()


@pytest.fixture
def password_role(postgis_url):
    """A login role with a known password (the test server checks passwords on TCP: scram-sha-256)."""
    role, password = f"footprints_{uuid.uuid4().hex[:8]}", f"Known-{uuid.uuid4().hex}"
    create = psycopg2.sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(psycopg2.sql.Identifier(role))
    admin(postgis_url, create, password)
    yield role, password
    admin(postgis_url, psycopg2.sql.SQL("DROP ROLE {}").format(psycopg2.sql.Identifier(role)))


def assert_one_line_without(err: InputError, store: PostGISTableDataset, secret: str, *needles: str) -> None:
    message = str(err)
    assert "\n" not in message
    for needle in needles:
        assert needle in message
    for text in (message, repr(store), str(store._describe())):
        assert secret not in text


def test_wrong_password_is_one_line_without_the_password(postgis_url, password_role, pg_schema):
    role, password = password_role
    url = sa.make_url(postgis_url)
    wrong = password + "-typo"
    store = dataset(url.set(username=role, password=wrong).render_as_string(hide_password=False), pg_schema)
    with pytest.raises(InputError) as err:
        store.load()
    if "no such table" in str(err.value):
        pytest.skip("this server does not check passwords on TCP connections")
    assert_one_line_without(err.value, store, wrong, "password authentication failed",
                            f"{url.host}:{url.port}", repr(url.database))
    good = dataset(url.set(username=role, password=password, database="no_such_db").render_as_string(
        hide_password=False), pg_schema)
    with pytest.raises(InputError) as err:
        good.load()
    assert_one_line_without(err.value, good, password, "the database does not exist", "'no_such_db'")


def test_unreachable_server_is_one_line_naming_host_port_and_db():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    store = dataset(f"postgresql+psycopg2://someone:S3cret-pw@127.0.0.1:{port}/labels_db", "public")
    with pytest.raises(InputError) as err:
        store.load()
    assert_one_line_without(err.value, store, "S3cret-pw", "server unreachable", f"127.0.0.1:{port}",
                            "'labels_db'")


def test_unknown_host_is_one_line():
    store = dataset("postgresql+psycopg2://someone:S3cret-pw@no-such-host.invalid:5432/labels_db", "public")
    with pytest.raises(InputError) as err:
        store.load()
    assert_one_line_without(err.value, store, "S3cret-pw", "unknown host", "no-such-host.invalid:5432")


def test_database_without_postgis_says_create_extension(postgis_url):
    name = f"footprints_plain_{uuid.uuid4().hex[:8]}"
    admin(postgis_url, psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(name)))
    plain_url = sa.make_url(postgis_url).set(database=name).render_as_string(hide_password=False)
    store = dataset(plain_url, "public")
    try:
        with pytest.raises(InputError, match=r"has no PostGIS .*CREATE EXTENSION postgis"):
            store.load()
    finally:
        drop = psycopg2.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg2.sql.Identifier(name))
        admin(postgis_url, drop)


def test_credentials_from_environment(postgis_url, pg_schema, monkeypatch):
    url = sa.make_url(postgis_url)
    for variable, value in {"HOST": url.host, "PORT": url.port, "DB": url.database, "USER": url.username,
                            "PASSWORD": url.password}.items():
        monkeypatch.setenv(f"FOOTPRINTS_PG_{variable}", str(value) if value is not None else "")
    store = PostGISTableDataset(table="labels", schema=pg_schema)
    store.save(buildings())
    assert len(store.load()) == len(buildings())
    assert url.password is None or url.password not in repr(store)


def test_preview_shows_wkt(postgis_url, pg_schema):
    dataset(postgis_url, pg_schema).save(buildings())
    preview = dataset(postgis_url, pg_schema).preview(nrows=3)
    assert preview["columns"][-1] == "geometry"
    assert len(preview["data"]) == 3 and preview["data"][0][-1].startswith("POLYGON")
