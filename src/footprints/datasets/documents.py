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
    """One JSON document (e.g. a tile's predictions), written atomically.

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
            tmp.write_text(json.dumps(strict_json(data), indent=1, allow_nan=False))

    def preview(self) -> JSONPreview:
        """The document itself, for kedro-viz."""
        return JSONPreview(self._filepath.read_text())


def strict_json(data: Any) -> Any:
    """``data`` with every non-finite float replaced by None: Python's json writes NaN, which strict parsers
    (browsers, jq, most languages) refuse."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: strict_json(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict_json(value) for value in data]
    return data


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
