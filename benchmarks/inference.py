#!/usr/bin/env python
"""Benchmark: the inference node end to end against the model alone, on real drone tiles.

- ``model only`` (reference): the model's forward pass over the same tiles, already in memory as normalised
  tensors, batched as the node batches them: what torchvision does at best on this device;
- ``footprints``: the ``predict_tiles`` node and the save of its documents through ``TileDocumentsDataset``,
  as ``kedro run`` does: GeoTIFF tiles read, normalised, the model, masks cut to valid pixels, polygons in
  map coordinates, one JSON per tile written (reading and polygonising overlap with the model in threads).

Rounds are interleaved (reference, project, project at ``--scale`` x the tiles) and medians printed: the
throughput ratio project / model only (target >= 0.9) and the time ratio at ``--scale`` x the tiles
(target <= 4.5 at 4x). Tiles are 256 px (``--tile-size``) of the Nairobi drone image shipped for the tests.
The model is a seeded untrained v1 Mask R-CNN, or ``--weights FILE`` (weights the training pipeline wrote);
``--score-threshold 0.05`` (default) polygonises every detection the model returns, the heaviest case.

    python benchmarks/inference.py                      # 16 tiles of 256 px, 3 rounds, CPU
    python benchmarks/inference.py --tile-size 512 --tiles 8 --device cuda --batch-size 16
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would interleave with the table

import torch  # noqa: E402

from footprints.datasets.documents import JSONDocumentDataset  # noqa: E402
from footprints.datasets.partitions import TileDocumentsDataset, TileImagesDataset  # noqa: E402
from footprints.datasets.raster import GeoTIFFDataset  # noqa: E402
from footprints.model import Normalizer, build_model, read_weights, resolve_device  # noqa: E402
from footprints.model.weights import ModelWeights  # noqa: E402
from footprints.pipelines.inference.nodes import predict_tiles  # noqa: E402
from footprints.pipelines.preprocessing.nodes import tile_images  # noqa: E402
from footprints.tile_data import NODATA, tile_pixels  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "tests/data/oam_osm_four_cities/nairobi/nairobi_1.tif"
ARCH = "maskrcnn_resnet50_fpn"


def make_tiles(work: Path, tile_size: int, count: int) -> tuple[dict, object]:
    """``count`` whole tiles of the drone image, written by the project's tiling; their loaders and index."""
    source = GeoTIFFDataset(filepath=str(IMAGE), lazy=True)
    tiles, index = tile_images({IMAGE.stem: source.load}, {},
                               {"tile_size": tile_size, "overlap": 0, "min_valid_fraction": 1.0})
    index = index.sort_values("tile_id").head(count)
    if len(index) < count:
        raise SystemExit(f"{IMAGE.name} has only {len(index)} whole {tile_size} px tiles; ask for fewer")
    folder = TileImagesDataset(path=str(work / "inference_tiles"), filename_suffix=".tif",
                               dataset=GeoTIFFDataset.__module__ + ".GeoTIFFDataset")
    folder.save({tile_id: tiles[tile_id] for tile_id in index.tile_id})
    return folder.load(), index


def seeded_weights(tile_size: int) -> ModelWeights:
    torch.manual_seed(0)
    model = build_model(ARCH, tile_size=tile_size, pretrained="none")
    config = {"arch": ARCH, "tile_size": tile_size, "bands": [1, 2, 3], "mean": [120.0, 120.0, 120.0],
              "std": [60.0, 60.0, 60.0]}
    return ModelWeights(model.state_dict(), config, "seeded-untrained")


def settings(a: argparse.Namespace) -> dict:
    """The project's inference parameters with the benchmark's device, batch and threshold."""
    import yaml

    params = yaml.safe_load((ROOT / "conf/base/parameters_inference.yml").read_text())["inference"]
    return {**params, "device": a.device, "batch_size": a.batch_size, "score_threshold": a.score_threshold}


