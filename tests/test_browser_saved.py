"""Saved runs in a real headless Chromium: open the page, open a saved run, see its charts drawn.

Needs Chromium (``apt-get install chromium``; ``WHYLM_CHROMIUM`` overrides the path)
and the Playwright Python package. Run with ``pytest -m browser``. The small server
helpers are copied from tests/test_browser.py (kept independent of it on purpose).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store import RunRepository
from core.store.database import dispose_engines
from tests.saved_runs_support import HOSTILE, real_results

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("WHYLM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
WAIT_MS = 90_000

pytestmark = [
    pytest.mark.browser,
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run app.py`` on a free port with its own data folder; wait until healthy."""
    port = free_port()
    env = {**os.environ, "WHYLM_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("WHYLM_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.25)
    stop_server(process)
    raise RuntimeError("streamlit did not become healthy in time")


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server process started by :func:`start_server`."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def saved_server(tmp_path_factory, lm) -> Iterator[tuple[str, int]]:
    """A dashboard whose database holds two real runs (one with a hostile title); yields (url, run id)."""
    data_dir = tmp_path_factory.mktemp("whylm-saved")
    tutorial, baselines, _ = real_results(lm)
    repo = RunRepository(f"sqlite:///{data_dir / 'whylm.db'}")
    run_id = repo.save_run("attribution", "Tutorial " + HOSTILE, tutorial["spec"], tutorial, tags=["tutorial"])
    repo.save_run("attribution", "Other baselines", baselines["spec"], baselines)
    dispose_engines()
    process, url = start_server(data_dir)
    try:
        yield url, run_id
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}: run `apt-get install chromium`."
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_open_a_saved_run_and_see_its_charts(browser, saved_server) -> None:
    url, run_id = saved_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(url)
        page.get_by_role("link", name="Saved runs").click()
        page.get_by_role("heading", name="Saved runs").wait_for(timeout=WAIT_MS)
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=WAIT_MS)
        assert "2 saved runs" in page.inner_text("body")
        picker = page.locator("[data-testid='stMultiSelect'] input").first
        picker.click()
        page.get_by_role("option", name=f"{run_id} · Tutorial").click()
        page.wait_for_function(
            "() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length >= 2",
            timeout=WAIT_MS,
        )
        body = page.inner_text("body")
        assert f"Run {run_id}: Tutorial {HOSTILE}" in body, "the hostile title is shown as text"
        assert "pushed the model most toward this output" in body
        highlight = page.locator(".whylm-highlight").first.inner_text()
        for value in ("Dave", "Palm Coast", "FL", "lawyer", "His"):
            assert value in highlight
        assert page.locator("[data-testid='stMain'] script").count() == 0
        # add the second run: the comparison draws grouped bars and the difference, with real height
        picker.click()
        page.get_by_role("option", name="Other baselines").click()
        page.get_by_text("Difference per feature").first.wait_for(timeout=WAIT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks')]"
            ".filter(e => e.getBoundingClientRect().height > 120).length >= 2",
            timeout=WAIT_MS,
        )
        assert dialogs == []
    finally:
        context.close()
