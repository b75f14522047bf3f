#!/usr/bin/env python
"""Benchmark: the project's Dask stages on 2 local worker processes against 1 (speed-up printed).

Stages, each exactly as the pipelines run them (``footprints.distributed`` picks up the current client):

- ``tiling``: ``tile_images`` (hash + valid fraction per block of windows) and ``TileImagesDataset.save``
  (batches of tiles read, deflated and written on the workers) on a generated SIZE x SIZE RGB GeoTIFF;
- ``inference``: ``predict_tiles`` with ``inference.shards`` on (shards of SHARD tiles, one model per worker,
  torch on one thread per worker as Dask's nanny sets it) and the save of its tile JSON, on TILES 256 px tiles
  of the Nairobi drone image with a seeded untrained model (``benchmarks/inference.py``);
- ``merge``: ``merge_images`` (one task per image reading its own tile JSON documents) on IMAGES synthetic
  images whose buildings are cut by a 512 px tile grid with 64 px overlap, as a model's tile detections are.

For each round, a cluster of 1 then of 2 single-threaded worker processes is started (``start_client``, as
``DaskHook`` does with ``processes: true``), warmed up (imports done on every worker), and both stages are
timed; rounds are interleaved and medians are printed. Cluster start-up is reported apart. Outputs of every
run are checked against the first (same tile bytes, same merged buildings). Ratios are printed, never
asserted.

    python benchmarks/dask_scaling.py                 # 8000 px raster, 16 tiles, 4 images of merge, 3 rounds
    python benchmarks/dask_scaling.py --size 4000 --repeat 1
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping

from footprints.classes import CLASS_NAMES
from footprints.datasets.documents import JSONDocumentDataset
from footprints.datasets.partitions import TileImagesDataset
from footprints.datasets.raster import GeoTIFFDataset
from footprints.distributed import close_client, start_client
from footprints.geo import tile_id
from footprints.pipelines.preprocessing.nodes import tile_images
from footprints.postprocess.merge_images import merge_images
from inference import make_tiles, project, seeded_weights, settings  # benchmarks/inference.py

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would interleave with the table
TILE, OVERLAP, PIXEL = 512, 64, 0.5
STAGES = ("start-up", "tiling", "inference", "merge")
MERGE = {"iou_threshold": 0.5, "shared_iou_threshold": 0.5, "edge_tolerance_px": 1.5}


def generate_raster(path: Path, size: int) -> None:
    """The tiling benchmark's generator (image-like pattern + noise, 256 px blocks, uncompressed)."""
    subprocess.run([sys.executable, str(ROOT / "benchmarks/tiling.py"), "--worker", "generate", "--path",
                    str(path), "--size", str(size)], check=True, stdout=subprocess.DEVNULL)


def write_documents(folder: Path, images: int, tiles_per_side: int, seed: int = 0) -> dict:
    """Tile documents of synthetic images: random 6-20 m buildings, each cut by every tile it touches."""
    rng = np.random.default_rng(seed)
    stride = (TILE - OVERLAP) * PIXEL
    side = stride * tiles_per_side + OVERLAP * PIXEL
    loaders = {}
    for i in range(images):
        image_id = f"synthetic{i:02d}"
        x0, y0 = 500000.0 + i * 10 * side, 9300000.0
        n = int(side * side / 900)  # about one building per 30 x 30 m
        cx, cy = rng.uniform(x0, x0 + side, n), rng.uniform(y0 - side, y0, n)
        half = rng.uniform(3, 10, n)
        buildings = shapely.box(cx - half, cy - half, cx + half, cy + half)
        tree = shapely.STRtree(buildings)
        for r in range(tiles_per_side):
            for c in range(tiles_per_side):
                left, top = x0 + c * stride, y0 - r * stride
                frame = shapely.box(left, top - TILE * PIXEL, left + TILE * PIXEL, top)
                parts = shapely.intersection(buildings[tree.query(frame, predicate="intersects")], frame)
                tid = tile_id(image_id, int(r * (TILE - OVERLAP)), int(c * (TILE - OVERLAP)))
                doc = {"tile_id": tid, "image_id": image_id, "crs": "EPSG:32737",
                       "metric_crs": "EPSG:32737", "transform": [PIXEL, 0.0, left, 0.0, -PIXEL, top],
                       "height": TILE, "width": TILE,
                       "model": {"synthetic": True},
                       "instances": [{"class": CLASS_NAMES[0], "score": 0.9,
                                      "scores": {name: float(k == 0) for k, name in enumerate(CLASS_NAMES)},
                                      "geometry": mapping(g)} for g in parts if g.area > 1.0]}
                ds = JSONDocumentDataset(filepath=str(folder / f"{tid}.json"))
                ds.save(doc)
                loaders[tid] = ds.load
    return loaders


