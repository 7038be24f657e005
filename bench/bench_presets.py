"""Benchmark: every preset's time to its first result, beside the estimate a page shows before Run.

Presets are the files in ``examples/`` and the examples the pages load (the
attribution presets of ``core.attribution.presets``, the bias and few-shot
probes' presets); a spec that appears twice runs once. The bundled model is
loaded and this machine's speed calibrated (``core.runs.estimate.calibrate``, as the
dashboard's warm-up does); each preset's estimate is the one a freshly started
dashboard shows (calibration only, no earlier runs), then the preset runs
through ``core.engine.run`` and its time is taken. The goal: every preset's
first result within 30 s on two idle CPU cores, and every estimate within 2x of
the real time.

Beside the presets, the heavier cases the estimates once missed by 4-13x
(:func:`extra_cases`): integrated gradients with 24 steps (the capital_ig preset)
and 64 steps, and with a generated 12-token target, few-shot exact Shapley over
6 examples, and feature ablation over a long prompt of about 3,000 words
(12 paragraphs, no faithfulness check), and bias studies of the 40 example pairs and questions.

    python bench/bench_presets.py [--only NAME ...] [--goal 30] [--no-extra] [--recalibrate]

It prints a Markdown table: case, estimate, real time, real / estimate (within
2x: 0.5 to 2), the same in this process's CPU time (the calibration timed in CPU
time too: on a shared, busy machine wall times move with the other processes,
CPU times much less), within the goal, and the measured seconds per token of work
over the calibration's, wall and CPU (what ``core.runs.estimate.FAMILY_FACTORS`` holds).
Note ``uptime`` beside the figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
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
from core.probes.studies.examples import example_file  # noqa: E402
from core.runs.estimate import SpeedLog, calibrate, estimate, run_work  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRESET_BY_ID = {p.id: p.spec_copy() for p in PRESETS}


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


LONG_WORDS = (
    "the model reads every word of this long report about rivers farms markets schools weather roads "
    "music trade harbours bridges forests villages libraries trains and the people who keep them going"
).split()


def long_text(words: int = 3000, paragraphs: int = 12) -> str:
    """A plain text of about ``words`` words in ``paragraphs`` paragraphs (sentences of 12 words)."""
    per = words // paragraphs
    out = []
    for p in range(paragraphs):
        chosen = [LONG_WORDS[(p * 7 + i * 5 + i // 3) % len(LONG_WORDS)] for i in range(per)]
        sentences = [" ".join(chosen[i:i + 12]).capitalize() + "." for i in range(0, per, 12)]
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def extra_cases() -> list[tuple[str, dict[str, Any]]]:
    """The few-shot, gradient and long-prompt cases of issues 22 (point 8) and 23 (point 8), and two bias studies."""
    few = copy.deepcopy(few_shot_presets()["sentiment"])
    more = [
        {"input": "Clever, moving and beautifully shot.", "label": "positive"},
        {"input": "I checked my watch every five minutes.", "label": "negative"},
        {"input": "A joyful surprise from start to finish.", "label": "positive"},
        {"input": "Lazy writing and a baffling ending.", "label": "negative"},
    ]
    few["examples"] = few["examples"] + more[:2]  # 6 examples: 64 coalitions x 6 queries (8 take 4x as long)
    few["method"], few["max_exact"] = "exact", 10
    ig = PRESET_BY_ID["capital_ig"]
    ig64 = copy.deepcopy(ig)
    ig64["method"]["steps"] = 64
    ig_long = copy.deepcopy(ig)
    ig_long["target"] = {"generate": {"max_new_tokens": 12}}
    long_prompt = {
        "kind": "attribution", "model": "default",
        "prompt": {"text": long_text(), "granularity": "paragraph"}, "chat": False,
        "target": {"text": " The report ends here."}, "score": "log_prob",
        "method": {"name": "feature_ablation"}, "trials": 1, "seed": 0, "faithfulness": False,
    }
    studies = []
    for item_type in ("pairs", "questions"):
        fmt, text = example_file(item_type)
        studies.append((f"bias study, the 40 example {item_type}", {
            "kind": "study", "item_type": item_type, "items": {"format": fmt, "text": text},
            "models": ["default"], "bootstrap": 200,
        }))
    return [
        *studies,
        ("integrated gradients, 64 steps", ig64),
        ("integrated gradients, 24 steps, 12 generated tokens", ig_long),
        ("few-shot exact Shapley, 6 examples x 6 queries", few),
        ("feature ablation, ~3,000 words in 12 paragraphs", long_prompt),
    ]


def main() -> int:
    """Run every preset and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=[], help="run only presets whose name contains one of these")
    parser.add_argument("--goal", type=float, default=30.0, help="seconds a first result should take at most")
    parser.add_argument("--no-extra", action="store_true", help="the presets only, not the heavier cases")
    parser.add_argument("--recalibrate", action="store_true",
                        help="calibrate again before each case (on a shared machine whose load drifts)")
    args = parser.parse_args()

    import tempfile

    import torch

    # a study keeps its finished batches in the data folder: a fresh one, so no run finds another's
    os.environ["WHYLM_DATA_DIR"] = tempfile.mkdtemp(prefix="whylm-bench-")
    lm = load_model("default")
    fresh = SpeedLog()  # a freshly started dashboard: the warm-up's calibration, no runs yet
    per_token = calibrate(lm, "default", speeds=fresh)
    cpu_per_token = cpu_calibration(lm)
    print(f"model {lm.display_name} on {lm.device} ({torch.get_num_threads()} threads); "
          f"calibration {per_token * 1e3:.3f} ms per token ({cpu_per_token * 1e3:.3f} ms of CPU time)\n")
    print(f"load: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs\n")
    print("Wall times move with the machine's load; CPU times (this process's, calibration alike) much less: "
          "on a shared machine read the CPU columns.\n")
    print("| case | estimate | real | real / estimate | CPU real / CPU estimate | within 30 s | work (tokens) "
          "| measured / calibration (wall, CPU) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    slow = off = 0
    cases = all_presets() + ([] if args.no_extra else extra_cases())
    cases = [(name, spec) for name, spec in cases if not args.only or any(word in name for word in args.only)]
    for name, spec in cases:
        if args.recalibrate:  # a shared machine's load drifts: measure its speed again right before the case
            per_token = calibrate(lm, "default", speeds=fresh)
            cpu_per_token = cpu_calibration(lm)
        guess = estimate(spec, speeds=fresh)
        work = run_work(spec)
        began, began_cpu = time.perf_counter(), time.process_time()
        run(spec, lm=lm)
        took, took_cpu = time.perf_counter() - began, time.process_time() - began_cpu
        within = took <= args.goal
        slow += not within
        tokens = work.total if work and work.total else float("nan")
        ratio, cpu_ratio = took / (tokens * per_token), took_cpu / (tokens * cpu_per_token)
        shown = f"{guess.seconds:.1f} s" if guess else "none"
        off_by = took / guess.seconds if guess and guess.seconds > 0 else float("nan")
        cpu_off_by = took_cpu / (guess.seconds * cpu_per_token / per_token) if guess and guess.seconds > 0 else float("nan")
        off += not 0.5 <= cpu_off_by <= 2
        families = "+".join(work.tokens) if work else "?"
        print(f"| {name} | {shown} | {took:.1f} s | {off_by:.2f} | {cpu_off_by:.2f} | {'yes' if within else 'no'} | "
              f"{tokens:,.0f} ({families}) | {ratio:.2f}, {cpu_ratio:.2f} |", flush=True)
    print(f"\n{off} of {len(cases)} estimates off by more than 2x (CPU time); load now {os.getloadavg()[0]:.1f}")
    return 1 if slow or off else 0


def cpu_calibration(lm: Any, rows: int = 8, length: int = 48, repeats: int = 3) -> float:
    """``core.runs.estimate.calibrate``'s rows scored again, timed in this process's CPU seconds per token."""
    from core.attribution.scorer import BatchedScorer
    from core.runs.estimate import MODEL_CALL_TOKENS

    vocab = max(int(getattr(lm.tokenizer, "vocab_size", 1000) or 1000), 1000)
    scored = [([(7919 * (r + 1) * (t + 3)) % (vocab - 100) + 50 for t in range(length)], [100 + r]) for r in range(rows)]
    BatchedScorer(lm).log_probs(scored[:2])
    fastest = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        BatchedScorer(lm).log_probs(scored)
        fastest = min(fastest, time.process_time() - began)
    return fastest / (rows * (length + 1) + MODEL_CALL_TOKENS)


if __name__ == "__main__":
    raise SystemExit(main())
