"""Start and stop the dashboard for browser tests, and the Chromium they drive."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("WHYLM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]



REFERENCE_SECONDS = 0.05
"""The slowness probe's time on an idle core, one thread as under pytest-xdist (measured here: 0.045-0.048 s)."""


@functools.cache
def slowness() -> float:
    """How many times slower than two idle cores this machine computes now (at least 1), measured once.

    The browser tests wait for a run as long as it takes on an idle machine times this factor,
    so a busy or slower machine waits longer instead of failing at a fixed limit.
    """
    import torch

    a = torch.randn(384, 384)

    def once() -> float:
        start = time.perf_counter()
        for _ in range(60):
            a @ a
        return time.perf_counter() - start

    once()
    return max(1.0, min(once() for _ in range(3)) / REFERENCE_SECONDS)


def scaled(ms: float) -> float:
    """A wait in milliseconds, stretched by this machine's :func:`slowness`."""
    return ms * slowness()


IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
"""True when the page's script run is over (Streamlit's running-status widget is gone)."""


def settle(page, timeout_ms: float = 60_000) -> None:  # noqa: ANN001 - a playwright Page
    """Wait until the page's script run has finished: a click during a rerun can be swallowed by it."""
    page.wait_for_timeout(300)
    page.wait_for_function(IDLE, timeout=scaled(timeout_ms))


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running dashboard (``python -m ui.serve`` or ``make run``) and its address."""

    process: subprocess.Popen
    url: str
    started: float
    log: Path | None = None


RUNNING: list[Server] = []
"""The servers started and not yet stopped: a failed browser test prints their threads' stacks (conftest)."""


def start_server(
    data_dir: Path, extra_env: dict[str, str] | None = None, timeout: float = 120.0, via_make: bool = False
) -> Server:
    """Start the dashboard on a free port with its own data folder; wait until it is healthy.

    It starts the way ``make run`` does (``python -m ui.serve``, which warms the
    model up while the server starts); ``via_make`` runs ``make run`` itself.
    """
    port = free_port()
    env = {**os.environ, "WHYLM_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), **(extra_env or {})}
    env.pop("WHYLM_DATABASE_URL", None)  # the server must use the test's own data folder
    options = [
        "--server.port", str(port), "--server.headless", "true",
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
    ]
    if via_make:
        command = ["make", "-s", "run", "STREAMLIT_ARGS=" + " ".join(options)]
    else:
        command = [sys.executable, "-m", "ui.serve", *options]
    started = time.monotonic()
    log = data_dir.parent / f"{data_dir.name}-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    server = Server(process, url, started, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with code {process.returncode}: {log_tail(server)}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    RUNNING.append(server)
                    return server
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError("the dashboard did not become healthy in time")


def log_tail(server: Server, chars: int = 20000) -> str:
    """The end of what the server printed (its log file)."""
    if server.log is None or not server.log.exists():
        return ""
    return server.log.read_text(encoding="utf-8", errors="replace")[-chars:]


def stacks(server: Server) -> str:
    """Every thread's stack in the running server (``ui.serve`` dumps them on SIGUSR1), with its log's end."""
    if server.process.poll() is None and server.process.args[0] != "make":  # make would die of SIGUSR1
        try:
            server.process.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
        except ProcessLookupError:
            pass
    return log_tail(server)


def stop_server(server: Server) -> None:
    """Stop the server started by :func:`start_server` (its whole process group)."""
    if server in RUNNING:
        RUNNING.remove(server)
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=15)


@contextmanager
def dashboard(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[tuple[Server, Path]]:
    """A dashboard on ``data_dir`` (``start_server``) for the block, stopped after it: (server, data folder)."""
    srv = start_server(data_dir, extra_env)
    try:
        yield srv, data_dir
    finally:
        stop_server(srv)
