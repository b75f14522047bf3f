"""What ``torchrun`` told this process, read from the environment without importing torch: Kedro's settings
need it before anything else is loaded (see settings.py and hooks.py)."""

from __future__ import annotations

import os


def launched_world_size() -> int:
    """How many processes ``torchrun`` started in all (1 when it did not start this one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_rank() -> int:
    """This process's global rank among them (0 without ``torchrun``); rank 0 is the one that writes."""
    return int(os.environ.get("RANK", "0")) if launched_world_size() > 1 else 0
