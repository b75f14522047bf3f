#!/usr/bin/env python
"""Benchmark: choosing the report's gallery tiles (buildings per tile) against one plain STRtree query.

The reporting pipeline counts the truth buildings touching each validation tile to pick the gallery. It used
to test every tile against every building (``truth.intersects(tile)`` per tile): quadratic, 2.4 s for 3,600
tiles x 23,911 buildings. ``footprints.evaluation.gallery_tiles`` now does one STRtree query. This script
times it against the reference, a bare ``shapely.STRtree(buildings).query(tiles, predicate="intersects")`` +
``np.bincount``, at 1x (3,600 tiles of 115 m, 23,911 buildings) and 4x the data (4x tiles, 4x buildings),
interleaving the two, and prints medians and the ratio. The old per-tile scan is timed once at 1x for the
record (``--no-old`` skips it). It also times the reporting's scoring (``per_class_scores``: one-to-one
greedy matching at IoU 0.5) of predictions (the buildings moved by 0-3 m, with random scores) against the
buildings at both sizes, and prints each step's time at 4x over its time at 1x (target <= 4.5). Ratios are
printed, never asserted.

    PYTHONPATH=src .venv/bin/python benchmarks/reporting.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import geopandas as gpd
import numpy as np
import shapely

from footprints.evaluation import gallery_tiles, per_class_scores

CRS = "EPSG:32737"
TILE_M, TILES_1X, BUILDINGS_1X = 115.0, 3600, 23911


def synthetic(scale: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A square grid of ``TILES_1X * scale`` tiles (12.5 % overlap) and random 6-20 m buildings over it."""
    side = int(round(np.sqrt(TILES_1X * scale)))
    stride = TILE_M * 0.875
    x, y = np.meshgrid(np.arange(side) * stride, np.arange(side) * stride)
    x, y = x.ravel() + 500000.0, y.ravel() + 9300000.0
    rng = np.random.default_rng(seed)
    tiles = gpd.GeoDataFrame({"tile_id": [f"t{i:06d}" for i in range(len(x))],
                              "valid_fraction": rng.random(len(x))}, geometry=shapely.box(x, y, x + TILE_M, y + TILE_M), crs=CRS)
    n = BUILDINGS_1X * scale
    bx = rng.uniform(x.min(), x.max() + TILE_M, n)
    by = rng.uniform(y.min(), y.max() + TILE_M, n)
    size = rng.uniform(6, 20, (2, n))
    buildings = gpd.GeoDataFrame({"class_name": ["complete"] * n},
                                 geometry=shapely.box(bx, by, bx + size[0], by + size[1]), crs=CRS)
    return tiles, buildings


def predictions(buildings: gpd.GeoDataFrame, seed: int = 1) -> gpd.GeoDataFrame:
    """The buildings moved by 0-3 m in x and y, with random scores: about half match at IoU 0.5."""
    rng = np.random.default_rng(seed)
    shift = rng.uniform(0, 3, (2, len(buildings)))
    moved = shapely.transform(buildings.geometry.values, lambda xy: xy + shift.T.repeat(5, axis=0))
    return gpd.GeoDataFrame({"class_name": buildings.class_name.values, "score": rng.random(len(buildings))},
                            geometry=moved, crs=buildings.crs)


def reference(tiles: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> np.ndarray:
    tree = shapely.STRtree(buildings.geometry.values)
    tile_pos, _ = tree.query(tiles.geometry.values, predicate="intersects")
    return np.bincount(tile_pos, minlength=len(tiles))


def old_scan(tiles: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> np.ndarray:
    """What the reporting node did before: one ``intersects`` scan over all buildings per tile."""
    return np.array([int(buildings.intersects(g).sum()) for g in tiles.geometry])


def timed(func, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs per candidate (median taken)")
    parser.add_argument("--no-old", action="store_true", help="skip the one timing of the old per-tile scan")
    args = parser.parse_args()
    print(f"{'data':>4} {'tiles':>7} {'buildings':>9} {'reference s':>12} {'gallery_tiles s':>16} "
          f"{'ratio':>6}")
    medians: dict[tuple[str, int], float] = {}
    for scale in (1, 4):
        tiles, buildings = synthetic(scale)
        pred = predictions(buildings)
        match_times = [timed(per_class_scores, pred, buildings, 0.5)[0] for _ in range(args.repeat)]
        medians["scoring", scale] = statistics.median(match_times)
        ref_times, ours_times = [], []
        for _ in range(args.repeat):
            t_ref, counts = timed(reference, tiles, buildings)
            t_ours, chosen = timed(gallery_tiles, tiles, buildings, 6, 0.0)
            ref_times.append(t_ref)
            ours_times.append(t_ours)
        expected = tiles.assign(n=counts).sort_values(["n", "valid_fraction", "tile_id"],
                                                      ascending=[False, False, True]).head(6)
        if chosen.tile_id.tolist() != expected.tile_id.tolist():
            raise SystemExit(f"{scale}x: gallery_tiles chose {chosen.tile_id.tolist()}, "
                             f"the reference counts give {expected.tile_id.tolist()}")
        ref, ours = statistics.median(ref_times), statistics.median(ours_times)
        medians["gallery", scale] = ours
        print(f"{scale:>3}x {len(tiles):>7} {len(buildings):>9} {ref:>12.4f} {ours:>16.4f} "
              f"{ours / ref:>6.2f}")
        if scale == 1 and not args.no_old:
            t_old, old_counts = timed(old_scan, tiles, buildings)
            assert (old_counts == counts).all(), "the old scan and the STRtree query disagree"
            print(f"     old per-tile scan at 1x (once): {t_old:.2f} s = {t_old / ref:.0f}x the reference")
    for step in ("gallery", "scoring"):
        print(f"{step}: {medians[step, 1]:.3f} s at 1x, {medians[step, 4]:.3f} s at 4x: "
              f"{medians[step, 4] / medians[step, 1]:.2f}x the time (target <= 4.5)")


if __name__ == "__main__":
    main()
