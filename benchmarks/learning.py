"""Learning benchmark: train with the project's Kedro pipelines on real imagery, score held-out ground.

Trains on the four-city OpenAerialMap/OpenStreetMap data (tests/data/oam_osm_four_cities) except Zanzibar
image ``zanzibar_2``, which is held out with the shipped Tanzania sample; then predicts both and scores each
(F1 at IoU 0.5 over all buildings, COCO mask AP). Everything runs through ``kedro run`` in a temporary copy of
the project (its own data folder and MLflow store): preprocessing + labels, then training + inference +
reporting as one MLflow run. The figures are printed against the training time.

    python benchmarks/learning.py --config cpu          # ~40 min on 2 CPU cores (at most 45)
    python benchmarks/learning.py --config gpu          # ~8 min of training on one GPU
    python benchmarks/learning.py --config cpu --epochs 2 --keep /tmp/bench   # shorter; keep the copy
    python benchmarks/learning.py --curve /tmp/bench/project   # score the snapshots of a run made earlier

The CPU configuration trains the compact Mask R-CNN (ResNet-18 FPN with GroupNorm, tiles seen at half
resolution) from scratch on short epochs of random 512 px tiles, favouring tiles with buildings. The weights
are kept every ``snapshot_every`` epochs; each snapshot is then run through the inference pipeline and scored,
which gives the learning curve (held-out F1 and mask AP against training minutes), printed and saved as
``learning_curve.png``. A run killed half-way resumes from its last epoch with the same ``--keep`` folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
CITIES = ROOT / "tests/data/oam_osm_four_cities"
SAMPLE = ROOT / "data/01_raw"
HELD_OUT = ["zanzibar_2", "tanzania_sample"]

# Parameter overrides per configuration: {pipeline: {key: value}} on top of conf/base.
CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        "preprocessing": {"tile_size": 512, "overlap": 64},
        "training": {"arch": "maskrcnn_resnet18_fpn_gn", "input_scale": 0.5, "pretrained": "none", "epochs": 10,
                     "samples_per_epoch": 128, "empty_tile_weight": 0.2, "val_loss_tiles": 16, "batch_size": 4,
                     "optimizer": "adamw", "lr": 5e-4, "weight_decay": 1e-4, "num_workers": 1,
                     "torch_threads": 2, "device": "cpu", "snapshot_every": 2},
        "inference": {"device": "cpu", "batch_size": 4},
    },
    "gpu": {
        "preprocessing": {"tile_size": 512, "overlap": 64},
        "training": {"arch": "maskrcnn_resnet50_fpn", "epochs": 24, "samples_per_epoch": None, "val_loss_tiles": 64,
                     "batch_size": 8,
                     "lr": 0.02, "num_workers": 8, "device": "cuda", "amp": True, "snapshot_every": 6},
        "inference": {"device": "cuda", "batch_size": 16},
    },
}


def make_project(where: Path) -> Path:
    """A copy of conf, src and pyproject plus raw data: the eight city rasters, the sample, all labels."""
    root = where / "project"
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"), dirs_exist_ok=True)
    (root / "conf/local").mkdir(exist_ok=True)
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
                    dirs_exist_ok=True)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    images, labels = root / "data/01_raw/images", root / "data/01_raw/labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    for tif in sorted(CITIES.glob("*/*.tif")) + [SAMPLE / "images/tanzania_sample.tif"]:
        shutil.copy(tif, images / tif.name)
    # OSM labels have no class attribute: every one is a building, traced whole ("Complete").
    frames = [gpd.read_file(path).to_crs("EPSG:4326").assign(condition="Complete")[["condition", "geometry"]]
              for path in sorted(CITIES.glob("*/labels.geojson"))]
    frames.append(gpd.read_file(SAMPLE / "labels/tanzania_sample.geojson").to_crs("EPSG:4326")[["condition",
                                                                                                  "geometry"]])
    pd.concat(frames, ignore_index=True).pipe(gpd.GeoDataFrame, crs="EPSG:4326").to_file(
        labels / "all.geojson", driver="GeoJSON")
    with open(root / "conf/local/catalog.yml", "w") as handle:
        yaml.safe_dump({"raw_labels": {"type": "footprints.datasets.vector.VectorFileDataset",
                                       "filepath": "data/01_raw/labels/all.geojson"}}, handle)
    return root


def write_params(root: Path, overrides: dict[str, dict[str, Any]]) -> None:
    """conf/local/parameters.yml: each pipeline's base parameters with the configuration's changes."""
    params = {}
    for name in ("preprocessing", "labels", "training", "inference", "reporting"):
        with open(root / f"conf/base/parameters_{name}.yml") as handle:
            params[name] = yaml.safe_load(handle)[name] | overrides.get(name, {})
    params["labels"]["split"] = params["labels"]["split"] | {"val_images": HELD_OUT}
    with open(root / "conf/local/parameters.yml", "w") as handle:
        yaml.safe_dump(params, handle)


def kedro_run(root: Path, pipelines: str, log, params: str | None = None) -> float:
    """``kedro run`` of ``pipelines`` (``--params params``) in the copy, output appended to ``log``; seconds."""
    env = os.environ | {"PYTHONPATH": str(root / "src"), "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
                        "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    started = time.perf_counter()
    log.write(f"\n$ kedro run --pipelines {pipelines}\n")
    log.flush()
    kedro = str(Path(sys.executable).with_name("kedro"))
    extra = ["--params", params] if params else []
    done = subprocess.run([kedro, "run", "--pipelines", pipelines, *extra], cwd=root, env=env,
                          stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"kedro run --pipelines {pipelines} failed ({done.returncode}); see {log.name}")
    return time.perf_counter() - started


def score_each_held_out_image(root: Path) -> dict[str, dict[str, float]]:
    """All-buildings P/R/F1 at IoU 0.5 and mask AP per held-out image, with the project's reporting nodes."""
    sys.path.insert(0, str(root / "src"))
    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from footprints.evaluation.matching import ALL_BUILDINGS
    from footprints.pipelines.reporting.nodes import evaluation_frames, score_buildings, score_masks

    bootstrap_project(root)
    with KedroSession.create(project_path=root) as session:
        catalog = session.load_context().catalog
        loaded = {name: catalog.load(name) for name in ("buildings_gpkg", "label_database", "tile_index",
                                                        "tile_split", "tile_predictions", "instance_masks")}
        iou = catalog.load("params:reporting")["iou_threshold"]
    split = loaded["tile_split"]
    scores = {}
    for image_id in HELD_OUT:
        only = split.assign(split=split.split.where(split.image_id == image_id, "other"))
        frames = evaluation_frames(loaded["buildings_gpkg"], loaded["label_database"], loaded["tile_index"], only)
        per_class, _ = score_buildings(frames, {"iou_threshold": iou})
        everything = per_class.set_index("class_name").loc[ALL_BUILDINGS]
        masks = score_masks(loaded["tile_predictions"], loaded["instance_masks"], loaded["tile_index"], only)
        scores[image_id] = {"truth": sum(len(f["truth"]) for f in frames.values()),
                            "predicted": sum(len(f["pred"]) for f in frames.values()),
                            **{k: float(everything[k]) for k in ("precision", "recall", "f1")},
                            "mask_ap": masks.get("map", float("nan")), "mask_ap50": masks.get("map_50", float("nan"))}
    return scores


