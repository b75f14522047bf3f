"""The report's provenance section and the model card say where the weights started and what scores rest on."""

from footprints.classes import CLASS_NAMES
from footprints.evaluation.provenance import model_card, provenance_section, untrained_warning

TRAINED = {"weights_origin": "scratch", "arch": "maskrcnn_resnet50_fpn", "device": "cpu", "epochs": 2,
           "train_tiles": 3, "train_instances": 11, "train_images": ["tanzania_sample"], "val_tiles": 3,
           "val_instances": 4, "val_images": ["tanzania_sample"], "training_seconds": 95.0,
           "data_fingerprint": "0123456789abcdef"}
CONFIG = {"arch": "maskrcnn_resnet50_fpn", "tile_size": 512, "bands": [1, 2, 3], "mean": [123.7, 116.3, 103.5],
          "std": [58.4, 57.1, 57.4], "training": TRAINED}


def test_scratch_on_little_data_says_why_scores_are_near_zero_and_what_is_needed():
    section = provenance_section(TRAINED, ["tanzania_sample"], 3, 2)
    assert section.startswith("## Training provenance")
    assert "started from random weights and learnt from only 11 building instances in 1.6 min on cpu" in section
    assert "COCO weights placed in the torch cache" in section and "GPU" in section
    assert "Trained on 3 tiles holding 11 building instances" in section
    assert "Scores cover 3 validation tiles of 1 image (tanzania_sample) (2 truth buildings)" in section


def test_coco_or_fine_tuned_weights_get_no_warning():
    assert untrained_warning(TRAINED | {"weights_origin": "COCO (MaskRCNN_ResNet50_FPN_Weights.COCO_V1)"}) is None
    assert untrained_warning(TRAINED | {"weights_origin": "fine-tuned from runs:/abc/model"}) is None
    assert untrained_warning(TRAINED | {"train_instances": 50_000}) is None


def test_weights_without_provenance_are_called_unknown():
    assert "Weights: unknown" in provenance_section(None, [], 0, 0)


def test_model_card_names_classes_bands_normalisation_data_and_scores():
    card = model_card(CONFIG, CLASS_NAMES, {"f1_all_buildings": 0.25, "mask_map": 0.1})
    assert "Classes: complete, incomplete, foundation" in card and "bands (1-based): [1, 2, 3]" in card
    assert "mean [123.7, 116.3, 103.5]" in card and "512 px tiles" in card
    assert "- f1_all_buildings: 0.250" in card and "started from random weights" in card
    assert "not scored" in model_card(CONFIG, CLASS_NAMES, None)
