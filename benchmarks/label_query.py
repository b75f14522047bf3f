"""Per-tile label query: the project's ``clip_to`` against a plain join measured in the same run.

- PostGIS: ``PostGISTable.clip_to`` (one join over a temporary tile table, ``ST_ClipByBox2D`` for box
  footprints, invalid results repaired in ``finish_clip``) against the same join written by hand with
  ``ST_ClipByBox2D`` and read with ``read_postgis`` (nothing repaired: a floor).
- GeoPackage: ``GeoPackageTable.clip_to`` against ``geopandas.sjoin`` + one vectorised ``shapely.intersection``
  on the frame already in memory.

Synthetic UTM buildings on a grid of 512 px (0.5 m) tiles with 64 px overlap. Quick default: 20,000 buildings;
``--buildings 100000`` is the size NOTES.md profiles. A throw-away PostGIS server is started when PostgreSQL
and PostGIS are installed (``scripts/pg_test_server.py``), else the PostGIS rows are skipped. Medians of
``--repeat`` interleaved runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
CRS = "EPSG:32737"
TILE_M, STEP_M = 256.0, 224.0  # 512 px at 0.5 m, 64 px overlap


def synthetic(n_buildings: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Buildings (rotated rectangles of 5-30 m) scattered over a square covered by overlapping tiles."""
    rng = np.random.default_rng(seed)
    side = np.sqrt(n_buildings) * 36.0
    x, y = rng.uniform(0, side, n_buildings), rng.uniform(0, side, n_buildings)
    w, h, angle = rng.uniform(5, 30, n_buildings), rng.uniform(5, 30, n_buildings), rng.uniform(0, 90, n_buildings)
    boxes = shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)
    geoms = [shapely.affinity.rotate(b, a, origin="centroid") for b, a in zip(boxes, angle)]
    labels = gpd.GeoDataFrame({"label_id": np.arange(1, n_buildings + 1), "class_id": 1}, geometry=geoms, crs=CRS)
    offsets = np.arange(0, side, STEP_M)
    tx, ty = np.meshgrid(offsets, offsets)
    tiles = gpd.GeoDataFrame({"tile_id": [f"t_{i:06d}" for i in range(tx.size)]},
                             geometry=shapely.box(tx.ravel(), ty.ravel(), tx.ravel() + TILE_M, ty.ravel() + TILE_M),
                             crs=CRS)
    return labels, tiles


def timed(func) -> tuple[float, int]:
    start = time.perf_counter()
    rows = len(func())
    return time.perf_counter() - start, rows


def reference_postgis(engine: sa.Engine, tiles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The hand-written join: tiles uploaded, one SELECT with ST_ClipByBox2D, nothing repaired."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMPORARY TABLE ref_tiles (tile_id text, geom geometry) ON COMMIT DROP"))
        conn.execute(sa.text("INSERT INTO ref_tiles SELECT u.t, ST_GeomFromWKB(u.w, 32737) FROM "
                             "unnest(CAST(:ids AS text[]), CAST(:wkbs AS bytea[])) AS u(t, w)"),
                     {"ids": list(tiles.tile_id), "wkbs": [bytes(w) for w in tiles.geometry.to_wkb()]})
        conn.execute(sa.text("ANALYZE ref_tiles"))
        return gpd.read_postgis(sa.text(
            "SELECT t.tile_id, l.label_id, l.class_id, ST_ClipByBox2D(l.geometry, Box2D(t.geom)) AS geometry "
            "FROM bench.labels l JOIN ref_tiles t ON ST_Intersects(l.geometry, t.geom)"), conn, geom_col="geometry")


def reference_sjoin(labels: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    pairs = gpd.sjoin(labels, tiles, predicate="intersects", how="inner")
    footprints = tiles.geometry.values[pairs.index_right.to_numpy()]
    return pairs.set_geometry(shapely.intersection(pairs.geometry.values, footprints), crs=labels.crs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buildings", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from footprints.datasets.postgis import PostGISTableDataset
    from footprints.datasets.vector import VectorFileDataset

    labels, tiles = synthetic(args.buildings)
    print(f"{len(labels):,} buildings x {len(tiles):,} tiles")
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = VectorFileDataset(filepath=f"{tmp}/labels.gpkg", layer="labels", lazy=True)
        gpkg.save(labels)
        candidates = {"geopackage clip_to": lambda: gpkg.load().clip_to(tiles),
                      "sjoin + intersection (in memory)": lambda: reference_sjoin(labels, tiles)}
        server = _postgis(Path(tmp) / "pg")
        if server:
            url, engine = server
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE SCHEMA bench"))
            table = PostGISTableDataset(table="labels", schema="bench", credentials={"con": url}, lazy=True)
            table.save(labels)
            candidates |= {"postgis clip_to": lambda: table.load().clip_to(tiles),
                           "postgis join with ST_ClipByBox2D (by hand)": lambda: reference_postgis(engine, tiles)}
        times = {name: [] for name in candidates}
        rows = {}
        for _ in range(args.repeat):
            for name, func in candidates.items():
                seconds, rows[name] = timed(func)
                times[name].append(seconds)
        median = {name: statistics.median(values) for name, values in times.items()}
        for name in candidates:
            print(f"{name:45s} {median[name]:7.2f} s  {rows[name]:,} rows")
        print(f"ratio geopackage / sjoin: {median['geopackage clip_to'] / median['sjoin + intersection (in memory)']:.2f}"
              " (target <= 1.1)")
        if server:
            ratio = median["postgis clip_to"] / median["postgis join with ST_ClipByBox2D (by hand)"]
            print(f"ratio postgis / ST_ClipByBox2D join: {ratio:.2f} (target <= 1.0)")
            import pg_test_server
            pg_test_server.stop(Path(tmp) / "pg")


def _postgis(directory: Path):
    import pg_test_server

    try:
        info = pg_test_server.start(directory)
    except Exception as err:  # noqa: BLE001 - no server here: the PostGIS rows are skipped
        print(f"no PostGIS server ({str(err).splitlines()[0]}): PostGIS rows skipped")
        return None
    url = info["FOOTPRINTS_TEST_PG_URL"]
    return url, sa.create_engine(url)


if __name__ == "__main__":
    main()
