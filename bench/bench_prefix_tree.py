"""Benchmark: the prefix-tree scorer against scoring each row whole and against the engine before it (issue 21).

Side by side in one process, on the bundled model:

  A  few-shot, 8 examples x 5 queries x 2 labels, exact Shapley: the run's time (its first and only
     result) with the tree; scoring each row whole (``BatchedScorer(share_prefix=False)``, timed on a
     seeded random sample of the rows and scaled to all of them); the largest difference between the
     two on the sampled rows; peak memory of the run (resident set above the loaded model) beside the
     budget (``WHYLM_MEMORY_BUDGET_MB``, 1,024 MB by default) and the most cache the scorer held;
  B  few-shot, 12 examples x 6 queries, the automatic method: its time and the method it chose;
  C  feature ablation and exact Shapley over an 8-slot template: the tree against today's engine
     (the scorer of commit 43d1483, with its recursive planner, read with ``git show``), after a
     warm-up run, alternating, the fastest of two runs each;
  D  the bias sweep, 40 prompts x 20 candidates: the tree against today's engine.

Each case prints the tokens through the model: with the tree, whole, and (C, D) with today's engine.
Times on a shared machine move with its load (printed); the ratios are measured side by side.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_prefix_tree.py [--sample 48] [--cases ABCD]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import core.attribution.prompt_values as prompt_values  # noqa: E402
import core.attribution.scorer as scorer_module  # noqa: E402
import core.engine  # noqa: E402
from core.attribution.features import encode_prompts  # noqa: E402
from core.attribution.scorer import BatchedScorer  # noqa: E402
from core.attribution.targets import encode_target  # noqa: E402
from core.models.loading import load_model  # noqa: E402
from core.probes.bias.data import bias_presets  # noqa: E402
from core.probes.bias.spec import parse_bias_spec, sweep_prompts  # noqa: E402
from core.probes.few_shot.spec import few_shot_presets  # noqa: E402

TODAY = "43d1483"  # the last commit with the batch-level planner (core/attribution/scorer.py)
MORE_EXAMPLES = [
    {"input": "A gentle, clever comedy for the whole family.", "label": "positive"},
    {"input": "Clumsy editing and a soundtrack that never stops shouting.", "label": "negative"},
    {"input": "Sharp writing and a lead performance to remember.", "label": "positive"},
    {"input": "Every scene drags, and the ending is a shrug.", "label": "negative"},
    {"input": "A bold, beautiful debut that earns every tear.", "label": "positive"},
    {"input": "Forgettable characters stuck in a predictable plot.", "label": "negative"},
    {"input": "Funny, tender and surprisingly wise.", "label": "positive"},
    {"input": "The twist is obvious from the first five minutes.", "label": "negative"},
]
MORE_CANDIDATES = [" teacher", " lawyer", " doctor", " engineer", " cashier", " librarian", " pilot", " chef",
                   " dancer", " plumber", " banker", " farmer"]
TEMPLATE_SPEC = {
    "model": "default",
    "prompt": {
        "template": "{name} lives in {city}, {state} and works as a {job} at a {place}. On {day} {pronoun} "
                    "usually goes out with {friend}. Their favourite hobby is",
        "values": {"name": "Dave", "city": "Palm Coast", "state": "FL", "job": "lawyer", "place": "small firm",
                   "day": "Sundays", "pronoun": "he", "friend": "his brother"},
        "baselines": {"name": "Sarah", "city": "Seattle", "state": "WA", "job": "nurse", "place": "hospital",
                      "day": "Mondays", "pronoun": "she", "friend": "her sister"},
    },
    "target": {"text": " playing golf with his friends"},
    "score": "log_prob",
}


def few_shot_spec(n_examples: int, n_queries: int) -> dict[str, Any]:
    """The sentiment preset grown to ``n_examples`` examples and cut to ``n_queries`` queries, no order trials."""
    spec = few_shot_presets()["sentiment"]
    spec["examples"] = (spec["examples"] + MORE_EXAMPLES)[:n_examples]
    spec["queries"] = spec["queries"][:n_queries]
    spec["order_trials"] = 0
    assert len(spec["examples"]) == n_examples and len(spec["queries"]) == n_queries
    return spec


def todays_scorer() -> ModuleType | None:
    """The scorer module as it was before the prefix tree (None when git cannot show it)."""
    try:
        source = subprocess.run(["git", "show", f"{TODAY}:core/attribution/scorer.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = ModuleType("todays_scorer")
    module.__file__ = f"{TODAY}:core/attribution/scorer.py"
    sys.modules["todays_scorer"] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - the project's own code at a commit
    return module


class RowSpy:
    """Records every (rows, values) pair the tree scorer returns, and sums its counters."""

    def __init__(self) -> None:
        self.rows: list[tuple[list[int], list[int]]] = []
        self.values: list[np.ndarray] = []
        self.peak_cache_bytes = 0
        self.tokens = 0  # tokens the scorers ran (the tree's, or whole rows' where those were cheaper)
        self.original = BatchedScorer.log_probs

    def __enter__(self) -> RowSpy:
        spy = self

        def log_probs(scorer: BatchedScorer, rows: Any) -> list[np.ndarray]:
            before = scorer.tokens_processed
            out = spy.original(scorer, rows)
            spy.tokens += scorer.tokens_processed - before
            spy.rows += [(list(p), list(t)) for p, t in rows]
            spy.values += out
            spy.peak_cache_bytes = max(spy.peak_cache_bytes, scorer.peak_cache_bytes)
            return out

        scorer_module.BatchedScorer.log_probs = log_probs  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        scorer_module.BatchedScorer.log_probs = self.original  # type: ignore[method-assign]


class PeakMemory:
    """The resident set's peak above its level at the start, sampled every 10 ms (Linux /proc)."""

    def __init__(self) -> None:
        self.start = self._rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def above_mb(self) -> float:
        """Peak minus start, in MB."""
        return (self.peak - self.start) / 2**20