def learning_curve(root: Path, log) -> list[dict[str, Any]]:
    """Held-out scores of every weight snapshot of the run in ``root``, against its training minutes."""
    history = pd.read_csv(root / "data/08_reporting/training_history.csv")
    minutes = history.set_index("epoch").epoch_seconds.cumsum() / 60
    points = []
    for snapshot in sorted((root / "data/06_models/checkpoints").glob("*_epoch*.safetensors")):
        epoch = int(snapshot.stem.rsplit("_epoch", 1)[1])
        kedro_run(root, "inference", log, params=f"model_uri={snapshot}")
        points.append({"epoch": epoch, "minutes": float(minutes.loc[epoch]), "scores": score_each_held_out_image(root)})
        print(f"epoch {epoch:3d}  {points[-1]['minutes']:6.1f} min  " + "  ".join(
            f"{image}: F1 {s['f1']:.3f} mask AP {s['mask_ap']:.3f}" for image, s in points[-1]["scores"].items()),
            flush=True)
    return points


def plot_curve(points: list[dict[str, Any]], path: Path) -> None:
    """Held-out F1 (solid) and mask AP (dashed) per image against training minutes, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=110)
    for image_id in HELD_OUT:
        x = [p["minutes"] for p in points]
        line, = axis.plot(x, [p["scores"][image_id]["f1"] for p in points], marker="o", label=f"{image_id} F1@0.5")
        axis.plot(x, [p["scores"][image_id]["mask_ap"] for p in points], linestyle="--", color=line.get_color(),
                  label=f"{image_id} mask AP")
    axis.set(xlabel="training minutes (2 CPU cores)", ylabel="held-out score", ylim=(0, 1),
             title="Learning curve: held-out Zanzibar image and Tanzania sample")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def report_curve(root: Path, where: Path) -> None:
    with open(where / "kedro.log", "a") as log:
        points = learning_curve(root, log)
    if points:
        plot_curve(points, where / "learning_curve.png")
        (where / "learning_curve.json").write_text(json.dumps(points, indent=1))
        print(f"learning curve: {where / 'learning_curve.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    parser.add_argument("--epochs", type=int, help="override the configuration's epochs (a shorter run)")
    parser.add_argument("--keep", type=Path, help="build the project copy here and keep it (default: a temp dir)")
    parser.add_argument("--curve", type=Path, help="only score the snapshots of the project copy made earlier here")
    args = parser.parse_args()
    if args.curve:
        report_curve(args.curve.resolve(), args.curve.resolve().parent)
        return
    overrides = {name: dict(values) for name, values in CONFIGS[args.config].items()}
    if args.epochs:
        overrides["training"]["epochs"] = args.epochs
    where = args.keep or Path(tempfile.mkdtemp(prefix="footprints-learning-"))
    where.mkdir(parents=True, exist_ok=True)
    root = where / "project" if (where / "project").is_dir() else make_project(where)
    write_params(root, overrides)
    print(f"config {args.config}: {json.dumps(overrides)}\nproject copy: {root}", flush=True)
    with open(where / "kedro.log", "a") as log:
        prep = kedro_run(root, "preprocessing,labels", log)
        rest = kedro_run(root, "training,inference,reporting", log)
    trained = json.loads((root / "data/08_reporting/training_provenance.json").read_text())
    scores = score_each_held_out_image(root)
    print(f"\npreprocessing + labels {prep / 60:.1f} min; training + inference + reporting {rest / 60:.1f} min")
    print(f"weights from {trained['weights_origin']}; trained {trained['epochs']} epochs in "
          f"{trained['training_seconds'] / 60:.1f} min on {trained['train_tiles']} tiles "
          f"({trained['train_instances']} building instances) of {', '.join(trained['train_images'])}")
    print(f"\n| held-out image | truth | predicted | precision | recall | F1@IoU0.5 | mask AP | mask AP50 "
          f"| training min |\n|---|---|---|---|---|---|---|---|---|")
    for image_id, s in scores.items():
        print(f"| {image_id} | {s['truth']} | {s['predicted']} | {s['precision']:.3f} | {s['recall']:.3f} "
              f"| {s['f1']:.3f} | {s['mask_ap']:.3f} | {s['mask_ap50']:.3f} | {trained['training_seconds'] / 60:.1f} |")
    report_curve(root, where)
    print(f"\nkedro log: {where / 'kedro.log'}; MLflow store: {root / 'mlflow.db'}")


if __name__ == "__main__":
    main()
