"""No error path prints any part of a PostGIS password, however it is written (no server needed: the
connection goes to a closed port, as an unreachable server would)."""

from __future__ import annotations

import io
import socket
import traceback
from contextlib import redirect_stderr
from pathlib import Path
from urllib.parse import quote

import geopandas as gpd
import pytest
from shapely.geometry import box

from footprints.datasets.postgis import PostGISTableDataset
from footprints.errors import InputError, user_errors

# Each password has pieces no message would hold by chance; every 4-character piece is looked for.
PASSWORDS = ["Qx@Vw:Zk/Jm%Hy", "Pq:Wz@@Rk", "Tb/Ux%41Gy", "Nc'Lv\"Mx@Dw", "Kf%25Sj:Bo/", "Yh @Ea:Ic"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on return: nothing listens there


def pieces(secret: str, size: int = 4) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)} or {secret}


def shown(action, folder: Path) -> str:
    """Everything a user could see of the failure: what is printed (with --verbose) and the log file."""
    stderr, log = io.StringIO(), folder / "last_error.log"
    with redirect_stderr(stderr), pytest.raises(SystemExit):
        with user_errors(verbose=True, log_path=log):
            action()
    return stderr.getvalue() + log.read_text()


def assert_no_piece_of(secret: str, *texts: str) -> None:
    for text in texts:
        leaked = sorted(p for p in pieces(secret) if p in text)
        assert not leaked, f"{leaked} of the password in: {text}"


def frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:32737")


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("escaped", [False, True], ids=["as-typed", "percent-encoded"])
def test_password_in_the_url_never_shows(password, escaped, tmp_path):
    written = quote(password, safe="") if escaped else password
    con = f"postgresql+psycopg2://someone:{written}@127.0.0.1:{closed_port()}/labels_db"
    try:
        store = PostGISTableDataset(table="labels", credentials={"con": con})
    except InputError as err:  # refused as ambiguous, without quoting it
        assert "percent-encoded" in str(err) and "\n" not in str(err)
        assert_no_piece_of(password, str(err), shown(lambda: PostGISTableDataset(
            table="labels", credentials={"con": con}), tmp_path))
        return
    for action in (store.load, lambda: store.save(frame())):
        with pytest.raises(InputError) as err:
            action()
        assert "\n" not in str(err.value)
        assert_no_piece_of(password, str(err.value), "".join(traceback.format_exception(err.value)),
                           repr(store), str(store._describe()), shown(action, tmp_path))


@pytest.mark.parametrize("password", PASSWORDS)
def test_password_in_the_environment_never_shows(password, monkeypatch, tmp_path):
    for name, value in {"HOST": "127.0.0.1", "PORT": str(closed_port()), "DB": "labels_db", "USER": "someone",
                        "PASSWORD": password}.items():
        monkeypatch.setenv(f"FOOTPRINTS_PG_{name}", value)
    store = PostGISTableDataset(table="labels")
    with pytest.raises(InputError) as err:
        store.load()
    assert "server unreachable" in str(err.value) and "\n" not in str(err.value)
    assert_no_piece_of(password, str(err.value), "".join(traceback.format_exception(err.value)), repr(store),
                       shown(store.load, tmp_path))