def whole_time(lm: Any, rows: list, values: list, sample: int) -> tuple[float, float, int]:
    """Seconds to score every row whole (a seeded sample timed and scaled), the largest difference, rows timed."""
    pick = np.random.default_rng(0).choice(len(rows), size=min(sample, len(rows)), replace=False)
    chosen = [rows[i] for i in pick]
    scorer = BatchedScorer(lm, share_prefix=False)
    began = time.perf_counter()
    whole = scorer.log_probs(chosen)
    seconds = (time.perf_counter() - began) * len(rows) / len(chosen)
    diff = max(float(np.abs(w - values[i]).max()) for w, i in zip(whole, pick))
    return seconds, diff, len(chosen)


def whole_tokens(rows: list) -> int:
    """Tokens through the model scoring each distinct row whole."""
    return sum(len(p) + len(t) for p, t in dict.fromkeys((tuple(p), tuple(t)) for p, t in rows))


def case_few_shot_8x5(lm: Any, sample: int, table: list) -> None:
    spec = few_shot_spec(8, 5)
    with RowSpy() as spy, PeakMemory() as memory:
        began = time.perf_counter()
        result = core.engine.run(spec, lm=lm)
        tree_s = time.perf_counter() - began
    alone_s, diff, timed = whole_time(lm, spy.rows, spy.values, sample)
    meta = result.meta
    budget = scorer_module.default_memory_budget_mb(lm.device)
    table.append(("A few-shot 8x5x2 exact", tree_s, alone_s, "whole rows", diff, meta["tokens_processed"],
                  whole_tokens(spy.rows), None))
    print(f"A: {meta['rows']:,} rows, {meta['model_calls']} model calls; whole rows timed on {timed} and scaled; "
          f"method {meta['method']}")
    print(f"A: peak memory {memory.above_mb:.0f} MB above the loaded model (budget {budget:.0f} MB); "
          f"caches held at most {spy.peak_cache_bytes / 2**20:.0f} MB")


def case_few_shot_12x6(lm: Any, table: list) -> None:
    spec = few_shot_spec(12, 6)
    with RowSpy() as spy:
        began = time.perf_counter()
        result = core.engine.run(spec, lm=lm)
        seconds = time.perf_counter() - began
    table.append(("B few-shot 12x6 auto", seconds, None, "", None, result.meta["tokens_processed"],
                  whole_tokens(spy.rows), None))
    print(f"B: method {result.meta['method']}: {result.notes[0]}")


def _timed_run(spec: dict[str, Any], lm: Any, today: ModuleType | None) -> tuple[float, Any, int]:
    """(seconds, result, tokens the scorer ran) of one run: with the tree, or with today's scorer when given."""
    if today is None:
        began = time.perf_counter()
        result = core.engine.run(spec, lm=lm)
        return time.perf_counter() - began, result, 0
    kept = prompt_values.scorer_for
    counted: list[Any] = []

    def old_scorer_for(lm: Any, progress: Any = None, should_stop: Any = None) -> Any:
        counted.append(today.BatchedScorer(lm, progress=progress, should_stop=should_stop))
        return counted[-1]

    prompt_values.scorer_for = old_scorer_for
    try:
        began = time.perf_counter()
        result = core.engine.run(spec, lm=lm)
        seconds = time.perf_counter() - began
    finally:
        prompt_values.scorer_for = kept
    return seconds, result, sum(s.tokens_processed for s in counted)


