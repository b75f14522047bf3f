"""Start-up cost of a ``kedro run`` with nothing to do, against bare interpreter + Kedro import floors.

The project's conf and sample raster are copied into a temp dir (as the tests do); one preprocessing + labels
run there makes their outputs, then these commands run interleaved, ``--repeat`` times each, each a fresh
process whose wall time and peak RSS (``os.wait4`` rusage of the child; this driver imports only the standard
library, so the child's RSS does not start high) are taken, and medians printed:

- ``import kedro``: ``python -c 'import kedro'``, the reference;
- ``kedro --version``: the Kedro CLI with its plugins' commands loaded, the floor of every ``kedro`` command
  (kedro-mlflow's commands are a stand-in until ``kedro mlflow`` runs: ``footprints/deferred_cli.py``);
- ``preprocessing`` / ``labels``: ``kedro run --pipelines <name>`` with every output already there.

    python benchmarks/startup.py              # or: make benchmark
    python benchmarks/startup.py --repeat 7
    python benchmarks/startup.py --four-cities  # the 8 drone images + the sample in 256 px tiles (2,359)

``--four-cities`` builds the copy as ``learning.py`` does (in a child process, so that this driver stays
small) with 256 px tiles: a no-op run then has thousands of tiles and masks to account for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def commands() -> dict[str, list[str]]:
    kedro = [str(BIN / "kedro")]
    return {"import kedro": [sys.executable, "-c", "import kedro"],
            "kedro --version": [*kedro, "--version"],
            "preprocessing": [*kedro, "run", "--pipelines", "preprocessing"],
            "labels": [*kedro, "run", "--pipelines", "labels"]}


def project_copy(where: Path) -> Path:
    """conf, raw data and pyproject in ``where`` (conf/local holds only its README, as in the tests)."""
    root = where / "project"
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=lambda folder, names: [
        n for n in names if Path(folder).name == "local" and n != "README.md"])
    shutil.copytree(PROJECT / "data/01_raw", root / "data/01_raw")
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def cities_copy(where: Path) -> Path:
    """``learning.make_project``'s copy (eight drone images, the sample, all labels) with 256 px tiles."""
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import learning; "
            "root = learning.make_project(Path(sys.argv[2])); "
            "learning.write_params(root, {'preprocessing': {'tile_size': 256}})")
    subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(where)], check=True)
    return where / "project"


def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process; a failing command stops the benchmark."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-3000:]}")
    process.stderr.close()
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs per command (median)")
    parser.add_argument("--four-cities", action="store_true", help="the learning benchmark's data, 256 px tiles")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = cities_copy(Path(tmp)) if args.four_cities else project_copy(Path(tmp))
        env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
               "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
               "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
        # one real run makes the outputs, so the measured runs have nothing to do
        run([str(BIN / "kedro"), "run", "--pipelines", "preprocessing,labels"], root, env)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands()}
        for _ in range(args.repeat):
            for name, command in commands().items():
                runs[name].append(run(command, root, env))
    medians = {name: (statistics.median(s for s, _ in values), statistics.median(m for _, m in values))
               for name, values in runs.items()}
    (base_s, base_mb), (cli_s, cli_mb) = medians["import kedro"], medians["kedro --version"]
    print(f"no-op start-up, median of {args.repeat} interleaved runs (each a fresh process)")
    print(f"{'command':16s} {'wall s':>7s} {'RSS MB':>7s} {'s/import kedro':>15s} {'MB/import kedro':>16s} "
          f"{'+s over CLI':>12s} {'+MB over CLI':>13s}  runs s")
    for name, (seconds, mb) in medians.items():
        print(f"{name:16s} {seconds:7.2f} {mb:7.0f} {seconds / base_s:15.1f} {mb / base_mb:16.1f} "
              f"{seconds - cli_s:12.2f} {mb - cli_mb:13.0f}  {' '.join(f'{s:.2f}' for s, _ in runs[name])}")

if __name__ == "__main__":
    main()
