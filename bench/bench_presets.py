"""Benchmark: every preset's time to its first result, beside the estimate a page shows before Run.

Presets are the files in ``examples/`` and the examples the pages load (the
attribution presets of ``core.attribution.presets``, the bias and few-shot
probes' presets); a spec that appears twice runs once. The bundled model is
loaded and this machine's speed calibrated (``core.run_time.calibrate``, as the
dashboard's warm-up does); each preset's estimate is the one a freshly started
dashboard shows (calibration only, no earlier runs), then the preset runs
through ``core.engine.run`` and its time is taken. The goal: every preset's
first result within 30 s on two idle CPU cores.

    python bench/bench_presets.py [--only NAME ...] [--goal 30]

It prints a Markdown table: preset, estimate, time to first result, within the
goal, and the measured seconds per token of work over the calibration's (what
``core.run_time.FAMILY_FACTORS`` holds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attribution.presets import PRESETS  # noqa: E402
from core.engine import run  # noqa: E402
from core.models.loading import load_model  # noqa: E402
from core.probes.bias.data import bias_presets  # noqa: E402
from core.probes.few_shot.spec import few_shot_presets  # noqa: E402
from core.run_time import SpeedLog, calibrate, estimate, run_work  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def all_presets() -> list[tuple[str, dict[str, Any]]]:
    """(names, spec) of every distinct preset: examples/, then the pages' examples."""
    found: list[tuple[list[str], dict[str, Any]]] = []

    def add(name: str, spec: dict[str, Any]) -> None:
        bare = {k: v for k, v in spec.items() if k not in ("title", "tags")}
        for names, other in found:
            if {k: v for k, v in other.items() if k not in ("title", "tags")} == bare:
                names.append(name)
                return
        found.append(([name], spec))

    for path in sorted((ROOT / "examples").glob("*.json")):
        add(f"examples/{path.name}", json.loads(path.read_text(encoding="utf-8")))
    for p in PRESETS:
        add(f"{p.page}: {p.id}", p.spec_copy())
    for name, spec in bias_presets().items():
        add(f"bias: {name}", spec)
    for name, spec in few_shot_presets().items():
        add(f"few_shot: {name}", spec)
    return [(" = ".join(names), spec) for names, spec in found]


def main() -> int:
    """Run every preset and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=[], help="run only presets whose name contains one of these")
    parser.add_argument("--goal", type=float, default=30.0, help="seconds a first result should take at most")
    args = parser.parse_args()

    import torch

    lm = load_model("default")
    fresh = SpeedLog()  # a freshly started dashboard: the warm-up's calibration, no runs yet
    per_token = calibrate(lm, "default", speeds=fresh)
    print(f"model {lm.display_name} on {lm.device} ({torch.get_num_threads()} threads); "
          f"calibration {per_token * 1e3:.3f} ms per token\n")
    print("| preset | estimate before Run | first result | within 30 s | work (tokens) | measured / calibration |")
    print("| --- | --- | --- | --- | --- | --- |")
    slow = 0
    for name, spec in all_presets():
        if args.only and not any(word in name for word in args.only):
            continue
        guess = estimate(spec, speeds=fresh)
        work = run_work(spec)
        began = time.perf_counter()
        run(spec, lm=lm)
        took = time.perf_counter() - began
        within = took <= args.goal
        slow += not within
        ratio = took / (work.total * per_token) if work and work.total else float("nan")
        shown = guess.words().split(": ", 1)[1].split(" (")[0].removesuffix(" on this machine") if guess else "none"
        families = "+".join(work.tokens) if work else "?"
        print(f"| {name} | {shown} | {took:.1f} s | {'yes' if within else 'no'} | "
              f"{work.total if work else 0:,.0f} ({families}) | {ratio:.2f} |", flush=True)
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
