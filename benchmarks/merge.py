"""Cross-tile merge benchmark: footprints' merge against a plain reference, on synthetic detections.

A synthetic image: buildings (rotated rectangles, some long enough to cross a whole overlap strip) on a
jittered grid, tiles of 512 px at 0.5 m with 64 px overlap; every tile that covers a building reports it,
clipped to the tile (fragments at tile edges), with sub-pixel jitter and noisy class scores; fragments
under 1 m2 are dropped as the polygon step does, and so are slivers thinner than a pixel everywhere (a
pixel mask cannot produce them). About 30% of the detections are duplicates or fragments.

Candidates, measured in the same run:
- ``footprints``: ``merge_detections`` (and, separately, ``detections_frame`` on the tiles' JSON documents);
- ``reference``: STRtree ``intersects`` self-query, IoU >= 0.5, connected components, ``union_all`` per
  group. A speed floor, not an equivalent: it leaves buildings split at tile edges.

Times: in-process, candidates interleaved, median of ``--repeat`` runs. Peak memory: each candidate in a
fresh child process that loads the pickled detections, runs once and reports its peak RSS (``VmHWM``: GEOS
memory is invisible to tracemalloc, and ``ru_maxrss`` would start at the driver's RSS at fork); the RSS
after loading the input is printed too, and ``work`` is the peak above it. Correctness is counted against
the synthetic truth. Linearity: footprints and the reference at a quarter of the size and at the size.

    python benchmarks/merge.py                        # quick: ~60k detections, seconds
    python benchmarks/merge.py --detections 1000000   # the 1M target (minutes, ~3 GB)
    python benchmarks/merge.py --help
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import mapping

from footprints.classes import CLASS_NAMES
from footprints.geo import footprint
from footprints.postprocess.merge import SCORE_COLUMNS, detections_frame, merge_detections
from footprints.postprocess.merge_blocks import merge_blocks

PIXEL, TILE_PX, OVERLAP_PX = 0.5, 512, 64
CELL = 36.0  # metres between building centres
PARAMS = {"iou_threshold": 0.5, "shared_iou_threshold": 0.5, "edge_tolerance_px": 1.5}
CRS = "EPSG:32737"
X0, Y0 = 500000.0, 9000000.0


def synthetic(n_detections: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, dict, np.ndarray]:
    """Detections of a synthetic image (about ``n_detections``), its tiles' info and the true buildings."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_detections / 1.33)))
    truth = _buildings(side, rng)
    transforms, tile_ids, footprints = _tiles(side * CELL)
    b, t = shapely.STRtree(footprints).query(truth, predicate="intersects")
    inside = shapely.contains_properly(footprints[t], truth[b])
    geoms = truth[b].copy()
    geoms[~inside] = shapely.intersection(truth[b[~inside]], footprints[t[~inside]])
    # The polygon step drops fragments under 1 m2, and a pixel mask cannot be thinner than a pixel.
    keep = (shapely.area(geoms) >= 1.0) & ~shapely.is_empty(shapely.buffer(geoms, -PIXEL / 2))
    b, t, geoms = b[keep], t[keep], _jitter(geoms[keep], rng)
    probs = rng.dirichlet([4.0, 1.0, 1.0], size=len(truth))[b] * 0.9
    probs = np.clip(probs + rng.normal(0, 0.02, probs.shape), 0.001, 1)
    best = probs.argmax(axis=1)
    frame = gpd.GeoDataFrame({"tile_id": np.asarray(tile_ids, dtype=object)[t],
                              "class_name": np.asarray(CLASS_NAMES, dtype=object)[best],
                              "score": probs[np.arange(len(b)), best],
                              **{c: probs[:, k] for k, c in enumerate(SCORE_COLUMNS)},
                              "geometry": geoms}, geometry="geometry", crs=CRS)
    info = {"footprints": dict(zip(tile_ids, footprints)), "pixel_size": PIXEL}
    return frame, {"info": info, "transforms": dict(zip(tile_ids, transforms))}, truth


