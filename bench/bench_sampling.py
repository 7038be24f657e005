"""Benchmark: sample efficiency of Shapley sampling and Kernel SHAP against Captum's, at equal forward passes.

Run:  OMP_NUM_THREADS=1 .venv/bin/python bench/bench_sampling.py [--seeds 10] [--prompt farm|bakery|meeting|doctor]

A prompt of 10 word features on the bundled model. The exact Shapley values come
from the engine (2^10 coalitions, each scored once). Every estimator then draws
its coalitions at 64, 128 and 256 forward passes and is scored on the same
values (the model's score of each coalition, looked up from the exact run):

- WhyLM ``shapley_sampling`` and ``kernel_shap`` with ``paired`` (the dashboard's
  default: complement pairs chosen for what they tell, Shapley values kriged from
  them, see core/attribution/shapley_kriging.py and pair_design.py): forward passes =
  distinct coalitions;
- Captum ``ShapleyValueSampling`` and ``KernelShap``, the algorithms
  ``LLMAttribution`` runs, called on the same value function: forward passes =
  Captum's calls to it (Captum scores repeated coalitions again).

A check first runs Captum's ``LLMAttribution`` on the real model and confirms the
value-function version gives the same numbers and the same count of model calls.
Error = ||estimate - exact|| / ||exact|| (sequence attribution), mean over seeds.
Goal: at equal forward passes, WhyLM's error at most half of Captum's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from captum.attr import KernelShap, LLMAttribution, ShapleyValueSampling, TextTemplateInput  # noqa: E402

from core.attribution.engine import prepare  # noqa: E402
from core.attribution.methods import METHODS  # noqa: E402
from core.attribution.perturbation import all_masks, mask_codes  # noqa: E402
from core.attribution.prompt_values import LayoutCoalitions, PromptValues  # noqa: E402
from core.attribution.spec import parse_spec  # noqa: E402
from core.models.loading import load_model  # noqa: E402

PROMPTS = {  # ten word features, the text after them, the target
    "farm": (["My", "grandmother", "grew", "up", "on", "a", "small", "farm", "in", "Kansas"],
             ", and every summer she", " rode horses with her brothers."),
    "bakery": (["The", "old", "bakery", "on", "Main", "Street", "sells", "fresh", "bread", "daily"],
               ". Every morning the line", " stretches around the block."),
    "meeting": (["After", "the", "long", "meeting", "the", "tired", "engineer", "finally", "went", "home"],
                " and", " fell asleep on the couch."),
    "doctor": (["Doctor", "Maria", "Lopez", "treated", "the", "injured", "child", "at", "the", "hospital"],
               ". Afterwards she", " called his parents."),
}
WORDS, _TAIL, TARGET = PROMPTS["farm"]
TEMPLATE = " ".join(["{}"] * len(WORDS)) + _TAIL
BUDGETS = (64, 128, 256)


def exact_table(lm) -> tuple[np.ndarray, np.ndarray]:
    """The sequence score of every coalition (indexed by mask code) through the engine's scorer, and exact Shapley."""
    spec = parse_spec({"model": "default", "prompt": {"template": TEMPLATE, "values": WORDS},
                       "target": {"text": TARGET}, "method": {"name": "shapley"}})
    ctx = prepare(spec, lm)
    values = PromptValues(lm, ctx.layout.chat, ctx.target, spec.score)
    masks = all_masks(len(WORDS))  # row m is the coalition of mask code m
    table = LayoutCoalitions(values, ctx.layout, ctx.layout.fixed_baselines(), lambda: None).values(masks)[:, 0]
    planner, combiner = METHODS["shapley"].plan, METHODS["shapley"].combine
    exact = combiner(planner(len(WORDS), {}, np.random.default_rng(0)), table[:, None], {})[0]
    return table, exact


def ours(method: str, budget: int, seed: int, table: np.ndarray) -> tuple[np.ndarray, int]:
    """WhyLM's estimate at the largest sample count whose distinct coalitions fit ``budget``."""
    n = len(WORDS)
    planner, combiner = METHODS[method].plan, METHODS[method].combine
    key = "n_samples"
    best = None
    for samples in range(2, 4 * budget):
        params = {key: samples if method == "shapley_sampling" else budget - 2, "paired": True}
        plan = planner(n, params, np.random.default_rng(seed))
        codes = mask_codes(plan.masks)
        distinct = len(np.unique(codes))
        if distinct > budget:
            break
        best = (plan, codes, params, distinct)
        if method != "shapley_sampling":
            break
    plan, codes, params, distinct = best
    attr = combiner(plan, table[codes][:, None], params)[0]
    return attr, distinct


