"""Small file datasets written atomically: a JSON document and a CSV table.

kedro-datasets' JSON and CSV datasets write in place; a run killed mid-write would leave a truncated file
that a re-run trusts. These write to a temp file and rename.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset
from kedro_datasets._typing import JSONPreview, TablePreview

from footprints.atomic import atomic_path


class _FileDataset(AbstractDataset):
    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class JSONDocumentDataset(_FileDataset):
    """One JSON document (e.g. a tile's predictions or a metrics summary), written atomically as strict JSON.

    An undefined metric (NaN, infinity) is written as ``null``: Python's ``json`` would write the bare
    ``NaN`` token, which RFC 8259 forbids and strict parsers (browsers, jq, other languages) reject.

    Example catalog entry::

        tile_predictions:
          type: partitions.PartitionedDataset
          path: data/07_model_output/tile_predictions
          filename_suffix: .json
          dataset: footprints.datasets.documents.JSONDocumentDataset
    """

    def load(self) -> Any:
        with open(self._filepath) as handle:
            return json.load(handle)

    def save(self, data: Any) -> None:
        """Strict RFC 8259 JSON: NaN and infinities (undefined metrics) are written as ``null``."""
        with atomic_path(self._filepath) as tmp:
            tmp.write_text(strict_json(data))

    def preview(self) -> JSONPreview:
        """The document itself, for kedro-viz."""
        return JSONPreview(self._filepath.read_text())


def strict_json(data: Any) -> str:
    """``data`` as RFC 8259 JSON, non-finite floats as ``null``.

    The plain dump is tried first, so large documents with only finite numbers (tile predictions) are not
    walked in Python; only a document that holds NaN or infinity is rebuilt.
    """
    try:
        return json.dumps(data, indent=1, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), indent=1, allow_nan=False)


def _finite(value: Any) -> Any:
    """A copy of nested dicts/lists/tuples with every non-finite float (numpy's too) replaced by None."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class CSVTableDataset(_FileDataset):
    """A pandas table as CSV (no index column), written atomically.

    Example catalog entry::

        challenge_csv:
          type: partitions.PartitionedDataset
          path: data/07_model_output/challenge_csv
          filename_suffix: .csv
          dataset: footprints.datasets.documents.CSVTableDataset
    """

    def load(self) -> pd.DataFrame:
        return pd.read_csv(self._filepath)

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self._filepath) as tmp:
            data.to_csv(tmp, index=False)

    def preview(self, nrows: int = 20) -> TablePreview:
        return TablePreview(pd.read_csv(self._filepath, nrows=nrows).to_dict(orient="split"))