def _buildings(side: int, rng: np.random.Generator) -> np.ndarray:
    """One rotated rectangle per grid cell, 1.5 m apart at least; 10% span two cells (long buildings)."""
    rows, cols = np.divmod(np.arange(side * side), side)
    long = (cols % 2 == 0) & (cols + 1 < side) & (rng.random(side * side) < 0.1)
    skip = np.zeros(side * side, bool)
    skip[np.flatnonzero(long) + 1] = True
    rows, cols, long = rows[~skip], cols[~skip], long[~skip]
    span = np.where(long, 2 * CELL, CELL) - 2.0
    angle = rng.uniform(-0.35, 0.35, len(rows))
    length = np.where(long, rng.uniform(40, 66, len(rows)), rng.uniform(5, 30, len(rows)))
    width = rng.uniform(5, 30, len(rows))
    c, s = np.abs(np.cos(angle)), np.abs(np.sin(angle))
    fit_x, fit_y = span / (length * c + width * s), (CELL - 2.0) / (length * s + width * c)
    scale = np.minimum(1, np.minimum(fit_x, fit_y))
    length, width = length * scale, width * scale
    cx = X0 + cols * CELL + span / 2 + 1.0
    cy = Y0 - rows * CELL - CELL / 2
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) / 2
    dx = corners[None, :, 0] * length[:, None]
    dy = corners[None, :, 1] * width[:, None]
    x = cx[:, None] + dx * np.cos(angle)[:, None] - dy * np.sin(angle)[:, None]
    y = cy[:, None] + dx * np.sin(angle)[:, None] + dy * np.cos(angle)[:, None]
    return shapely.polygons(np.stack([x, y], axis=-1))


def _tiles(extent: float) -> tuple[list, list[str], np.ndarray]:
    """Tiles of 512 px with 64 px overlap covering ``extent`` metres square (north-up, 0.5 m)."""
    from affine import Affine

    step = (TILE_PX - OVERLAP_PX) * PIXEL
    n = int(np.ceil((extent - OVERLAP_PX * PIXEL) / step))
    transforms, ids = [], []
    for r in range(n):
        for c in range(n):
            transforms.append(Affine(PIXEL, 0, X0 + c * step, 0, -PIXEL, Y0 - r * step))
            ids.append(f"synthetic_r{r:04d}_c{c:04d}")
    return transforms, ids, np.array([footprint(t, TILE_PX, TILE_PX) for t in transforms])


