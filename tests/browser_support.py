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
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return Server(process, url, started)
        except OSError:
            time.sleep(0.1)
    stop_server(Server(process, url, started))
    raise RuntimeError("the dashboard did not become healthy in time")


def stop_server(server: Server) -> None:
    """Stop the server started by :func:`start_server` (its whole process group)."""
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=15)


