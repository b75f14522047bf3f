"""Checks that run before a ``kedro run`` does any work (``tryfirst``: before kedro-mlflow's hooks).

When the context is created (also for ``kedro viz``, which runs nothing):
1. every parameter is validated (``footprints.parameters``);
2. the local MLflow store, when it is a SQLite file, must be readable: a damaged one is named with the fix.
Before the pipeline runs:
3. one run at a time per project folder: a second run stops with one line naming the holder's pid (two runs
   writing the same folders would mix their outputs); the lock goes when the run ends, or its process dies;
4. temp files of killed runs are removed (safe: no other run can be writing, the lock is ours).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import filelock
from kedro.framework.hooks import hook_impl

from footprints.datasets.partitions import remove_temp_files
from footprints.torchrun import launched_rank
from footprints.errors import InputError
from footprints.parameters import validate

log = logging.getLogger(__name__)

LOCK_NAME = ".kedro-run.lock"


class RunLock:
    """An exclusive lock on ``<project>/.kedro-run.lock``, released when the process ends (even killed)."""

    def __init__(self, project: Path) -> None:
        self.path = project / LOCK_NAME
        self.pid_path = project / f"{LOCK_NAME}.pid"
        self._lock = filelock.FileLock(self.path, timeout=0)

    def acquire(self) -> None:
        try:
            self._lock.acquire()
        except filelock.Timeout:
            # the other run may hold the lock and not have written its pid yet
            holder = (self.pid_path.read_text().strip() if self.pid_path.is_file() else "") or "not yet known"
            message = (f"{self.path.parent}: another kedro run (pid {holder}) is running in this project "
                       "folder; wait for it to end (or stop it) before starting another")
            raise InputError(message) from None
        self.pid_path.write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        if self._lock.is_locked:
            self.pid_path.unlink(missing_ok=True)
            self._lock.release()


def check_sqlite_store(uri: str | None, project: Path) -> None:
    """Stop with the file and the fix when ``uri`` is a SQLite file that SQLite cannot read."""
    if not uri or not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///"))
    path = path if path.is_absolute() else project / path
    if not path.is_file():
        return
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        problem = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as err:
        problem = str(err)
    finally:
        connection.close()
    if problem != "ok":
        raise InputError(f"{path}: the MLflow store is damaged ({problem}); move it aside (mv {path.name} "
                         f"{path.name}.broken) and re-run to start a new store, or restore it from a backup")


class ProjectChecks:
    """The checks above, as Kedro hooks."""

    def __init__(self) -> None:
        self._lock: RunLock | None = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        validate(context.params)
        check_sqlite_store(os.environ.get("MLFLOW_TRACKING_URI"), Path(context.project_path))

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        if launched_rank() != 0:  # under torchrun the processes of one run share rank 0's lock
            return
        project = Path(run_params.get("project_path") or Path.cwd())
        self._release()  # a lock left by an earlier session of this process (tests run several)
        self._lock = RunLock(project)
        self._lock.acquire()
        if (project / "data").is_dir():
            remove_temp_files(project / "data")

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
