"""pytest plugin: a PostGIS server for the tests that need one (load with ``pytest_plugins``).

``postgis_url`` is ``FOOTPRINTS_TEST_PG_URL`` when set, else a throw-away server started with the functions
of scripts/pg_test_server.py (one place for that logic) and stopped at session end. Without PostgreSQL or
PostGIS installed those tests skip (tests/conftest.py turns every skip into a failure under ``CI=true``). The
terminal summary ends with a line naming the skipped PostGIS tests and why.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa

SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pg_test_server.py"
URL_VARIABLE = "FOOTPRINTS_TEST_PG_URL"
MARKER = "postgis"


def _server_module() -> ModuleType:
    """scripts/ is not a package: load the script by path."""
    spec = importlib.util.spec_from_file_location("pg_test_server", SERVER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _skip_missing(missing: str) -> None:
    pytest.skip(f"PostGIS tests need PostgreSQL + PostGIS or {URL_VARIABLE}: {missing}")


def start_server(directory: Path) -> dict[str, str]:
    """Start a throw-away server in ``directory`` (the test stops it); skip when PostgreSQL/PostGIS is missing."""
    server = _server_module()
    env, missing = None, ""
    try:
        env = server.start(directory)
    except server.NotInstalled as err:
        missing = str(err)
    if env is None:  # outside the except block, so the report is this one line, not a chained traceback
        _skip_missing(missing)
    return env


@pytest.fixture(scope="session")
def postgis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL of a PostGIS database: ``FOOTPRINTS_TEST_PG_URL``, else a server started for the run."""
    if os.environ.get(URL_VARIABLE):
        yield os.environ[URL_VARIABLE]
        return
    directory = tmp_path_factory.mktemp("postgis")
    env = start_server(directory)
    try:
        yield env[URL_VARIABLE]
    finally:
        _server_module().stop(directory)


@pytest.fixture(scope="session")
def postgis_engine(postgis_url: str) -> Iterator[sa.Engine]:
    """An engine on ``postgis_url`` for test setup and for checking what the code under test wrote."""
    engine = sa.create_engine(postgis_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_schema(postgis_engine: sa.Engine) -> Iterator[str]:
    """A fresh empty schema per test, dropped with all it holds afterwards, so tests never see each other."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with postgis_engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(name))
    yield name
    with postgis_engine.begin() as conn:
        conn.execute(sa.schema.DropSchema(name, cascade=True))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the server is a PostGIS test even if its author forgot the marker (``-m`` sees it)."""
    for item in items:
        if "postgis_url" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(MARKER):
            item.add_marker(MARKER)


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per skip reason naming the PostGIS tests that did not run, so a skip is never missed."""
    by_reason: dict[str, list[str]] = {}
    for report in terminalreporter.stats.get("skipped", []):
        if MARKER in report.keywords:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
            by_reason.setdefault(reason, []).append(report.nodeid)
    for reason, names in by_reason.items():
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        terminalreporter.write_line(f"PostGIS: {len(names)} test(s) skipped ({listed}): {reason}",
                                    yellow=True, bold=True)
