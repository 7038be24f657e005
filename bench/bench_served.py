"""Benchmark: runs through a served model against the local engine, and reduced precision against float32.

Starts ``python -m core.serve_model`` over the bundled model (its own process)
and times, side by side in one run:

  served N   the tutorial's exact Shapley run and a bias sweep through the server with
             1, 4 and 8 requests in flight (``WHYLM_ENDPOINT_CONCURRENCY``);
  local      the same specs on the local engine;
  precision  the tutorial with feature ablation in float32, bfloat16 and float16
             (time, and the largest attribution difference from float32).

On a 2-core CPU the server and this process share the cores, so more requests
in flight help little; on a GPU server they keep its batches full.

    python bench/bench_served.py
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.engine import run  # noqa: E402
from core.models.loading import load_model  # noqa: E402

TUTORIAL = {
    "prompt": {"template": "{} lives in {}, {} and is a {}. {} personal interests include",
               "values": ["Dave", "Palm Coast", "FL", "lawyer", "His"]},
    "target": {"text": " playing golf, hiking, and cooking."},
    "method": {"name": "shapley"},
}


def _bias() -> dict:
    doc = json.loads((ROOT / "examples" / "bias_gender_occupation.json").read_text(encoding="utf-8"))
    doc.update(attribution=False, bootstrap=200, permutations=200)
    doc["sweep"]["groups"] = {g: units[:5] for g, units in doc["sweep"]["groups"].items()}
    return doc


def _timed(spec: dict, **kw: object) -> tuple[float, object]:
    start = time.perf_counter()
    result = run(spec, **kw)
    return time.perf_counter() - start, result


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "core.serve_model", "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        url = server.stdout.readline().split(" on ")[1].strip()
        lm = load_model("default")
        specs = {"tutorial Shapley (32 coalitions)": TUTORIAL, "bias sweep (10 units x 20 candidates)": _bias()}
        print(f"{'run':40s} {'local s':>8s} {'1 in flight':>12s} {'4 in flight':>12s} {'8 in flight':>12s}")
        for name, spec in specs.items():
            run(spec, lm=lm)  # warm
            local, _ = _timed(spec, lm=lm)
            cells = []
            for flight in (1, 4, 8):
                os.environ["WHYLM_ENDPOINT_CONCURRENCY"] = str(flight)
                seconds, _ = _timed(copy.deepcopy({**spec, "model": {"name": "default", "endpoint": url}}))
                cells.append(f"{seconds:7.2f} ({seconds / local:.1f}x)")
            print(f"{name:40s} {local:8.2f} " + " ".join(f"{c:>12s}" for c in cells))
    finally:
        server.terminate()
        server.wait(timeout=30)

    print()
    print(f"{'precision':10s} {'seconds':>8s} {'largest difference from float32':>34s}")
    ablation = {**TUTORIAL, "method": {"name": "feature_ablation"}}
    base = None
    for dtype in ("float32", "bfloat16", "float16"):
        spec = {**ablation, "model": {"name": "default", "dtype": dtype}}
        run(spec)  # load and warm
        seconds, result = _timed(spec)
        values = np.array(result.seq_attr)
        base = values if base is None else base
        gap = float(np.abs(values - base).max() / np.abs(base).max())
        print(f"{dtype:10s} {seconds:8.2f} {gap:33.1%}")


if __name__ == "__main__":
    main()
