"""A short Markdown report of one evaluation run, readable on GitHub or in the MLflow UI as it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath

import pandas as pd

MERGE_KEY = "merge"


def markdown_report(run_id: str, per_class: pd.DataFrame, border: Mapping[str, Mapping],
                    coco: Mapping[str, float], plot_files: Sequence[str],
                    params: Mapping[str, object]) -> str:
    """Settings, building F1 per class, the tile-border breakdown, COCO mask AP and the plots, in order.

    ``per_class`` comes from ``per_class_scores``, ``border`` from ``border_breakdown``, ``coco`` from
    ``mask_map``; plot files are linked relative to the report, so save them next to it.
    """
    groups = {name: values for name, values in border.items() if name != MERGE_KEY}
    sections = [
        f"# Evaluation report: run `{run_id}`",
        "## Settings\n\n" + _bullets(_flatten(params)),
        "## Buildings (Open AI Tanzania / SpaceNet metric)\n\n"
        "One-to-one greedy matching by descending score; a match needs IoU at or above the threshold. "
        "A class row matches only that class; `all_buildings` ignores classes; `mean_over_classes` "
        "averages the classes present in truth or predictions.\n\n" + _table(per_class),
        "## Tile borders\n\n"
        "Truth buildings that an interior tile edge crosses vs those inside one tile (classes ignored).\n\n"
        + _table(pd.DataFrame.from_dict(groups, orient="index").rename_axis("group"))
        + "\n\nCross-tile merge:\n\n" + _bullets(border.get(MERGE_KEY, {})),
        "## COCO mask AP per tile\n\n"
        + _table(pd.Series(coco, name="value", dtype=float).rename_axis("metric").to_frame()),
        "## Plots\n\n" + "\n\n".join(f"![{PurePath(name).stem}]({name})" for name in plot_files),
    ]
    return "\n\n".join(sections) + "\n"


def _table(frame: pd.DataFrame) -> str:
    """A Markdown pipe table with the index as first column (pandas needs tabulate for this; we don't)."""
    lines = [[frame.index.name or "", *map(str, frame.columns)], ["---"] * (frame.shape[1] + 1)]
    lines += [[str(label), *map(_cell, row)] for label, row in zip(frame.index, frame.itertuples(index=False),
                                                                   strict=True)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _bullets(values: Mapping[str, object]) -> str:
    return "\n".join(f"- `{key}`: {_cell(value)}" for key, value in values.items()) or "- (none)"


def _cell(value: object) -> str:
    """Rates to three decimals, missing or undefined values as 'n/a'."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _flatten(params: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """Nested Kedro parameters as dotted keys, so the settings list stays flat."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