def model_only(weights: ModelWeights, tiles: dict, index, params: dict) -> float:
    """Seconds of the bare forward pass over the tiles (tensors prepared beforehand, model built before)."""
    config, device = weights.config, resolve_device(params["device"])
    model = build_model(ARCH, tile_size=int(index.width.iloc[0]), pretrained="none",
                        state_dict=weights.state_dict).eval().to(device)
    model.roi_heads.detections_per_img = params["detections_per_tile"]
    normalizer = Normalizer(config["bands"], config["mean"], config["std"])
    tensors = [normalizer(tile_pixels(tiles[t]), NODATA).to(device) for t in index.tile_id]
    batch = params["batch_size"]
    synchronize(device)
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(tensors), batch):
            model(tensors[start:start + batch])
    synchronize(device)
    return time.perf_counter() - started


def project(weights: ModelWeights, tiles: dict, index, params: dict, out: Path) -> tuple[float, int]:
    """Seconds of the inference node plus the save of its documents; detections written."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    documents, _ = predict_tiles(tiles, index, weights, {}, {"run_id": None, "experiment_id": None}, params)
    folder = TileDocumentsDataset(path=str(out), filename_suffix=".json",
                                  dataset=JSONDocumentDataset.__module__ + ".JSONDocumentDataset")
    folder.save(documents)
    seconds = time.perf_counter() - started
    return seconds, sum(len(load()["instances"]) for load in folder.load().values())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiles", type=int, default=16, help="tiles of the 1x run")
    ap.add_argument("--tile-size", type=int, default=256)
    ap.add_argument("--scale", type=int, default=4, help="the project also runs on this many times the tiles")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--score-threshold", type=float, default=0.05)
    ap.add_argument("--weights", type=Path, help="a weights file from the training pipeline (default: untrained)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (medians are printed)")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="footprints-inference-"))
    try:
        weights = read_weights(a.weights) if a.weights else seeded_weights(a.tile_size)
        tiles, index = make_tiles(work, a.tile_size, a.tiles * a.scale)
        one = index.head(a.tiles)
        params = settings(a)
        print(f"# {a.tiles} / {len(index)} tiles of {a.tile_size} px from {IMAGE.name}, batch {a.batch_size}, "
              f"{resolve_device(a.device)}, torch threads {torch.get_num_threads()}, weights {weights.source}")
        times: dict[str, list[float]] = {"model only": [], "footprints": [], f"footprints {a.scale}x": []}
        detections = set()
        for rnd in range(a.repeat):
            times["model only"].append(model_only(weights, tiles, one, params))
            seconds, found = project(weights, tiles, one, params, work / "out")
            times["footprints"].append(seconds)
            detections.add(found)
            times[f"footprints {a.scale}x"].append(project(weights, tiles, index, params, work / "out")[0])
            print(f"  round {rnd + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
        median = {k: statistics.median(v) for k, v in times.items()}
        print(f"\n{'run':16s} {'s':>7s} {'tiles/s':>8s}   (medians of {a.repeat})")
        for name, tiles_run in (("model only", a.tiles), ("footprints", a.tiles),
                                (f"footprints {a.scale}x", a.tiles * a.scale)):
            print(f"{name:16s} {median[name]:7.2f} {tiles_run / median[name]:8.3f}")
        print(f"\nthroughput footprints / model only: {median['model only'] / median['footprints']:.2f} "
              f"(target >= 0.9); detections written per run: {sorted(detections)} on {a.tiles} tiles")
        print(f"throughput at {a.scale}x the tiles / model only (its time taken as {a.scale}x its 1x time): "
              f"{a.scale * median['model only'] / median[f'footprints {a.scale}x']:.2f}: what is left at 1x is "
              "the per-run cost (weights fingerprint, model build, the first batch read, the last polygonised)")
        print(f"time at {a.scale}x the tiles / 1x: {median[f'footprints {a.scale}x'] / median['footprints']:.2f} "
              f"(target <= {1.125 * a.scale:.1f})")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
