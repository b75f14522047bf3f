"""``footprints predict MODEL IMAGE_OR_FOLDER... --out DIR``: the predict pipeline as one command.

It runs ``kedro run --pipelines predict`` in this project with the command's arguments as runtime parameters,
so the settings, resume and outputs are the pipeline's own.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from footprints.errors import VERBOSE_HELP, user_errors

OUTPUTS = {"challenge_csv": "challenge CSV per image", "buildings": "GeoPackage (image CRS) + GeoJSON (WGS84)",
           "tile_predictions": "one JSON per tile"}


@click.command(name="predict")
@click.argument("model")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; a re-run into it resumes (only missing tiles are predicted).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Default: inference.device.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Tiles per forward pass.")
@click.option("--tile-size", type=click.IntRange(min=32), help="Pixels; default: the model's training tiles.")
@click.option("--overlap", type=click.IntRange(min=0), help="Pixels shared by neighbouring tiles.")
@click.option("--score-threshold", type=click.FloatRange(0, 1), help="Detections below are dropped.")
@click.option("--env", default=None, help="Kedro configuration environment (e.g. postgis).")
@click.option("--verbose", is_flag=True, help=VERBOSE_HELP)
def predict(model: str, images: tuple[Path, ...], out: Path, device: str | None, batch_size: int | None,
            tile_size: int | None, overlap: int | None, score_threshold: float | None, env: str | None,
            verbose: bool) -> None:
    """Find buildings in GeoTIFFs (files or folders, any CRS) with a trained MODEL: a .safetensors file,
    runs:/<run_id>/model or models:/<name>/<version>."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    if not model.startswith(("runs:/", "models:/")):
        model = str(Path(model).resolve())
    runtime_params = {"model_uri": model, "images": [str(p.resolve()) for p in images], "out": str(out.resolve()),
                      "predict": {"device": device, "batch_size": batch_size, "tile_size": tile_size,
                                  "overlap": overlap, "score_threshold": score_threshold}}
    project = project_path()
    os.chdir(project)  # MLflow's store and the catalog's relative paths are the project's
    bootstrap_project(project)
    with user_errors(verbose=verbose), KedroSession.create(project_path=project, env=env,
                                                          runtime_params=runtime_params) as session:
        session.run(pipeline_names=["predict"])
    click.echo(f"buildings written under {out}: " + "; ".join(f"{k}/ ({v})" for k, v in OUTPUTS.items()))


def project_path() -> Path:
    """The Kedro project to run in: the current folder when it is one, else the checkout this code is in."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "[tool.kedro]" in pyproject.read_text():
            return candidate
    raise click.ClickException("no Kedro project found: run footprints from the project folder")