def _jitter(geoms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sub-pixel shift per detection: two tiles never report exactly the same polygon."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    shift = rng.uniform(-0.1, 0.1, (len(geoms), 2))
    return shapely.set_coordinates(geoms.copy(), coords + shift[index])


def tile_documents(frame: gpd.GeoDataFrame, tiles: dict) -> list[dict]:
    """The per-tile JSON documents (as ``json.load`` returns them) that ``detections_frame`` reads."""
    docs = []
    for tile_id, part in frame.groupby("tile_id", sort=True):
        instances = [{"class": r.class_name, "score": r.score,
                      "scores": {n: getattr(r, c) for n, c in zip(CLASS_NAMES, SCORE_COLUMNS)},
                      "geometry": mapping(r.geometry)} for r in part.itertuples()]
        docs.append({"tile_id": tile_id, "image_id": "synthetic", "crs": CRS,
                     "transform": list(tiles["transforms"][tile_id])[:6], "width": TILE_PX,
                     "height": TILE_PX, "instances": instances})
    return json.loads(json.dumps(docs))


def reference(frame: gpd.GeoDataFrame) -> np.ndarray:
    """STRtree intersects self-query, IoU >= 0.5, connected components, union_all per group."""
    geoms = np.asarray(frame.geometry.values)
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    inter = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    iou = inter / (shapely.area(geoms[i]) + shapely.area(geoms[j]) - inter)
    same = iou >= 0.5
    n = len(geoms)
    _, group = connected_components(coo_matrix((np.ones(same.sum()), (i[same], j[same])), shape=(n, n)),
                                    directed=False)
    order = np.argsort(group, kind="stable")
    members = np.split(order, np.flatnonzero(np.diff(group[order])) + 1)
    return np.array([shapely.union_all(geoms[m]) for m in members], dtype=object)


def correctness(merged: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Counts against the truth: buildings split (duplicates / fragments), missed, wrongly joined."""
    m, t = shapely.STRtree(truth).query(merged, predicate="intersects")
    area = shapely.area(shapely.intersection(merged[m], truth[t]))
    m, t, area = m[area > 1e-6], t[area > 1e-6], area[area > 1e-6]
    iou = area / (shapely.area(merged[m]) + shapely.area(truth[t]) - area)
    pieces = np.bincount(t, minlength=len(truth))
    whole = np.bincount(t, weights=iou >= 0.5, minlength=len(truth))
    split = pieces >= 2
    return {"buildings": len(truth), "merged": len(merged),
            "duplicates": int((split & (whole >= 2)).sum()), "fragments": int((split & (whole < 2)).sum()),
            "missed": int((pieces == 0).sum()),
            "wrong_joins": int((np.bincount(m, minlength=len(merged)) >= 2).sum())}


def run_candidate(name: str, frame: gpd.GeoDataFrame, tiles: dict, docs: list | None = None):
    if name == "footprints":
        return merge_detections(frame, tiles["info"], PARAMS).geometry.values
    if name == "reference":
        return reference(frame)
    if name == "blocks":
        return merge_blocks(frame, tiles["info"], PARAMS, block_size=8 * (TILE_PX - OVERLAP_PX) * PIXEL
                            ).geometry.values
    if name == "detections_frame":
        return detections_frame(docs)[0]
    raise ValueError(name)


def timed(name: str, *args) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    result = run_candidate(name, *args)
    return time.perf_counter() - start, result


def child(name: str, path: str) -> None:
    """Fresh process: load the input, run one candidate once, print RSS after loading and peak RSS (MB)."""
    with open(path, "rb") as handle:
        frame, tiles = pickle.load(handle)
    docs = None
    if name == "detections_frame":
        with open(path + ".docs", "rb") as handle:
            docs = pickle.load(handle)
    gc.collect()
    loaded = _status_mb("VmRSS")
    run_candidate(name, frame, tiles, docs)
    print(json.dumps({"loaded_mb": loaded, "peak_mb": _status_mb("VmHWM")}))


def _status_mb(field: str) -> float:
    """RSS now / peak RSS of this process. ``VmHWM`` is the peak of this process image only; ``ru_maxrss``
    would start at the parent's RSS at fork (the driver holds the data), which hides a small child's peak."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def peak_memory(name: str, path: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", name, "--input", path],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(n: int, repeat: int, names: list[str], seed: int) -> tuple[dict, dict, dict, np.ndarray, tuple]:
    frame, tiles, truth = synthetic(n, seed)
    docs = tile_documents(frame, tiles) if "detections_frame" in names else None
    times: dict[str, list[float]] = {name: [] for name in names}
    results = {}
    for _ in range(repeat):
        for name in names:
            seconds, results[name] = timed(name, frame, tiles, docs)
            times[name].append(seconds)
    return {k: statistics.median(v) for k, v in times.items()}, results, times, truth, (frame, tiles, docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detections", type=int, default=60000, help="about this many detections")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved timed runs per candidate (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-memory", action="store_true", help="skip the child-process peak RSS runs")
    parser.add_argument("--no-linearity", action="store_true", help="skip the run at a quarter of the size")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.input)

    names = ["footprints", "reference", "blocks", "detections_frame"]
    medians, results, times, truth, data = measure(args.detections, args.repeat, names, args.seed)
    frame = data[0]
    n = len(frame)
    extra = 1 - len(truth) / n
    print(f"{n} detections of {len(truth)} buildings ({extra:.0%} duplicates/fragments), "
          f"{len(data[1]['info']['footprints'])} tiles; median of {args.repeat} interleaved runs")
    print(f"{'candidate':18s} {'median s':>9s} {'runs s':>24s} {'us/det':>7s} {'x ref':>6s}")
    for name in names:
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:18s} {medians[name]:9.2f} {runs:>24s} {1e6 * medians[name] / n:7.1f} "
              f"{medians[name] / medians['reference']:6.2f}")
    print("\ncorrectness against the synthetic truth")
    for name in ["footprints", "blocks", "reference"]:
        print(f"  {name:12s} {correctness(np.asarray(results[name]), truth)}")
    same = shapely.equals(np.asarray(results["footprints"]), np.asarray(results["blocks"])).all() \
        if len(results["footprints"]) == len(results["blocks"]) else False
    print(f"  blocks == whole image (same buildings, same order): {bool(same)}")

    if not args.no_memory:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "input.pkl")
            with open(path, "wb") as handle:
                pickle.dump(data[:2], handle, protocol=pickle.HIGHEST_PROTOCOL)
            with open(path + ".docs", "wb") as handle:
                pickle.dump(data[2], handle, protocol=pickle.HIGHEST_PROTOCOL)
            del data, results
            gc.collect()
            mem = {name: peak_memory(name, path) for name in names}
        print("\npeak RSS, each candidate in a fresh process (MB)")
        print(f"{'candidate':18s} {'loaded':>8s} {'peak':>8s} {'work':>8s} {'peak x ref':>11s} "
              f"{'work x ref':>11s}")
        ref = mem["reference"]
        for name in names:
            m = mem[name]
            work = m['peak_mb'] - m['loaded_mb']
            print(f"{name:18s} {m['loaded_mb']:8.0f} {m['peak_mb']:8.0f} {work:8.0f} "
                  f"{m['peak_mb'] / ref['peak_mb']:11.2f} "
                  f"{work / max(ref['peak_mb'] - ref['loaded_mb'], 1):11.2f}")

    if not args.no_linearity:
        small, _, _, _, small_data = measure(args.detections // 4, args.repeat, ["footprints", "reference"],
                                             args.seed)
        n_small = len(small_data[0])
        print(f"\nlinearity: {n_small} -> {n} detections ({n / n_small:.2f}x data)")
        for name in ["footprints", "reference"]:
            print(f"  {name:12s} {small[name]:7.2f} s -> {medians[name]:7.2f} s  "
                  f"({medians[name] / small[name]:.2f}x time)")


if __name__ == "__main__":
    main()