def _attribution(lm: Any, method: str, today: ModuleType | None, repeats: int = 2) -> tuple[float, float | None, float, int, int, int | None]:
    """Both engines on one spec, alternating (tree, today, tree, today, ...): the fastest of each."""
    spec = {**TEMPLATE_SPEC, "method": {"name": method}}
    with RowSpy() as spy:
        tree_s, tree, _ = _timed_run(spec, lm, None)
    if today is None:
        return tree_s, None, 0.0, spy.tokens, whole_tokens(spy.rows), None
    old_s, old, old_tokens = _timed_run(spec, lm, today)
    for _ in range(repeats - 1):
        tree_s = min(tree_s, _timed_run(spec, lm, None)[0])
        old_s = min(old_s, _timed_run(spec, lm, today)[0])
    diff = float(np.abs(np.array(tree.seq_attr) - np.array(old.seq_attr)).max())
    return tree_s, old_s, diff, spy.tokens, whole_tokens(spy.rows), old_tokens


def case_template(lm: Any, today: ModuleType | None, table: list) -> None:
    _timed_run({**TEMPLATE_SPEC, "method": {"name": "feature_ablation"}}, lm, None)  # warm-up: first-run costs
    for method in ("feature_ablation", "shapley"):
        tree_s, old_s, diff, tokens, whole, old_tokens = _attribution(lm, method, today)
        table.append((f"C 8-slot template {method}", tree_s, old_s, "today", diff, tokens, whole, old_tokens))


def case_bias(lm: Any, today: ModuleType | None, table: list) -> None:
    spec = parse_bias_spec({**bias_presets()["gender_occupation"],
                            "candidates": bias_presets()["gender_occupation"]["candidates"] + MORE_CANDIDATES})
    prompts = sweep_prompts(spec)
    prompt_ids = encode_prompts(lm.tokenizer, [p.text for p in prompts], spec.chat)
    cand_ids = [encode_target(lm.tokenizer, c, "candidates") for c in spec.candidates]
    rows = [(p, c) for p in prompt_ids for c in cand_ids]
    print(f"D: {len(prompts)} prompts x {len(cand_ids)} candidates = {len(rows)} rows")
    tree = BatchedScorer(lm)
    began = time.perf_counter()
    values = tree.log_probs(rows)
    tree_s = time.perf_counter() - began
    old_s = old_tokens = None
    diff = 0.0
    if today is not None:
        old = today.BatchedScorer(lm)
        began = time.perf_counter()
        old_values = old.log_probs(rows)
        old_s = time.perf_counter() - began
        old_tokens = old.tokens_processed
        diff = max(float(np.abs(a - b).max()) for a, b in zip(values, old_values))
    table.append(("D bias 40x20", tree_s, old_s, "today", diff, tree.tokens_processed, whole_tokens(rows), old_tokens))


def main() -> None:
    """Run the cases and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=48, help="rows scored whole in case A (scaled to all)")
    parser.add_argument("--cases", default="ABCD", help="which cases to run")
    args = parser.parse_args()
    lm = load_model("default")
    BatchedScorer(lm).log_probs([([1, 2, 3], [4])])  # warm-up
    today = todays_scorer()
    print(f"model {lm.display_name} on {lm.device}, {torch.get_num_threads()} threads; "
          f"load average at start {os.getloadavg()[0]:.1f}; today's engine: "
          f"{'scorer of ' + TODAY if today else 'not available (no git)'}")
    table: list = []
    if "C" in args.cases:
        case_template(lm, today, table)
    if "D" in args.cases:
        case_bias(lm, today, table)
    if "A" in args.cases:
        case_few_shot_8x5(lm, args.sample, table)
    if "B" in args.cases:
        case_few_shot_12x6(lm, table)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    head = f"{'case':34} {'tree s':>8} {'other s':>9} {'vs':>10} {'speed-up':>9} {'max |diff|':>10} " \
           f"{'tokens tree':>12} {'tokens whole':>13} {'tokens today':>13}"
    print(head)
    for name, tree_s, other_s, versus, diff, tokens, whole, old_tokens in table:
        other = f"{other_s:9.1f}" if other_s else f"{'':>9}"
        ratio = f"{other_s / tree_s:8.1f}x" if other_s else f"{'':>9}"
        d = f"{diff:10.1e}" if diff is not None else f"{'':>10}"
        old = f"{old_tokens:13,}" if old_tokens else f"{'':>13}"
        print(f"{name:34} {tree_s:8.1f} {other} {versus:>10} {ratio} {d} {tokens:12,} {whole:13,} {old}")


if __name__ == "__main__":
    main()
