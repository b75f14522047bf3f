"""A run that does not touch the model, draw a plot or track must not pay for importing torch, torchvision
(seconds, ~1 GB), matplotlib (~30 MB) or MLflow (1.1 s, 140 MB).

Each check runs in a fresh interpreter, since this test process has long imported everything."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import PROJECT

HEAVY = ("torch", "torchvision", "torchmetrics", "matplotlib", "mlflow")
IMPORTED = "print(json.dumps(sorted(m for m in {modules!r} if m in sys.modules)))"


def imported_after(code: str, cwd) -> list[str]:
    """Which of the heavy modules a fresh interpreter holds after running ``code``."""
    script = f"import json, sys\n{code}\n" + IMPORTED.format(modules=HEAVY)
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pipeline_discovery_does_not_import_torch():
    code = ("from kedro.framework.startup import bootstrap_project\n"
            f"bootstrap_project({str(PROJECT)!r})\n"
            "from footprints.pipeline_registry import register_pipelines\n"
            "assert 'training' in register_pipelines()")
    assert imported_after(code, PROJECT) == []


def test_preprocessing_run_neither_imports_torch_nor_opens_the_mlflow_store(project_copy):
    code = ("from kedro.framework.session import KedroSession\n"
            "from kedro.framework.startup import bootstrap_project\n"
            f"bootstrap_project({str(project_copy)!r})\n"
            f"with KedroSession.create(project_path={str(project_copy)!r}) as session:\n"
            "    session.run(pipeline_names=['preprocessing'])")
    assert imported_after(code, project_copy) == []
    assert list((project_copy / "data").glob("**/*.tif"))  # the run did tile the sample
    # mlflow.yml leaves preprocessing untracked, so kedro-mlflow is never set up (footprints/hooks/mlflow_tracking.py)
    assert not (project_copy / "mlflow.db").exists()


def test_kedro_run_command_does_not_import_mlflow(project_copy):
    """Through Kedro's CLI, which imports every plugin's commands first (footprints/deferred_cli.py)."""
    code = ("from kedro.framework.cli import main\n"
            "sys.argv = ['kedro', 'run', '--pipelines', 'preprocessing']\n"
            "try:\n    main()\n"
            "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code")
    assert imported_after(code, project_copy) == []


def test_kedro_mlflow_commands_still_run(project_copy):
    kedro = [sys.executable, "-m", "kedro"]
    listed = subprocess.run([*kedro, "mlflow", "--help"], cwd=project_copy, capture_output=True, text=True,
                            check=True).stdout
    assert all(command in listed for command in ("init", "ui", "modelify")), listed
    subprocess.run([*kedro, "mlflow", "init", "--env", "local"], cwd=project_copy, capture_output=True,
                   check=True)
    assert "tracking" in (project_copy / "conf/local/mlflow.yml").read_text()


def test_plugin_module_imported_directly_is_the_real_one():
    """Code that imports kedro-mlflow's command module itself (a notebook, a script) gets its real names."""
    code = ("import footprints.settings\n"
            "from kedro_mlflow.framework.cli.cli import init, mlflow_commands\n"
            "import kedro_mlflow.framework.cli.cli as module\n"
            "assert module.init is init and 'ui' in mlflow_commands.list_commands(None)\n"
            "assert sys.modules['kedro_mlflow.framework.cli'].cli is module")
    assert imported_after(code, PROJECT) == ["mlflow"]


def test_untracked_torchrun_rank_does_not_import_mlflow(project_copy):
    code = ("import os\n"
            "os.environ.update(RANK='1', WORLD_SIZE='2')\n"
            "from kedro.framework.session import KedroSession\n"
            "from kedro.framework.startup import bootstrap_project\n"
            f"bootstrap_project({str(project_copy)!r})\n"
            f"KedroSession.create(project_path={str(project_copy)!r}).close()")
    assert imported_after(code, project_copy) == []
