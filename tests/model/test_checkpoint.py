"""A training run killed with SIGKILL resumes from its last epoch checkpoint and ends exactly where an
uninterrupted run with the same seed ends (weights and every epoch's loss)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("resume_worker.py")


def train(folder: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(WORKER), str(folder), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def epochs_saved(folder: Path) -> int:
    try:
        return json.loads((folder / "run.json").read_text())["epoch"]
    except (OSError, ValueError):
        return 0


def test_sigkilled_training_resumes_to_the_uninterrupted_result(tmp_path):
    finish(train(tmp_path / "whole", tmp_path / "whole.json"))
    assert not list((tmp_path / "whole").glob("run.*")) or epochs_saved(tmp_path / "whole") == 4

    killed = train(tmp_path / "killed", tmp_path / "killed.json")
    deadline = time.monotonic() + 300
    while epochs_saved(tmp_path / "killed") < 2:
        assert killed.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed.json").exists()
    saved = epochs_saved(tmp_path / "killed")  # 2, or 3 on a slow machine

    output = finish(train(tmp_path / "killed", tmp_path / "killed.json"))
    assert f"resuming after epoch {saved}" in output
    whole, resumed = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("whole", "killed"))
    assert resumed == whole
    assert len(whole["losses"]) == 4


@pytest.mark.parametrize("damage", [b"", b"not a checkpoint"])
def test_an_unreadable_checkpoint_starts_afresh(tmp_path, damage, caplog):
    from footprints.model.checkpoint import Checkpoint

    checkpoint = Checkpoint(tmp_path, "run")
    checkpoint.path.write_bytes(damage)
    assert checkpoint.load() is None
    assert "unreadable" in caplog.text
