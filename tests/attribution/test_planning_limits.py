"""Issue 15, defect 3: planning and statistics hear Stop within a second and stay within a memory budget.

The four cases the issue names are refused up front (a sentence, before a model is
loaded) when they are beyond the declared limits; what stays allowed is computed in
chunks that poll Stop. Memory is measured with ``tracemalloc`` (numpy reports its
arrays to it), time to stop with the clock.
"""

from __future__ import annotations

import copy
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.attribution import perturbation
from core.attribution.methods import METHODS
from core.attribution.methods.kernel_shap import plan_kernel_shap
from core.attribution.methods.shapley_sampling import plan_shapley_sampling
from core.attribution.perturbation import (
    MAX_PLANNED_COALITIONS,
    PLAN_MEMORY_BUDGET,
    StopPoll,
    in_chunks,
    mask_ints,
)
from core.attribution.planning import plan_problem, plan_rows
from core.engine import run, validate
from core.errors import Cancelled, SpecError
from core.probes.bias import stats
from core.probes.bias.settings import MAX_BOOTSTRAP_CELLS, MAX_RESAMPLED_VALUES, resampled_values
from core.probes.few_shot.settings import MAX_SCORES as FEW_SHOT_MAX_SCORES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (ROOT / "examples").glob("*.json")}


def _attribution(slots: int, method: dict[str, Any], trials: int) -> dict[str, Any]:
    names = [f"s{i}" for i in range(slots)]
    return {
        "prompt": {"template": " ".join(f"{{{n}}}" for n in names) + " is",
                   "values": {n: f"word{i}" for i, n in enumerate(names)}},
        "target": {"text": " here"},
        "method": method,
        "trials": trials,
    }


def _bias(units: int, candidates: int, **changes: Any) -> dict[str, Any]:
    doc = {
        "kind": "bias",
        "template": "{name} works as a",
        "sweep": {"slots": ["name"], "groups": {"a": [f"A{i}" for i in range(units)],
                                                "b": [f"B{i}" for i in range(units)]}},
        "candidates": [f" c{i}" for i in range(candidates)],
        "attribution": False,
    }
    doc.update(changes)
    return doc


def _few_shot(n_examples: int, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLES["few_shot_sentiment"])
    doc["examples"] = [
        {"input": f"Review number {i} of the film, written at some length.", "label": ("positive", "negative")[i % 2]}
        for i in range(n_examples)
    ]
    doc.update(changes)
    return doc


