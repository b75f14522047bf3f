"""Throw-away PostgreSQL + PostGIS server for tests: ``start DIR`` / ``stop DIR``.

``start DIR`` runs ``initdb`` in a fresh folder of the system temp dir (as the ``postgres`` user when run as
root, since ``initdb`` refuses root and that user must be able to reach the folder), listens on 127.0.0.1 on
a free port with password (scram-sha-256) authentication, creates the database ``footprints_test`` with the
``postgis`` extension, writes ``DIR/server.env`` (``KEY=VALUE`` lines: the ``FOOTPRINTS_PG_*`` variables
that ``PostGISTableDataset`` reads, plus ``FOOTPRINTS_TEST_PG_URL``) and prints one JSON line with host, port,
user, database and the env file (not the password: that is in the file). ``stop DIR`` stops that server and
deletes its data; it is a no-op when none runs there. From a Makefile (recipe lines start with a tab)::

    PG_DIR := build/pg
    test-postgis:
        python scripts/pg_test_server.py start $(PG_DIR)
        set -a; . $(PG_DIR)/server.env; set +a; pytest -m postgis; rc=$$?; \
        python scripts/pg_test_server.py stop $(PG_DIR); exit $$rc

The same functions back the ``postgis_url`` pytest fixture (tests/postgis_server.py).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ENV_FILE = "server.env"
DATABASE = "footprints_test"
SUPERUSER = "footprints"
HOST = "127.0.0.1"
INSTALL_HINT = "install it, e.g. apt-get install postgresql postgis (Debian: postgresql-15-postgis-3)"


class ServerError(RuntimeError):
    """The test server could not be started or stopped; the message is one line."""


class NotInstalled(ServerError):
    """PostgreSQL or PostGIS is missing on this machine: tests may skip rather than fail."""


def find_bindir() -> Path:
    """The folder holding ``initdb``/``pg_ctl``: ``pg_config --bindir`` first, else the newest Debian one."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if candidate and all((Path(candidate) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    raise NotInstalled("PostgreSQL server binaries not found (pg_config --bindir, "
                       "/usr/lib/postgresql/*/bin): " + INSTALL_HINT)


def _version_key(path: str) -> tuple[int, ...]:
    """Sort /usr/lib/postgresql/<major>/bin by major version, so 16 beats 9.6."""
    version = Path(path).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def start(directory: str | os.PathLike) -> dict[str, str]:
    """Start a server, create the PostGIS database, write ``directory/server.env``; return its variables."""
    directory = Path(directory)
    env_file = directory / ENV_FILE
    if env_file.exists():
        raise ServerError(f"{env_file} exists: a server may be running; run 'stop {directory}' first")
    bindir = find_bindir()
    home = Path(tempfile.mkdtemp(prefix="footprints-pg-"))
    try:
        password = secrets.token_hex(16)
        port = _init_and_start(bindir, home, password)
        _create_database(bindir, port, password)
    except BaseException:
        _stop_home(bindir, home)
        raise
    env = {
        "FOOTPRINTS_PG_HOST": HOST, "FOOTPRINTS_PG_PORT": str(port), "FOOTPRINTS_PG_DB": DATABASE,
        "FOOTPRINTS_PG_USER": SUPERUSER, "FOOTPRINTS_PG_PASSWORD": password,
        "FOOTPRINTS_TEST_PG_URL": f"postgresql+psycopg2://{SUPERUSER}:{password}@{HOST}:{port}/{DATABASE}",
        "FOOTPRINTS_PG_SERVER_HOME": str(home),
    }
    directory.mkdir(parents=True, exist_ok=True)
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return env


def stop(directory: str | os.PathLike) -> bool:
    """Stop the server started in ``directory`` and delete its data; False when none was running there."""
    env_file = Path(directory) / ENV_FILE
    if not env_file.exists():
        return False
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    _stop_home(find_bindir(), Path(env["FOOTPRINTS_PG_SERVER_HOME"]))
    env_file.unlink()
    return True


