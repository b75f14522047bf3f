"""Learning sanity on the real shipped sample: a few steps on its labelled tiles lower the loss.

The tiles, instances and masks come from the project's own preprocessing and labels code (256 px tiles so
steps stay short on a 2-core CPU); the model is the small v1 of these tests, from scratch.
"""

from __future__ import annotations

import pytest

from functools import partial

import numpy as np
import torch
from model_helpers import small_model

from footprints.datasets.raster import GeoTIFFDataset
from footprints.datasets.vector import VectorFileDataset
from footprints.model import TileDataset, TileSample, collate_fn, fit, seed_everything
from footprints.pipelines.labels.nodes import build_instance_masks, clean_labels, query_tile_labels
from footprints.pipelines.preprocessing.nodes import tile_images
from footprints.tile_data import NODATA, tile_pixels
from tests.conftest import SAMPLE_IMAGE, SAMPLE_LABELS, project_params

pytestmark = pytest.mark.slow  # whole kedro runs / training: `pytest -m "not slow"` skips them

SIZE = 256


def labelled_samples(tmp_path) -> list[TileSample]:
    source = GeoTIFFDataset(filepath=str(SAMPLE_IMAGE), lazy=True)
    tiles, index = tile_images({"tanzania_sample": source.load}, {},
                               {**project_params("preprocessing"), "tile_size": SIZE, "overlap": 32})
    labels, _ = clean_labels(VectorFileDataset(filepath=str(SAMPLE_LABELS)).load(), index, project_params("labels"))
    store = VectorFileDataset(filepath=str(tmp_path / "labels.gpkg"), layer="labels", lazy=True)
    store.save(labels)
    instances, labelled = query_tile_labels(store.load(), index)
    masks = build_instance_masks(instances, labelled)
    busiest = labelled.sort_values("n_instances", ascending=False).tile_id[:2]
    return [TileSample(t, partial(tile_pixels, tiles[t]), partial(_target, masks[t]), NODATA) for t in busiest]


def _target(load):
    masks = load()
    return masks.masks, masks.class_ids


def test_loss_goes_down_on_the_shipped_sample(tmp_path):
    seed_everything(0)
    params = project_params("training")
    dataset = TileDataset(labelled_samples(tmp_path), params["bands"], params["mean"], params["std"])
    batch = [collate_fn([dataset[i] for i in range(len(dataset))])]
    assert all(len(target["boxes"]) for target in batch[0][1])  # real buildings on both tiles
    model = small_model()
    model.transform.min_size, model.transform.max_size = (SIZE,), SIZE
    history = fit(model, batch, None, epochs=14, lr=0.01, weight_decay=1e-4, device=torch.device("cpu"),
                  warmup_steps=3, progress=False)
    losses = [metrics["loss"] for metrics in history]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses
