"""The notebooks in notebooks/ run top to bottom on the shipped sample, as `kedro jupyter lab` would run them.

One cheap default run (one epoch from scratch, low threshold so polygons, merge and every writer are
exercised) in a project copy provides every dataset they load and one MLflow run to compare.
"""

import shutil

import pytest

from tests.conftest import PROJECT, cheap_run_params, copy_project, inside, run_kedro

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted(p.name for p in (PROJECT / "notebooks").glob("*.ipynb"))
CHEAP = cheap_run_params(epochs=1)


@pytest.fixture(scope="module")
def project_after_a_run(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("notebooks"))
    shutil.copytree(PROJECT / "notebooks", root / "notebooks")
    with inside(root):
        run_kedro(root, ["__default__"], params=CHEAP)
        yield root


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(project_after_a_run, name):
    path = project_after_a_run / "notebooks" / name
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs)  # every notebook draws something
