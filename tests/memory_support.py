"""Peak memory of a piece of work, measured in a child process: its peak RSS above its resting RSS.

The child imports what it needs, settles (the resting memory), clears its peak-RSS mark
(``/proc/self/clear_refs``) and then does the work; the parent watches the child's RSS
and kills it when it passes a ceiling, so a test of old code that would take gigabytes
fails quickly instead of exhausting a shared machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r'''
import gc, json, os, sys, time
def status(key):
    with open("/proc/self/status") as f:
        return int(f.read().split(key + ":")[1].split()[0]) * 1024
SETUP
gc.collect()
rest = status("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS mark to the resting RSS
except OSError:
    pass
print("RESTING", flush=True)
began = time.perf_counter()
message = None
try:
WORK
except Exception as exc:  # the refusal's sentence
    message = str(exc)
seconds = time.perf_counter() - began
print("RESULT " + json.dumps({"rest": rest, "peak": status("VmHWM"), "seconds": seconds, "message": message}))
'''


@dataclass(frozen=True)
class Measured:
    """What the child reported: peak RSS above resting (bytes), seconds of work, the refusal (if any)."""

    above_resting: int
    seconds: float
    message: str | None
    killed: bool = False


def measure(setup: str, work: str, ceiling_mb: float = 1500.0, timeout: float = 300.0) -> Measured:
    """Run ``setup`` then ``work`` (Python source; ``work`` is one indented block's body) in a child.

    The child is killed when its RSS passes ``ceiling_mb`` above resting (then ``killed`` is True
    and ``above_resting`` is at least the ceiling).
    """
    body = "\n".join("    " + line for line in work.strip("\n").splitlines())
    source = CHILD.replace("SETUP", setup).replace("WORK", body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first.strip() == "RESTING", first + (child.stderr.read() if child.stderr else "")
    rest = _rss(child.pid)
    deadline = time.monotonic() + timeout
    while child.poll() is None:
        if _rss(child.pid) - rest > ceiling_mb * 2**20 or time.monotonic() > deadline:
            child.kill()
            child.wait()
            return Measured(int(ceiling_mb * 2**20), timeout, None, killed=True)
        time.sleep(0.02)
    out, err = child.communicate()
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, err
    found = json.loads(lines[-1][len("RESULT "):])
    return Measured(found["peak"] - found["rest"], found["seconds"], found["message"])


def _rss(pid: int) -> int:
    """A process's resident memory in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(f.read().split("VmRSS:")[1].split()[0]) * 1024
    except (OSError, IndexError):
        return 0
