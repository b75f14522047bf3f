import math

from footprints.evaluation import border_breakdown, markdown_report, per_class_scores

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
    assert "| crosses_border | 1 | 0 | 0 | 0 | 1 | 1.000 | 0.000 | 0.000 |" in text
    assert "- `n_removed_by_merge`: 0" in text
    assert "| map_foundation | n/a |" in text
    assert "![class_scores](plots/class_scores.png)" in text
