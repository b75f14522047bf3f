"""``kedro run`` shows a user error as one line (traceback in logs/last_error.log, or with --verbose); a
programming error keeps its traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from footprints.errors import InputError, user_errors


def kedro_run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "true"}
    return subprocess.run([sys.executable, "-m", "kedro", "run", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_user_error_is_one_line_and_its_traceback_goes_to_the_log(project_copy):
    result = kedro_run(project_copy, "--pipelines", "preprocessing", "--params", "preprocessing.tile_size=0")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: parameter preprocessing.tile_size: 0 is not allowed; use an integer >= 32 "
                      "(conf/base/parameters_preprocessing.yml or --params preprocessing.tile_size=...) "
                      "(traceback: logs/last_error.log)"]
    assert "Traceback" in (project_copy / "logs/last_error.log").read_text()
    assert not (project_copy / "data/02_intermediate").exists()


def test_verbose_prints_the_traceback_too(project_copy):
    result = kedro_run(project_copy, "--pipelines", "preprocessing", "--params", "preprocessing.overlap=-1",
                       "--verbose")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ParameterError: parameter preprocessing.overlap" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: parameter preprocessing.overlap: -1")


def test_programming_errors_keep_their_traceback(tmp_path):
    with pytest.raises(ZeroDivisionError), user_errors(log_path=tmp_path / "last_error.log"):
        1 / 0  # noqa: B018 - a bug, not the user's input
    assert not (tmp_path / "last_error.log").exists()


def test_a_wrapped_user_error_keeps_the_dataset_name(tmp_path, capsys):
    from kedro.io import DatasetError

    with pytest.raises(SystemExit) as stop, user_errors(log_path=tmp_path / "last_error.log"):
        try:
            raise InputError("labels.geojson: it is empty\n")
        except InputError as err:
            raise DatasetError(f"raw_labels: {err}") from err
    assert stop.value.code == 1
    assert capsys.readouterr().err == (f"Error: raw_labels: labels.geojson: it is empty "
                                       f"(traceback: {tmp_path / 'last_error.log'})\n")