def pg_ctl(directory: str | os.PathLike, action: str, mode: str = "fast") -> None:
    """Stop (``mode`` fast or immediate, i.e. a crash) or start again the server of ``directory``, data kept.

    Tests use it to take the database away in the middle of a write.
    """
    env_file = Path(directory) / ENV_FILE
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    home = Path(env["FOOTPRINTS_PG_SERVER_HOME"])
    extra = ["-m", mode] if action == "stop" else ["-l", home / "server.log", "-t", "60"]
    _run_as_postgres([find_bindir() / "pg_ctl", "-D", home / "data", *extra, "-w", action],
                     log=home / "server.log" if action == "start" else None)


def _init_and_start(bindir: Path, home: Path, password: str) -> int:
    """initdb with a superuser password, then pg_ctl start on a free port, fsync off (disposable data)."""
    data, pwfile = home / "data", home / "pwfile"
    pwfile.write_text(password + "\n")
    _chown_for_postgres(home, pwfile)
    _run_as_postgres([bindir / "initdb", "-D", data, "-U", SUPERUSER, "--pwfile", pwfile, "-E", "UTF8",
                      "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"])
    pwfile.unlink()
    port = _free_port()
    settings = {"listen_addresses": f"'{HOST}'", "port": str(port), "unix_socket_directories": "''",
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    with open(data / "postgresql.conf", "a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    _run_as_postgres([bindir / "pg_ctl", "-D", data, "-l", home / "server.log", "-w", "-t", "60", "start"],
                     log=home / "server.log")
    return port


def _create_database(bindir: Path, port: int, password: str) -> None:
    """CREATE DATABASE footprints_test, then CREATE EXTENSION postgis (missing PostGIS: NotInstalled)."""
    import psycopg2

    def connect(dbname: str):
        try:
            conn = psycopg2.connect(host=HOST, port=port, user=SUPERUSER, password=password, dbname=dbname)
        except psycopg2.Error as err:
            first_line = str(err).strip().splitlines()[0]
            raise ServerError(f"cannot connect to the new server: {first_line}") from None
        conn.autocommit = True
        return conn

    conn = connect("postgres")
    try:
        conn.cursor().execute("CREATE DATABASE " + DATABASE)  # a constant name, no user input
    finally:
        conn.close()
    conn = connect(DATABASE)
    try:
        conn.cursor().execute("CREATE EXTENSION postgis")
    except psycopg2.Error as err:
        if "not available" in str(err) or "control file" in str(err):
            raise NotInstalled(f"PostGIS is not installed for the PostgreSQL in {bindir}: "
                               f"{INSTALL_HINT}") from None
        raise ServerError(f"CREATE EXTENSION postgis failed: {str(err).splitlines()[0]}") from None
    finally:
        conn.close()


def _stop_home(bindir: Path, home: Path) -> None:
    """pg_ctl stop (fast) if the server is up, then delete the folder; safe to call on a half-started one."""
    if (home / "data" / "postmaster.pid").exists():
        _run_as_postgres([bindir / "pg_ctl", "-D", home / "data", "-m", "fast", "-w", "stop"])
    shutil.rmtree(home, ignore_errors=True)


def _free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _chown_for_postgres(*paths: Path) -> None:
    """Hand the paths to the postgres user when we are root, since initdb/postgres refuse to run as root."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ServerError("running as root, but there is no 'postgres' user to run the server as") from None
    for path in paths:
        os.chown(path, user.pw_uid, user.pw_gid)


def _run_as_postgres(command: list, log: Path | None = None) -> None:
    """Run a server tool (as postgres when root); on failure raise its last message line (or the log's)."""
    command = [str(part) for part in command]
    tool = Path(command[0]).name
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
    if done.returncode != 0:
        text = (log.read_text() if log and log.exists() else "") or done.stderr or done.stdout
        last = [line for line in text.splitlines() if line.strip()][-1:] or ["no output"]
        raise ServerError(f"{tool} failed: {last[0].strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("directory", help="folder for server.env (created by start)")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            env = start(args.directory)
            print(json.dumps({"host": env["FOOTPRINTS_PG_HOST"], "port": int(env["FOOTPRINTS_PG_PORT"]),
                              "user": env["FOOTPRINTS_PG_USER"], "database": env["FOOTPRINTS_PG_DB"],
                              "env_file": str(Path(args.directory) / ENV_FILE)}))
        elif not stop(args.directory):
            print(f"no server running in {args.directory}")
    except ServerError as err:
        print(f"pg_test_server: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
