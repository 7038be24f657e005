"""Benchmark: list 10,000 saved runs (what the Saved runs page's table does).

Creates a temporary SQLite database with 10,000 runs, each with a realistic ~20 KB result
document, then times ``RunRepository.list_runs()`` and building a pandas DataFrame from the
summaries. Run: ``python bench/bench_store_list.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
KINDS = ("attribution", "gradient", "bias", "few_shot")
METHODS = ("feature_ablation", "shapley", "kernel_shap", "lime", "integrated_gradients")
TARGET = 1.0


def fake_run(i: int, rng: random.Random) -> dict:
    """Return one exported run with a ~20 KB result document."""
    n_features, n_tokens = 40, 24
    kind, method = KINDS[i % len(KINDS)], METHODS[i % len(METHODS)]
    spec = {
        "kind": kind,
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "prompt": {"template": "{a} lives in {b} and works as a", "values": {"a": "Dave", "b": "Palm Coast"}},
        "target": {"mode": "generated", "generate": {"max_new_tokens": n_tokens}},
        "method": {"name": method, "params": {"n_samples": 25}},
        "seed": i,
    }
    result = {
        "features": [f"feature {j}" for j in range(n_features)],
        "output_tokens": [f"▁tok{j}" for j in range(n_tokens)],
        "sequence_attr": [rng.uniform(-1, 1) for _ in range(n_features)],
        "token_attr": [[rng.uniform(-1, 1) for _ in range(n_features)] for _ in range(n_tokens)],
        "meta": {"model_name": "smollm2-135m", "seconds": rng.uniform(0.5, 30), "forward_passes": 300},
    }
    return {
        "kind": kind,
        "title": f"Run {i}: probe of {kind} with {method}",
        "status": "done",
        "model_name": "smollm2-135m",
        "method": method,
        "seconds": result["meta"]["seconds"],
        "created_at": None,
        "tags": ["bench", f"group{i % 10}"],
        "spec": spec,
        "result": result,
        "notes": [{"author": "bench", "verdict": "ok", "text": "fine"}] if i % 7 == 0 else [],
    }


def main() -> int:
    """Create the database, time the listing, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import pandas as pd

    sys.path.insert(0, str(REPO_ROOT))
    from core.store import RunRepository
    from core.store.config import sqlite_url
    from core.store.database import dispose_engines

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "whylm.db"
        repo = RunRepository(sqlite_url(path))
        started = time.perf_counter()
        sizes = []
        for start in range(0, args.runs, 500):
            runs = [fake_run(i, rng) for i in range(start, min(start + 500, args.runs))]
            sizes += [len(json.dumps(r["result"])) for r in runs]
            repo.import_runs({"whylm_export": 1, "runs": runs})
        fill = time.perf_counter() - started
        print(f"created {repo.count()} runs (result ~{statistics.mean(sizes) / 1024:.1f} KB each, "
              f"database {path.stat().st_size / 2**20:.0f} MiB) in {fill:.1f} s")

        dispose_engines()
        repo = RunRepository(sqlite_url(path))  # a fresh engine: the first call pays the connect
        list_times, frame_times = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            runs = repo.list_runs()
            t1 = time.perf_counter()
            frame = pd.DataFrame([vars(r) for r in runs])
            t2 = time.perf_counter()
            list_times.append(t1 - t0)
            frame_times.append(t2 - t0)
        assert len(runs) == args.runs and len(frame) == args.runs
        print(f"list {len(runs)} runs: {list_times[0]:.3f} s first, {min(list_times):.3f} s best "
              f"(target < {TARGET:.0f} s)")
        print(f"list + pandas DataFrame: {frame_times[0]:.3f} s first, {min(frame_times):.3f} s best")
        filtered = time.perf_counter()
        n = len(repo.list_runs(tag="group1", text="shapley"))
        print(f"filtered list (tag + title search, {n} runs): {time.perf_counter() - filtered:.3f} s")
        dispose_engines()
        return 0 if max(list_times) < TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
