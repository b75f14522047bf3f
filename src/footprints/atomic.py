"""Write-then-rename, so a killed run never leaves a truncated file that a re-run would trust."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds.

    The temp file sits in the same folder (same filesystem), so ``os.replace`` is atomic. Its name is hidden and
    ends in ``.part``, not in the target's suffix, so a file left by a killed run is never mistaken for an
    output (``PartitionedDataset`` lists files by suffix); writers therefore name their format explicitly.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # drivers such as the GeoPackage one refuse to write over an existing empty file
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)
