"""Model building: weights round trip, clear one-line errors, COCO start from the cache or a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from model_helpers import TILE
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn
from torchvision.ops import FrozenBatchNorm2d

from footprints.model import WeightsError, build_model, load_weights, save_weights

V1 = "maskrcnn_resnet50_fpn"


@pytest.fixture(scope="module")
def v1_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "weights.safetensors"
    save_weights(build_model(V1, tile_size=TILE, pretrained="none"), path)
    return path


def test_weights_round_trip(v1_weights):
    saved = load_weights(v1_weights)
    model = build_model(V1, tile_size=TILE, pretrained="none", weights_path=v1_weights)
    restored = model.state_dict()
    assert saved.keys() == restored.keys()
    assert all(torch.equal(saved[key], restored[key]) for key in saved)
    assert [p.name for p in v1_weights.parent.iterdir()] == ["weights.safetensors"]  # no temp file left


def test_weights_for_other_classes_name_file_and_counts(tmp_path):
    path = tmp_path / "weights.safetensors"
    save_weights(build_model(V1, num_classes=3, tile_size=TILE, pretrained="none"), path)
    with pytest.raises(WeightsError, match=r"^weights\.safetensors has 3 classes, model expects 4$"):
        build_model(V1, num_classes=4, tile_size=TILE, weights_path=path)


def test_weights_for_other_architecture_say_which(v1_weights):
    with pytest.raises(
        WeightsError, match=r"holds maskrcnn_resnet50_fpn weights, model is maskrcnn_resnet50_fpn_v2"
    ):
        build_model("maskrcnn_resnet50_fpn_v2", tile_size=TILE, weights_path=v1_weights)


def test_missing_or_unreadable_weights_file(tmp_path):
    with pytest.raises(WeightsError, match=r"nope\.safetensors not found"):
        build_model(V1, tile_size=TILE, weights_path=tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a tensor file")
    with pytest.raises(WeightsError, match=r"junk\.safetensors is not a readable safetensors file"):
        load_weights(junk)


def test_coco_offline_raises_one_clear_line(torch_home):
    with pytest.raises(WeightsError) as raised:
        build_model(V1, tile_size=TILE, pretrained="coco")
    message = str(raised.value)
    assert "\n" not in message
    assert str(torch_home / "hub" / "checkpoints" / "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth") in message
    assert "could not be downloaded" in message and "pretrained: none" in message


def test_auto_offline_warns_once_and_starts_from_scratch(torch_home, caplog):
    with caplog.at_level(logging.WARNING):
        model = build_model(V1, tile_size=TILE, pretrained="auto")
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "training from scratch" in warnings[0].getMessage()
    assert all(parameter.requires_grad for parameter in model.backbone.body.parameters())


def test_coco_weights_from_the_cache_get_new_class_heads(torch_home):
    coco = maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None
    ).state_dict()  # stands in for the real file
    cached = torch_home / "hub" / "checkpoints" / Path(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url).name
    cached.parent.mkdir(parents=True)
    torch.save(coco, cached)

    model = build_model(V1, tile_size=TILE, pretrained="coco")
    state = model.state_dict()
    assert torch.equal(
        state["backbone.fpn.inner_blocks.0.0.weight"], coco["backbone.fpn.inner_blocks.0.0.weight"]
    )
    assert state["roi_heads.box_predictor.cls_score.weight"].shape[0] == 4
    assert state["roi_heads.mask_predictor.mask_fcn_logits.weight"].shape[0] == 4
    assert isinstance(model.backbone.body.bn1, FrozenBatchNorm2d)
    assert not model.backbone.body.conv1.weight.requires_grad  # 3 trainable stages by default
    assert model.backbone.body.layer4[0].conv1.weight.requires_grad

    four_bands = build_model(V1, tile_size=TILE, pretrained="coco", in_channels=4).backbone.body.conv1.weight
    rgb = coco["backbone.body.conv1.weight"]
    assert four_bands.shape[1] == 4
    assert torch.allclose(four_bands[:, :3], rgb * 3 / 4) and torch.allclose(
        four_bands[:, 3], rgb[:, 0] * 3 / 4
    )


COMPACT = "maskrcnn_resnet18_fpn_gn"


@pytest.mark.parametrize(("saved", "rebuilt"), [(COMPACT, "maskrcnn_resnet50_fpn_v2"), ("maskrcnn_resnet50_fpn_v2", COMPACT),
                                                (COMPACT, V1)])
def test_each_architecture_is_recognised_in_a_weights_file(tmp_path, saved, rebuilt):
    path = tmp_path / "weights.safetensors"
    save_weights(build_model(saved, tile_size=TILE, pretrained="none"), path)
    with pytest.raises(WeightsError, match=f"holds {saved} weights, model is {rebuilt}$"):
        build_model(rebuilt, tile_size=TILE, weights_path=path)


def test_compact_model_is_small_normalises_by_groups_and_predicts_full_size_masks_at_half_scale(tmp_path):
    model = build_model(COMPACT, tile_size=TILE, pretrained="auto", input_scale=0.5, in_channels=4)
    assert model.weights_origin == "scratch"  # torchvision has no COCO weights for it: no download tried
    assert sum(p.numel() for p in model.parameters()) < 16e6
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert model.transform.min_size == (TILE // 2,)
    path = tmp_path / "compact.safetensors"
    save_weights(model, path)
    restored = build_model(COMPACT, tile_size=TILE, pretrained="none", input_scale=0.5, in_channels=4,
                           weights_path=path).eval()
    restored.roi_heads.score_thresh = 0.0
    with torch.no_grad():
        detections = restored([torch.rand(4, TILE, TILE)])[0]
    assert detections["masks"].shape[-2:] == (TILE, TILE)


def test_coco_start_refused_for_the_compact_model_in_one_line():
    with pytest.raises(WeightsError, match=f"^torchvision has no COCO weights for {COMPACT}; set pretrained"):
        build_model(COMPACT, tile_size=TILE, pretrained="coco")


@pytest.mark.parametrize(("precision", "ratio", "tolerance"), [("float16", 0.51, 1e-3), ("int8", 0.26, 0.01)])
def test_smaller_weight_files_load_back_as_float32_close_to_the_trained_weights(tmp_path, precision, ratio,
                                                                                  tolerance):
    model = build_model(COMPACT, tile_size=TILE, pretrained="none")
    full, small = tmp_path / "full.safetensors", tmp_path / f"{precision}.safetensors"
    save_weights(model, full)
    save_weights(model, small, precision=precision)
    assert small.stat().st_size < ratio * full.stat().st_size
    restored = load_weights(small)
    assert restored.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert restored[key].dtype == value.dtype
        if value.is_floating_point() and value.numel():
            assert (restored[key] - value).abs().max() <= tolerance * max(value.abs().max(), 1e-6)
    build_model(COMPACT, tile_size=TILE, pretrained="none", weights_path=small)  # loads strictly
