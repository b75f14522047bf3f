"""End-to-end learning proof: the project's model, trained by the training node on two real drone tiles until it
fits them, finds their buildings again through the inference node (polygons per tile), the cross-tile merge and
the reporting node's scoring: all-buildings F1 at IoU 0.5 >= 0.8 against their OSM labels.

This proves detections survive every step from weights to the challenge CSV on real imagery: band selection
and normalisation, the class-score RoI heads, score and mask thresholds, polygonising in map coordinates,
merging and matching. It is a memorisation test, not a generalisation one (benchmarks/learning.py scores
held-out ground). Tiles are 256 px of Zanzibar at 7.4 cm, from the project's own tiling and label nodes.
"""

from __future__ import annotations

import json

import pytest

from footprints.evaluation.matching import ALL_BUILDINGS
from footprints.pipelines.inference.nodes import merge_tile_predictions, predict_tiles, select_tiles
from footprints.pipelines.reporting.nodes import evaluation_frames, score_buildings, score_masks
from footprints.pipelines.training.nodes import train_model
from tests.conftest import project_params
from tests.model.real_tiles import busiest_apart, lazy, real_tiles, split_of

TILE = 256
# v1 from scratch, no augmentation (memorising 2 tiles, not 16 views of them), AdamW: fits in about 50 steps.
TRAINING = {"arch": "maskrcnn_resnet50_fpn", "input_scale": 1.0, "pretrained": "none", "optimizer": "adamw",
            "lr": 3e-4, "weight_decay": 1e-4, "augment": False, "epochs": 50, "batch_size": 2, "num_workers": 0,
            "device": "cpu", "torch_threads": 2, "checkpoint_dir": None}


@pytest.mark.slow
def test_model_fits_real_tiles_and_finds_their_buildings_through_inference_merge_and_scoring(tmp_path):
    data = real_tiles(tmp_path, "zanzibar", "zanzibar_1", TILE, 32)
    fitted = busiest_apart(data["labelled"], 3)
    train, val = fitted[:2], fitted[2]  # the training node wants a validation tile for its loss curve
    split = split_of(data["labelled"], {train[0]: "train", train[1]: "train", val: "val"})
    weights, history, _, provenance = train_model(data["tiles"], data["instance_masks"], split, None, None,
                                                  {**project_params("training"), **TRAINING})
    assert provenance["weights_origin"] == "scratch" and provenance["train_tiles"] == 2

    # predict, merge and score the two training tiles only, as the pipelines would their validation tiles
    scored = split[split.tile_id.isin(train)].assign(split="val")
    params = {**project_params("inference"), "device": "cpu"}
    run = {"run_id": None, "experiment_id": None}
    documents, chosen = predict_tiles(data["tiles"], select_tiles(data["tile_index"], scored, params), weights, {},
                                      run, params)
    documents = {tile_id: lazy(make()) for tile_id, make in documents.items()}
    gpkg, _, csv, _ = merge_tile_predictions(documents, chosen, {"zanzibar_1": data["source"].load}, run, params)
    buildings = {image: lazy(frame.assign(tile_ids=frame.tile_ids.map(json.dumps)))  # as stored in the GPKG
                 for image, frame in gpkg.items()}
    frames = evaluation_frames(buildings, data["label_database"], data["tile_index"], scored)
    per_class, _ = score_buildings(frames, project_params("reporting"))
    everything = per_class.set_index("class_name").loc[ALL_BUILDINGS]
    masks = score_masks(documents, data["instance_masks"], data["tile_index"], scored)

    summary = {"f1": everything.f1, "truth": everything.n_truth, "pred": everything.n_pred,
               "mask_map_50": masks["map_50"], "loss": history.loss.round(3).tolist()}
    assert everything.n_truth >= 6, summary  # real buildings, not an empty tile
    assert everything.f1 >= 0.8, summary
    assert len(csv["zanzibar_1"]) == len(gpkg["zanzibar_1"])  # one challenge CSV row per merged building