def run_tiling(raster: Path, out: Path) -> str:
    shutil.rmtree(out, ignore_errors=True)
    tiles, _ = tile_images({raster.stem: GeoTIFFDataset(filepath=str(raster), lazy=True).load}, {},
                           {"tile_size": TILE, "overlap": OVERLAP, "min_valid_fraction": 0.02, "working_crs": None})
    TileImagesDataset(path=str(out), filename_suffix=".tif",
                      dataset="footprints.datasets.raster.GeoTIFFDataset").save(tiles)
    digest = hashlib.sha256()
    for path in sorted(out.glob("*.tif")):
        digest.update(path.name.encode() + path.read_bytes())
    return f"{len(tiles)} tiles, sha {digest.hexdigest()[:12]}"


def run_merge(loaders: dict) -> str:
    merged = merge_images(loaders, sorted(loaders), MERGE)
    n = sum(len(b) for b, _ in merged.values())
    geoms = shapely.normalize(np.concatenate([b.geometry.values for b, _ in merged.values()]))
    return f"{n} buildings, sha {hashlib.sha256(b''.join(shapely.to_wkb(geoms))).hexdigest()[:12]}"


def run_inference(inputs: tuple, out: Path) -> str:
    weights, tiles, index, params = inputs
    _, found = project(weights, tiles, index, params, out)
    return f"{len(index)} tiles, {found} detections"


def warm_up(client) -> None:
    """Imports on every worker before timing (a long run pays them once per worker)."""
    import importlib

    client.run(lambda: [importlib.import_module(m) for m in ("footprints.tiling", "footprints.datasets.partitions",
                                                             "footprints.postprocess.merge_images",
                                                             "footprints.tile_documents", "footprints.model.build")])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=8000, help="side of the tiling raster, pixels")
    ap.add_argument("--tiles", type=int, default=16, help="256 px tiles to predict")
    ap.add_argument("--shard", type=int, default=4, help="tiles per inference task")
    ap.add_argument("--images", type=int, default=4, help="synthetic images to merge")
    ap.add_argument("--tiles-per-side", type=int, default=8, help="tiles per side of each synthetic image")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (medians are printed)")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="footprints-dask-scaling-"))
    try:
        raster = work / "raw" / f"bench_{a.size}.tif"
        raster.parent.mkdir()
        generate_raster(raster, a.size)
        loaders = write_documents(work / "docs", a.images, a.tiles_per_side)
        tiles, index = make_tiles(work, 256, a.tiles)
        params = {**settings(argparse.Namespace(device="cpu", batch_size=4, score_threshold=0.05)),
                  "shards": {"enabled": True, "tiles": a.shard, "resources": None}}
        predicting = (seeded_weights(256), tiles, index, params)
        print(f"# tiling: {a.size} x {a.size} RGB ({raster.stat().st_size / 2**20:.0f} MiB), {TILE} px tiles, "
              f"overlap {OVERLAP}; inference: {a.tiles} tiles in shards of {a.shard}; merge: {a.images} images, "
              f"{len(loaders)} tile documents")
        times: dict[tuple[str, int], list[float]] = {}
        outputs: dict[str, set[str]] = {"tiling": set(), "inference": set(), "merge": set()}
        for rnd in range(a.repeat):
            for workers in (1, 2):
                t0 = time.perf_counter()
                client = start_client({"processes": True, "n_workers": workers, "threads_per_worker": 1,
                                       "local_directory": str(work / "dask")})
                try:
                    warm_up(client)
                    times.setdefault(("start-up", workers), []).append(time.perf_counter() - t0)
                    for stage, run in (("tiling", lambda: run_tiling(raster, work / "tiles")),
                                       ("inference", lambda: run_inference(predicting, work / "predicted")),
                                       ("merge", lambda: run_merge(loaders))):
                        t1 = time.perf_counter()
                        outputs[stage].add(run())
                        times.setdefault((stage, workers), []).append(time.perf_counter() - t1)
                finally:
                    close_client(client)
                print(f"  round {rnd + 1}, {workers} worker(s): "
                      + ", ".join(f"{s} {times[(s, workers)][-1]:.2f} s" for s in STAGES),
                      flush=True)
        print(f"\n{'stage':10s} {'1 worker s':>11s} {'2 workers s':>12s} {'speed-up':>9s}   (medians of {a.repeat})")
        for stage in STAGES:
            one, two = statistics.median(times[(stage, 1)]), statistics.median(times[(stage, 2)])
            print(f"{stage:10s} {one:11.2f} {two:12.2f} {one / two:8.2f}x")
        same = all(len(v) == 1 for v in outputs.values())
        print("outputs identical across all runs: " + ("yes" if same else f"NO {outputs}"))
        for stage, values in outputs.items():
            print(f"  {stage}: {sorted(values)[0]}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