def _refusal(doc: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as info:
        validate(doc)
    return info.value


# ---------------------------------------------------------------- refused up front


def test_exact_shapley_over_20_features_1000_trials_is_refused_before_planning() -> None:
    started = time.monotonic()
    err = _refusal(_attribution(20, {"name": "shapley", "max_features": 20}, 1000))
    assert time.monotonic() - started < 1.0
    assert err.field == "method"
    assert "1,048,576 coalitions x 1,000" in str(err) and f"{MAX_PLANNED_COALITIONS:,}" in str(err)


def test_shapley_sampling_10000_orderings_1000_trials_is_refused() -> None:
    err = _refusal(_attribution(10, {"name": "shapley_sampling", "n_samples": 10_000}, 1000))
    assert err.field == "method" and "110,020 coalitions x 1,000" in str(err)  # orderings x 11, plus 2 x 10 single features


def test_a_plan_over_the_memory_budget_is_refused_with_its_size() -> None:
    # 2^18 prompts of some 500 characters: within the coalition limit, beyond the memory budget.
    problem = plan_problem("shapley", 18, {"max_features": 20}, 1, prompt_chars=500)
    assert problem is not None and "GiB" in problem
    assert perturbation.plan_memory(2**18, 18, 500) > PLAN_MEMORY_BUDGET
    assert plan_problem("shapley", 12, {"max_features": 12}, 3, prompt_chars=500) is None


def test_plan_rows_counts_what_the_planners_plan() -> None:
    rng = np.random.default_rng(0)
    cases = [("feature_ablation", {}), ("shapley", {"max_features": 12}), ("shapley_sampling", {"n_samples": 7}),
             ("kernel_shap", {"n_samples": 9}), ("kernel_shap", {"n_samples": 500}), ("lime", {"n_samples": 11})]
    for method, params in cases:
        for n in (1, 2, 3, 6):
            planner = METHODS[method].plan
            assert len(planner(n, params, rng).masks) == plan_rows(method, n, params), (method, n)


def test_bias_bootstrap_beyond_what_one_run_may_hold_is_refused() -> None:
    err = _refusal(_bias(5, 200, bootstrap=200_000))
    assert err.field == "bootstrap" and f"{MAX_BOOTSTRAP_CELLS:,}" in str(err)
    # Many units: the statistics would read too many scores.
    err = _refusal(_bias(2000, 20, bootstrap=200_000, permutations=1_000_000))
    assert err.field == "bootstrap" and f"{MAX_RESAMPLED_VALUES:,}" in str(err)
    # The issue's sweep (bootstrap 200,000 over 100 + 100 units, 20 candidates) fits, and is counted right.
    validate(_bias(100, 20, bootstrap=200_000))
    assert resampled_values({"a": 100, "b": 100}, ["a", "b"], 20, 200_000, 5000) == 2 * 20 * (
        200_000 * 400 + 5000 * 200
    )


def test_bias_attribution_plan_beyond_the_limit_is_refused() -> None:
    doc = _bias(100, 3, attribution={"method": "shapley_sampling", "trials": 100, "prompts": 1000,
                                     "params": {"n_samples": 10_000}})
    err = _refusal(doc)
    assert err.field == "attribution" and "coalitions" in str(err)
    doc["attribution"].update(trials=1, prompts=2, params={"n_samples": 10})
    assert validate(doc).attribution.method == "shapley_sampling"


def test_few_shot_with_2000_examples_is_refused_before_a_model_is_loaded() -> None:
    def no_model(name: str) -> Any:
        raise AssertionError("the model was loaded for a spec that cannot run")

    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        run(_few_shot(2000), loader=no_model)
    assert time.monotonic() - started < 2.0
    assert info.value.field == "examples" and f"{FEW_SHOT_MAX_SCORES:,} scores" in str(info.value)
    # Within the scores, but the prompts (every example, 2000 times) would not fit the memory budget.
    err = _refusal(_few_shot(2000, queries=_few_shot(1)["queries"][:1], method={"name": "sampling", "n_samples": 1},
                             order_trials=0))
    assert err.field == "examples" and "GiB" in str(err)


# ---------------------------------------------------------------- Stop and memory while computing


class _StopAfter:
    """A Stop callback that says stop from ``after`` calls on, and remembers when it first did."""

    def __init__(self, after: int = 0) -> None:
        self.calls, self.after, self.pressed = 0, after, None

    def __call__(self) -> bool:
        self.calls += 1
        if self.calls > self.after:
            self.pressed = self.pressed or time.monotonic()
            return True
        return False


def test_planners_hear_stop() -> None:
    for planner, params in ((plan_kernel_shap, {"n_samples": 100_000}), (plan_shapley_sampling, {"n_samples": 10_000})):
        stop = _StopAfter(after=3)
        poll = StopPoll(stop, interval=0.0)
        with pytest.raises(Cancelled):
            planner(30, params, np.random.default_rng(0), poll=poll)
        assert stop.calls == 4


def test_in_chunks_polls_between_chunks_and_keeps_order() -> None:
    texts = [str(i) * (i + 1) for i in range(10)]  # "0", "11", "222", ...: 55 characters
    calls: list[int] = []
    sizes: list[int] = []

    def upper(part: list[str]) -> list[str]:
        sizes.append(len(part))
        return [t.upper() for t in part]

    assert in_chunks(upper, texts, lambda: calls.append(1), size=3) == [t.upper() for t in texts]
    assert sizes == [3, 3, 3, 1] and len(calls) == 4
    sizes.clear()
    in_chunks(upper, texts, lambda: None, size=100, chars=12)  # long texts: fewer to a chunk, never none
    assert sizes == [4, 2, 1, 1, 1, 1]  # 1+2+3+4 characters, 5+6, then 7, 8, 9, 10 alone
    with pytest.raises(Cancelled):
        in_chunks(upper, texts, StopPoll(_StopAfter(after=1), interval=0.0), size=3)


def test_stop_poll_asks_at_most_every_interval() -> None:
    stop = _StopAfter(after=10**9)
    poll = StopPoll(stop, interval=10.0)
    for _ in range(1000):
        poll()
    assert stop.calls == 1
    StopPoll(None)()  # nobody to ask: nothing happens


def _peak_mb(fn: Any) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_bootstrap_memory_is_bounded_by_the_chunk_not_the_resamples() -> None:
    """5,000 resamples of 200 units x 50 outputs: 400 MB gathered at once before; now chunks of 32 MB."""
    x = np.random.default_rng(1).random((200, 50))
    peak = _peak_mb(lambda: stats.bootstrap_mean_ci(x, 5000, np.random.default_rng(0)))
    assert peak < 3 * stats.CHUNK_BYTES / 2**20, peak
    peak = _peak_mb(lambda: stats.bootstrap_two_sample(x[:100], x[100:], stats.mean_diff, 5000,
                                                        np.random.default_rng(0)))
    assert peak < 3 * stats.CHUNK_BYTES / 2**20, peak
    peak = _peak_mb(lambda: stats.permutation_test(x[:100], x[100:], stats.mean_diff, 5000,
                                                    np.random.default_rng(0)))
    assert peak < 3 * stats.CHUNK_BYTES / 2**20, peak


def test_chunked_statistics_match_one_undivided_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks change nothing a single pass would give (bootstrap of the mean, exact and random permutations)."""
    rng = np.random.default_rng(2)
    a, b = rng.random((9, 3)), rng.random((8, 3))

    def compute() -> list[np.ndarray]:
        out = [stats.bootstrap_mean_ci(a, 3000, np.random.default_rng(5))]
        out += list(stats.permutation_test(a[:5], b[:4], stats.mean_diff, 5000, np.random.default_rng(5)))  # exact
        out += list(stats.permutation_test(a, b, stats.mean_diff, 3000, np.random.default_rng(5)))  # random
        return out

    whole = compute()
    monkeypatch.setattr(stats, "CHUNK_BYTES", 2000)  # a few resamples per chunk
    chunked = compute()
    for x, y in zip(whole, chunked):
        assert np.array_equal(x, y)


def test_statistics_hear_stop_between_chunks() -> None:
    x = np.random.default_rng(1).random((200, 50))
    for fn in (
        lambda poll: stats.bootstrap_mean_ci(x, 50_000, np.random.default_rng(0), poll=poll),
        lambda poll: stats.bootstrap_two_sample(x[:100], x[100:], stats.mean_diff, 50_000, np.random.default_rng(0),
                                                poll=poll),
        lambda poll: stats.permutation_test(x[:100], x[100:], stats.mean_diff, 50_000, np.random.default_rng(0),
                                            poll=poll),
    ):
        stop = _StopAfter(after=2)
        with pytest.raises(Cancelled):
            fn(StopPoll(stop, interval=0.0))
        assert stop.calls == 3


def test_the_issues_bias_statistics_stop_within_a_second_in_bounded_memory() -> None:
    """Bootstrap 200,000 over 100 + 100 units and 20 candidates: 3.2 GB gathered at once before, no Stop."""
    from core.probes.bias.run import _compare
    from core.probes.bias.spec import parse_bias_spec, sweep_prompts

    spec = parse_bias_spec(_bias(100, 20, bootstrap=200_000))
    prompts = sweep_prompts(spec)
    logp = -5 * np.random.default_rng(0).random((len(prompts), len(spec.candidates)))
    start = time.monotonic()
    poll = StopPoll(lambda: time.monotonic() - start >= 0.5)

    def compare() -> None:
        with pytest.raises(Cancelled):
            _compare(spec, prompts, logp, poll)

    peak = _peak_mb(compare)
    waited = time.monotonic() - start - 0.5
    assert waited < 1.0, waited
    assert peak < 120, peak  # the resampled means (200,000 x 20) and one chunk


def test_mask_ints_are_exact_for_many_features() -> None:
    masks = np.zeros((3, 100), dtype=bool)
    masks[1, 99] = True
    masks[2, [0, 64, 99]] = True
    assert mask_ints(masks) == [0, 1 << 99, 1 | (1 << 64) | (1 << 99)]


# ---------------------------------------------------------------- time to stop with the real model


def test_stop_is_heard_within_a_second_while_an_attribution_is_planned(lm: Any) -> None:
    """Exact Shapley over 14 features, 4 trials of sampled baselines: 65,536 prompts, some 10 s to plan and encode.

    Before, Stop was first asked by the scorer, after all of that.
    """
    doc = _attribution(14, {"name": "shapley", "max_features": 14}, 4)
    doc["prompt"]["baselines"] = {f"s{i}": [f"alt{i}", f"other{i}", f"third{i}"] for i in range(14)}
    waited = _time_to_stop_with(doc, lm, press_after=0.5)
    assert waited < 1.0, waited


def test_stop_is_heard_within_a_second_while_few_shot_prompts_are_written(lm: Any) -> None:
    """24 examples, 400 orderings, 4 queries: some 40,000 prompts of 1,900 characters to write and encode."""
    doc = _few_shot(24, method={"name": "sampling", "n_samples": 400}, order_trials=0)
    doc["queries"] = doc["queries"][:4]
    validate(doc)  # allowed: the run is long, not refused
    waited = _time_to_stop_with(doc, lm, press_after=0.5)
    assert waited < 1.0, waited


def _time_to_stop_with(doc: dict[str, Any], lm: Any, press_after: float) -> float:
    """Seconds from Stop (pressed ``press_after`` s into the run) to ``Cancelled``."""
    start = time.monotonic()

    def should_stop() -> bool:
        return time.monotonic() - start >= press_after

    with pytest.raises(Cancelled):
        run(doc, should_stop=should_stop, lm=lm)
    return time.monotonic() - start - press_after


def test_paired_kernel_shap_plans_many_features_in_little_memory() -> None:
    """The paired plan takes the one-feature coalitions whole; it once listed all 2^n to find them (240 GB at 30)."""
    planner = METHODS["kernel_shap"].plan
    params = {"n_samples": 2000, "paired": True}
    plans: list[Any] = []
    peak = _peak_mb(lambda: plans.append(planner(40, params, np.random.default_rng(0))))
    assert peak < 50, peak
    assert len(plans[0].masks) == plan_rows("kernel_shap", 40, params) == 2002
    singles = plans[0].masks[2:42]
    assert (singles.sum(axis=1) == 1).all() and (singles.argmax(axis=1) == np.arange(40)).all()