class CountedTable:
    """Captum's forward function over the table: 1 = feature present; counts calls (rows)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = torch.tensor(table, dtype=torch.float64)
        self.calls = 0
        self.weights = 2 ** torch.arange(len(WORDS))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += x.shape[0]
        codes = ((x != 0).long() * self.weights).sum(dim=1)
        return self.table[codes].float()


def captum(cls, samples: int, seed: int, table: np.ndarray) -> tuple[np.ndarray, int]:
    """Captum's estimate with ``samples`` (orderings or coalitions) and its count of calls."""
    fn = CountedTable(table)
    torch.manual_seed(seed)
    attr = cls(fn).attribute(torch.ones(1, len(WORDS)), n_samples=samples)
    return attr.reshape(-1).double().numpy(), fn.calls


def captum_samples(cls, budget: int, table: np.ndarray) -> int:
    """The most samples Captum can take within ``budget`` calls."""
    best = 1
    for samples in range(1, budget + 1):
        if captum(cls, samples, 0, table)[1] > budget:
            break
        best = samples
    return best


def check_against_real_captum(lm, table: np.ndarray) -> None:
    """LLMAttribution on the model and the table version agree (numbers and model calls)."""
    calls = [0]
    forward = lm.model.forward

    def counted(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        calls[0] += int(ids.shape[0]) if ids is not None else 1
        return forward(*args, **kwargs)

    lm.model.forward = counted  # Captum calls the model's forward directly (hooks do not see it)
    try:
        for cls, samples in ((ShapleyValueSampling, 2), (KernelShap, 20)):
            calls[0] = 0
            torch.manual_seed(0)
            llm = LLMAttribution(cls(lm.model), lm.tokenizer)
            with torch.no_grad():
                real = llm.attribute(TextTemplateInput(TEMPLATE, values=WORDS), target=TARGET,
                                     forward_in_tokens=False, n_samples=samples).seq_attr.double().numpy()
            emulated, counted_calls = captum(cls, samples, 0, table)
            gap = float(np.abs(real - emulated).max())
            print(f"check {cls.__name__}: model calls {calls[0]} vs counted {counted_calls}; "
                  f"largest difference {gap:.2e}", flush=True)
    finally:
        del lm.model.forward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--prompt", choices=sorted(PROMPTS), default="farm",
                        help="the prompt (farm: the one the goal is stated on; the others check it holds elsewhere)")
    args = parser.parse_args()
    global WORDS, TEMPLATE, TARGET
    WORDS, tail, TARGET = PROMPTS[args.prompt]
    TEMPLATE = " ".join(["{}"] * len(WORDS)) + tail
    lm = load_model("default")
    table, exact = exact_table(lm)
    check_against_real_captum(lm, table)
    norm = np.linalg.norm(exact)
    print(f"\n{args.prompt!r} prompt ({TEMPLATE.format(*WORDS)!r} -> {TARGET!r}): 10 word features, exact Shapley from 1,024 coalitions; error = |est - exact| / |exact|, "
          f"mean over {args.seeds} seeds\n")
    print(f"{'passes':>6} | {'WhyLM sampling':>15} {'Captum SVS':>11} {'ratio':>6} | "
          f"{'WhyLM kernel':>13} {'Captum KS':>10} {'ratio':>6}")
    for budget in BUDGETS:
        cells = []
        for method, cls in (("shapley_sampling", ShapleyValueSampling), ("kernel_shap", KernelShap)):
            samples = captum_samples(cls, budget, table)
            mine, theirs, used_mine, used_theirs = [], [], [], []
            for seed in range(args.seeds):
                attr, used = ours(method, budget, seed, table)
                mine.append(np.linalg.norm(attr - exact) / norm)
                used_mine.append(used)
                attr, used = captum(cls, samples, seed, table)
                theirs.append(np.linalg.norm(attr - exact) / norm)
                used_theirs.append(used)
            a, b = float(np.mean(mine)), float(np.mean(theirs))
            cells.append((a, b, max(used_mine), max(used_theirs)))
        (a1, b1, u1, v1), (a2, b2, u2, v2) = cells
        print(f"{budget:>6} | {a1:>10.4f}({u1:>3}) {b1:>7.4f}({v1:>3}) {a1 / b1:>6.2f} | "
              f"{a2:>8.4f}({u2:>3}) {b2:>6.4f}({v2:>3}) {a2 / b2:>6.2f}")
    print("\n(in brackets: the most forward passes any seed used; ratio = WhyLM / Captum, goal <= 0.5)")


if __name__ == "__main__":
    main()
