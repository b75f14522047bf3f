"""A short Markdown report of one evaluation run, readable on GitHub or in the MLflow UI as it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath

import pandas as pd

from footprints.evaluation.matching import COUNT_COLUMNS, RATE_COLUMNS

MERGE_KEY = "merge"


def flat_metrics(per_class: pd.DataFrame, border: Mapping[str, Mapping],
                 coco: Mapping[str, float | None]) -> dict[str, float | None]:
    """The report's figures as flat metric names (``f1_all_buildings``, ``f1_crosses_border``, ``mask_map``).

    Undefined values (NaN, or None as read back from JSON) stay in, as None: the caller decides whether a
    store can hold them (MLflow cannot) and the report names those left out.
    """
    metrics = {f"{rate}_{name}": value for name, row in per_class.iterrows()
               for rate, value in row.items() if rate in RATE_COLUMNS}
    metrics |= {f"f1_{group}": values["f1"] for group, values in border.items() if "f1" in values}
    metrics |= {f"mask_{key}": value for key, value in coco.items()}
    return {key: None if pd.isna(value) else float(value) for key, value in metrics.items()}


def markdown_report(run_id: str, per_class: pd.DataFrame, border: Mapping[str, Mapping],
                    coco: Mapping[str, float | None], plot_files: Sequence[str],
                    params: Mapping[str, object], *, unlogged_metrics: Sequence[str] = ()) -> str:
    """Settings, building F1 per class, the tile-border breakdown, COCO mask AP and the plots, in order.

    ``per_class`` comes from ``per_class_scores``, ``border`` from ``border_breakdown``, ``coco`` from
    ``mask_map``; plot files are linked relative to the report, so save them next to it.
    ``unlogged_metrics`` names the metrics left out of MLflow because they are undefined.
    """
    groups = {name: values for name, values in border.items() if name != MERGE_KEY}
    sections = [
        f"# Evaluation report: run `{run_id}`",
        "## Settings\n\n" + _bullets(_flatten(params)),
        "## Buildings (Open AI Tanzania / SpaceNet metric)\n\n"
        "One-to-one greedy matching by descending score; a match needs IoU at or above the threshold. "
        "A class row matches only that class; `all_buildings` ignores classes; `mean_over_classes` "
        "averages each rate over the classes where it is defined. `n/a` means undefined (0/0): precision "
        "with no predictions, recall with no truth, every rate of a class absent from both.\n\n"
        + _table(_counts_as_integers(per_class)),
        "## Tile borders\n\n"
        "Truth buildings that an interior tile edge crosses vs those inside one tile (classes ignored).\n\n"
        + _table(_counts_as_integers(pd.DataFrame.from_dict(groups, orient="index").rename_axis("group")))
        + "\n\nCross-tile merge:\n\n" + _bullets(border.get(MERGE_KEY, {})),
        "## COCO mask AP per tile\n\n"
        + _table(pd.Series(coco, name="value", dtype=float).rename_axis("metric").to_frame()),
        *([_unlogged_section(unlogged_metrics)] if unlogged_metrics else []),
        "## Plots\n\n" + "\n\n".join(f"![{PurePath(name).stem}]({name})" for name in plot_files),
    ]
    return "\n\n".join(sections) + "\n"


def _counts_as_integers(frame: pd.DataFrame) -> pd.DataFrame:
    """Count columns as nullable integers: read back from CSV, a column with one empty cell is float."""
    counts = [c for c in COUNT_COLUMNS if c in frame]
    rates = [c for c in RATE_COLUMNS if c in frame]
    return frame.astype({**dict.fromkeys(counts, "Int64"), **dict.fromkeys(rates, float)})


def _unlogged_section(names: Sequence[str]) -> str:
    return ("## Metrics in MLflow\n\nMLflow stores numbers only, so these undefined (`n/a`) values were not "
            "logged to the run: " + ", ".join(f"`{name}`" for name in names) + ".")


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
