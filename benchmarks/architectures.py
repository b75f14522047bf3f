"""Architectures side by side: parameters, weights file size and model-only CPU seconds per 512 px tile.

Every architecture is timed in the same run, interleaved (A B C A B C ...), and the median is printed with
its ratio to ResNet-50 v1. The models are untrained, so their heads are set to keep at most
``--detections`` detections per tile, roughly what a trained model finds on a busy drone tile; an untrained
model would otherwise send every one of its proposals through the mask head.

    python benchmarks/architectures.py                 # 2 threads, 5 rounds
    python benchmarks/architectures.py --threads 2 --rounds 9 --detections 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from footprints.model import ModelWeights, build_model, save_weights  # noqa: E402

CASES = [("maskrcnn_resnet50_fpn", 1.0), ("maskrcnn_resnet50_fpn_v2", 1.0), ("maskrcnn_resnet18_fpn_gn", 1.0),
         ("maskrcnn_resnet18_fpn_gn", 0.5)]
TILE = 512


def file_sizes(model: torch.nn.Module) -> tuple[float, float]:
    """Size in MB of the safetensors file in float32 and in float16."""
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in (torch.float32, torch.float16):
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
            path = Path(tmp) / "w.safetensors"
            save_weights(ModelWeights(state), path)
            sizes.append(path.stat().st_size / 1e6)
    return sizes[0], sizes[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--detections", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {}
    for arch, scale in CASES:
        model = build_model(arch, tile_size=TILE, pretrained="none", input_scale=scale).eval()
        model.roi_heads.detections_per_img = args.detections
        models[(arch, scale)] = model
    tile = [torch.rand(3, TILE, TILE)]
    times: dict[tuple[str, float], list[float]] = {case: [] for case in CASES}
    with torch.no_grad():
        for model in models.values():
            model(tile)  # warm-up
        for _ in range(args.rounds):
            for case, model in models.items():
                started = time.perf_counter()
                model(tile)
                times[case].append(time.perf_counter() - started)
    reference = statistics.median(times[CASES[0]])
    print(f"{args.threads} threads, {args.rounds} rounds, at most {args.detections} detections per tile\n")
    print("| architecture | input scale | parameters | file fp32 | file fp16 | s / 512 px tile | vs v1 |")
    print("|---|---|---|---|---|---|---|")
    for (arch, scale), model in models.items():
        fp32, fp16 = file_sizes(model)
        seconds = statistics.median(times[(arch, scale)])
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"| {arch} | {scale} | {params:.1f} M | {fp32:.0f} MB | {fp16:.0f} MB | {seconds:.2f} | "
              f"{seconds / reference:.2f} |")


if __name__ == "__main__":
    main()
