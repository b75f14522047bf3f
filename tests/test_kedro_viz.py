"""kedro-viz in a real browser: ``kedro viz run`` serves the project, headless Chromium renders each pipeline.

The server is started from the project root in its own session (process group) so that the whole group can be
killed at the end: ``kedro viz run`` forks the process that actually serves, and SIGTERM to the parent alone
leaves that child listening. Chromium is Debian's ``/usr/bin/chromium`` driven by Python playwright
(playwright never downloads a browser here). Every request that does not go to the local server (kedro-viz
asks Google for a web font) is aborted, so the test needs no network beyond localhost.

Screenshots land in ``test-artifacts/kedro-viz/<pipeline>.png`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[1]
ARTIFACTS = PROJECT / "test-artifacts" / "kedro-viz"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PIPELINES = ["preprocessing", "labels", "training", "inference", "reporting"]

SERVER_START_TIMEOUT_S = 90
PAGE_TIMEOUT_MS = 60_000
MIN_SCREENSHOT_BYTES = 10_000
# kedro's name for an unnamed node is "func([inputs]) -> [outputs]"; lambdas and partials show "<...>".
READABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _kedro_executable() -> str:
    """The ``kedro`` script of the interpreter running the tests (the project venv), else the one on PATH."""
    candidate = Path(sys.executable).with_name("kedro")
    return str(candidate) if candidate.exists() else "kedro"


def _free_port() -> int:
    """A free localhost port below 49152: kedro-viz refuses the dynamic range (where the OS would pick)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(20_000, 49_000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port found on 127.0.0.1 between 20000 and 49000")


def _get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def _tail(path: Path, chars: int = 6000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"<could not read server log {path}: {exc}>"


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's whole process group, SIGKILL whatever is still there after 15 s."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)  # raises once no process of the group is left
            except ProcessLookupError:
                proc.wait(timeout=5)
                return
            proc.poll()  # reap the leader so it does not linger as a zombie member of the group
            time.sleep(0.2)


@pytest.fixture(scope="module")
def viz_server(tmp_path_factory) -> dict[str, Any]:
    """``kedro viz run`` on a free localhost port; yields its base URL and the ``/api/main`` JSON."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("kedro-viz") / "server.log"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [_kedro_executable(), "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        main, last_error = None, None
        while main is None:
            if proc.poll() is not None:
                pytest.fail(f"`kedro viz run` exited with code {proc.returncode} before serving /api/main.\n"
                            f"--- server output ---\n{_tail(log_path)}")
            if b"already in use" in log_path.read_bytes():  # kedro-viz would move to the next port: not ours
                pytest.fail(f"port {port} was taken before `kedro viz run` could use it (race); rerun.\n"
                            f"--- server output ---\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"`kedro viz run` did not answer {base}/api/main within "
                            f"{SERVER_START_TIMEOUT_S} s (last error: {last_error!r}).\n"
                            f"--- server output ---\n{_tail(log_path)}")
            try:
                main = _get_json(f"{base}/api/main")
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
                last_error = exc
                time.sleep(0.5)
        yield {"base": base, "main": main, "log": log_path}
    finally:
        _kill_group(proc)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through playwright; skipped when missing (a failure under CI: conftest.py)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package to run the kedro-viz browser test")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    # executable_path: playwright drives Debian's Chromium and never installs a browser of its own.
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def viz_context(browser, viz_server):
    """One browser context for all pipelines (kedro-viz keeps UI state like closed hints in localStorage)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    local = viz_server["base"]
    # Offline: abort everything but the local server (e.g. fonts.googleapis.com) instead of waiting on it.
    context.route(lambda url: not url.startswith(local), lambda route: route.abort())
    try:
        yield {"context": context, "hints_dismissed": False}
    finally:
        context.close()


def _pipeline_node_names(main: dict[str, Any], pipeline: str) -> tuple[set[str], set[str]]:
    """(task node names, all names that may label a graph node) of ``pipeline`` according to /api/main."""
    tasks, labels = set(), set()
    for node in main["nodes"]:
        if pipeline not in (node.get("pipelines") or []):
            continue
        names = {node["name"], node.get("full_name") or node["name"]}
        labels |= names
        if node["type"] == "task":
            tasks |= names
    modular = main.get("modular_pipelines") or {}
    for key, tree_node in (modular.items() if isinstance(modular, dict) else []):
        if key != "__root__":
            labels |= {key, str(tree_node.get("name", key))}
    return tasks, labels


def _norm(label: str) -> str:
    """Match labels whether kedro-viz shows raw or pretty names (``train_mask_rcnn``, ``Train Mask Rcnn``)."""
    return re.sub(r"[\s_]+", " ", label).strip().lower()


def _dismiss_overlays(page, state: dict[str, Any]) -> None:
    """Close the offline 'Kedro-Viz None is here!' banner and the feature-hint popup that cover the graph."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect

    banner_dismiss = page.locator(".update-reminder-unexpanded button", has_text="Dismiss")
    try:
        banner_dismiss.wait_for(state="visible", timeout=5_000)
        banner_dismiss.click()
    except PlaywrightTimeout:
        pass  # no banner (e.g. the version check did not flag an update)
    page.locator(".update-reminder-unexpanded").wait_for(state="detached", timeout=10_000)

    close_hint = page.locator(".feature-hints__close")
    # The popup shows up ~1 s after the graph on a fresh profile; once closed kedro-viz stores that in
    # localStorage, so only the first page of the context needs to wait for it.
    try:
        close_hint.wait_for(state="visible", timeout=1_000 if state["hints_dismissed"] else 10_000)
        close_hint.click()
    except PlaywrightTimeout:
        pass
    state["hints_dismissed"] = True
    # Closing leaves a "You can revisit these hints" note for 4 s, and a highlight dot on the toolbar.
    page.locator(".feature-hints").wait_for(state="detached", timeout=15_000)
    page.locator(".feature-hints__highlightDot").wait_for(state="detached", timeout=15_000)

    minimap_on = page.locator('[data-test="sidebar-minimap-btn-true"]')  # the minimap overlaps the graph
    if minimap_on.count():
        minimap_on.click()
        page.locator('[data-test="sidebar-minimap-btn-false"]').wait_for(state="attached", timeout=10_000)
    # kedro-viz hides the minimap by sliding it behind the sidebar: its container loses the transform.
    expect(page.locator(".pipeline-minimap-container")).not_to_have_attribute(
        "style", re.compile("transform"), timeout=10_000)


def test_api_main_lists_pipelines_with_readable_node_names(viz_server):
    main = viz_server["main"]
    registered = {p["id"] for p in main["pipelines"]}
    missing = [p for p in PIPELINES if p not in registered]
    assert not missing, f"/api/main lacks pipelines {missing}; it has {sorted(registered)}"

    tasks = [n for n in main["nodes"] if n["type"] == "task"]
    assert tasks, "/api/main has no task nodes"
    names = [(n["name"], n.get("full_name") or n["name"]) for n in tasks]
    unreadable = [full for short, full in names
                  if not (READABLE_NAME.match(short) and READABLE_NAME.match(full))]
    assert not unreadable, f"nodes without a readable name (set name= on the kedro node): {unreadable}"


def _settled_labels(node_text, tasks: set[str], allowed: set[str]) -> list[str]:
    """The graph's node labels once they belong to ``tasks``' pipeline, or the last seen after the timeout.

    A new page of the same context first draws the pipeline kept in localStorage (the previous test's) and
    only then the one named by ``?pid=``: reading the labels at the first drawn node can catch the old graph.
    """
    wanted, allowed_norm = {_norm(t) for t in tasks}, {_norm(a) for a in allowed}
    deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
    while True:
        shown = [t.strip() for t in node_text.all_text_contents() if t.strip()]
        norm = {_norm(t) for t in shown}
        if (norm & wanted and norm <= allowed_norm) or time.monotonic() > deadline:
            return shown
        time.sleep(0.25)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_pipeline_renders_in_browser(viz_context, viz_server, pipeline):  # browser first: skip early
    main = viz_server["main"]
    registered = sorted(p["id"] for p in main["pipelines"])
    if pipeline not in registered:
        pytest.fail(f"pipeline {pipeline!r} is not registered in kedro-viz (/api/main has {registered})")
    tasks, allowed = _pipeline_node_names(main, pipeline)
    assert tasks, f"/api/main lists no task node for pipeline {pipeline!r}"

    page = viz_context["context"].new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(f"pageerror: {exc}"))
    try:
        page.goto(f"{viz_server['base']}/?pid={pipeline}", wait_until="domcontentloaded")
        selector = page.locator('[data-test="kedro-pipeline-selector"] .dropdown__label')
        selector.filter(has_text=re.compile(rf"^\s*{re.escape(pipeline)}\s*$")).wait_for(state="visible")

        node_text = page.locator("svg text.pipeline-node__text")
        node_text.first.wait_for(state="visible")
        _dismiss_overlays(page, viz_context)

        shown = _settled_labels(node_text, tasks, allowed)
        assert shown, f"{pipeline}: the graph rendered no node labels"
        assert {_norm(t) for t in shown} & {_norm(t) for t in tasks}, (
            f"{pipeline}: none of its task nodes {sorted(tasks)} is labelled in the graph; labels: {shown}")
        foreign = sorted(t for t in shown if _norm(t) not in {_norm(a) for a in allowed})
        assert not foreign, (
            f"{pipeline}: the graph shows nodes of other pipelines {foreign} (was ?pid={pipeline} ignored?)")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{pipeline}.png"
        shot.unlink(missing_ok=True)
        page.screenshot(path=str(shot), animations="disabled")  # fast-forwards CSS transitions
    finally:
        page.close()

    assert shot.is_file(), f"no screenshot written at {shot}"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG"
    size = shot.stat().st_size
    assert size > MIN_SCREENSHOT_BYTES, f"{shot} is only {size} bytes: blank page?"
    assert not console_errors, f"{pipeline}: JavaScript errors in the page: {console_errors}"
