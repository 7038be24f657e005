"""Benchmark: what the faithfulness check adds to a run's time (goal: at most 30% on the tutorial spec).

Run:  OMP_NUM_THREADS=1 .venv/bin/python bench/bench_faithfulness.py

The tutorial spec (examples/tutorial.json) with feature ablation, and with exact
Shapley (whose coalitions the check reuses), run with the check on and off,
alternately, after a warm-up; prints the median run time (``meta.seconds``,
model loading excluded), the new prompts the check scored, and the ratio.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.engine import run  # noqa: E402
from core.models.loading import load_model  # noqa: E402

REPEATS = 9


def main() -> None:
    lm = load_model("default")
    tutorial = json.loads((ROOT / "examples" / "tutorial.json").read_text())
    print(f"{'method':<18} {'off (s)':>8} {'on (s)':>8} {'ratio':>6} {'method passes':>14} {'check prompts':>14}")
    for method in ("feature_ablation", "shapley"):
        spec = {**tutorial, "method": {"name": method}}
        times: dict[bool, list[float]] = {True: [], False: []}
        extra = passes = 0
        run({**spec, "faithfulness": True}, lm=lm)  # warm-up
        for _ in range(REPEATS):
            for on in (False, True):
                result = run({**spec, "faithfulness": on}, lm=lm)
                times[on].append(result.meta["seconds"])
                if on:
                    extra = result.faithfulness["extra_prompts"]
                    passes = result.meta["forward_passes"]
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"{method:<18} {off:>8.3f} {on:>8.3f} {on / off:>6.2f} {passes:>14} {extra:>14}")
    print("\n(goal: ratio <= 1.30 for feature ablation)")


if __name__ == "__main__":
    main()
