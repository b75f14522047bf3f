import math

import pandas as pd

from footprints.datasets.documents import CSVTableDataset
from footprints.evaluation import border_breakdown, flat_metrics, markdown_report, per_class_scores

from .helpers import pred, square, truth
from .test_border import TILES


def test_report_has_every_section_as_markdown():
    t = truth((square(0, 0), "complete"), (square(95, 50), "incomplete"))
    p = pred((square(0, 0), "complete", 0.9))
    coco = {"map": 0.5, "map_50": 0.75, "map_foundation": math.nan}
    text = markdown_report("run42", per_class_scores(p, t), border_breakdown(p, t, TILES), coco,
                           ["plots/class_scores.png"], {"evaluation": {"iou_threshold": 0.5}, "seed": 1})
    assert text.startswith("# Evaluation report: run `run42`")
    assert "- `evaluation.iou_threshold`: 0.500" in text
    assert "| class_name | n_truth | n_pred | tp | fp | fn | precision | recall | f1 |" in text
    assert "| mean_over_classes | n/a | n/a | n/a | n/a | n/a |" in text
    # a class nobody drew or predicted is undefined, not perfect; no prediction leaves precision undefined
    assert "| foundation | 0 | 0 | 0 | 0 | 0 | n/a | n/a | n/a |" in text
    assert "| incomplete | 1 | 0 | 0 | 0 | 1 | n/a | 0.000 | 0.000 |" in text
    assert "| crosses_border | 1 | 0 | 0 | 0 | 1 | n/a | 0.000 | 0.000 |" in text
    assert "- `n_removed_by_merge`: 0" in text
    assert "| map_foundation | n/a |" in text
    assert "![class_scores](plots/class_scores.png)" in text
    assert "## Metrics in MLflow" not in text


def test_counts_read_back_from_csv_print_as_integers(tmp_path):
    # the saved table's mean row has empty counts, so pandas reads every count column back as float
    t = truth((square(0, 0), "complete"), (square(40, 0), "complete"))
    p = pred((square(0, 0), "complete", 0.9))
    dataset = CSVTableDataset(filepath=str(tmp_path / "building_scores.csv"))
    dataset.save(per_class_scores(p, t).reset_index())
    table = dataset.load().set_index("class_name")
    assert table["n_truth"].dtype == float
    text = markdown_report("r", table, {}, {}, [], {})
    assert "| complete | 2 | 1 | 1 | 0 | 1 | 1.000 | 0.500 | 0.667 |" in text


def test_undefined_metrics_are_named_in_the_report_and_none_in_the_flat_metrics():
    t, p = truth((square(0, 0), "complete")), pred()
    table = per_class_scores(p, t)
    border = border_breakdown(p, t, TILES)
    coco = {"map": 0.0, "map_foundation": None}  # None: how JSON gives an undefined value back
    metrics = flat_metrics(table, border, coco)
    assert metrics["recall_all_buildings"] == 0.0 and metrics["f1_all_buildings"] == 0.0
    unlogged = [name for name, value in metrics.items() if value is None]
    expected = {"precision_all_buildings", "f1_foundation", "f1_crosses_border", "mask_map_foundation"}
    assert expected <= set(unlogged)
    assert "f1_within_tile" not in unlogged and "mask_map" not in unlogged
    text = markdown_report("r", table, border, coco, [], {}, unlogged_metrics=unlogged)
    assert "## Metrics in MLflow" in text
    assert "`precision_all_buildings`" in text and "`mask_map_foundation`" in text
    assert pd.isna(table.loc["all_buildings", "precision"])
