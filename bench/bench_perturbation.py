"""Benchmark: the WhyLM engine against Captum (sequence path) on the same inputs.

Run:  .venv/bin/python bench/bench_perturbation.py

Prints, measured side by side in one run on this machine:
- feature ablation: Captum FeatureAblation vs the engine (target: >= 2x faster);
- exact Shapley, 5 features: Captum ShapleyValues vs the engine (target: >= 40x);
- the engine's time divided by the time of the bare forward passes it needs
  (its distinct prompts + target through the model in one padded batch,
  nothing else): how close to the machine's limit it runs;
- the same in chat mode, where the shared chat-template prefix is reused.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from captum.attr import FeatureAblation, LLMAttribution, ShapleyValues, TextTemplateInput  # noqa: E402

from core.attribution.engine import prepare  # noqa: E402
from core.attribution.features import encode_prompts  # noqa: E402
from core.attribution.spec import parse_spec  # noqa: E402
from core.engine import run  # noqa: E402
from core.models.loading import load_model  # noqa: E402

TEMPLATE = "{} lives in {}, {} and is a {}. {} personal interests include"
VALUES = ["Dave", "Palm Coast", "FL", "lawyer", "His"]
TARGET = "playing golf, hiking, and cooking."
REPEATS = 3


def best_of(fn, repeats: int = REPEATS) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def captum_time(lm, cls) -> tuple[float, np.ndarray]:
    llm = LLMAttribution(cls(lm.model), lm.tokenizer)
    inp = TextTemplateInput(TEMPLATE, values=VALUES)

    def go():
        with torch.no_grad():
            return llm.attribute(inp, target=TARGET, forward_in_tokens=False).seq_attr.cpu().numpy()

    return best_of(go, repeats=1 if cls is ShapleyValues else REPEATS)


def bare_forward_time(lm, spec_doc) -> float:
    """One padded batch of every distinct prompt the engine evaluates, plain forward."""
    spec = parse_spec(spec_doc)
    ctx = prepare(spec, lm)
    from core.attribution.methods import METHODS

    planner = METHODS[spec.method_name].plan
    plan = planner(len(ctx.layout.features), spec.params, np.random.default_rng(0))
    base = ctx.layout.fixed_baselines()
    texts = {ctx.layout.full_prompt(ctx.layout.render(m, base)) for m in plan.masks}
    texts.add(ctx.layout.full_prompt(ctx.layout.render(np.zeros(len(ctx.layout.features), bool), base)))
    seqs = [ids + ctx.target.ids for ids in encode_prompts(lm.tokenizer, sorted(texts), ctx.layout.chat)]
    width = max(len(s) for s in seqs)
    batch = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        batch[i, : len(s)] = torch.tensor(s)
    batch = batch.to(lm.device)

    def go():
        with torch.inference_mode():
            lm.model.model(input_ids=batch)
        if lm.device.type == "cuda":
            torch.cuda.synchronize()

    return best_of(go)[0]


def main() -> None:
    """Time both engines side by side and print the ratios."""
    import argparse

    parser = argparse.ArgumentParser(description="WhyLM vs Captum, perturbation methods")
    parser.add_argument("--model", default="default", help="model name or folder (default: the bundled model)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    lm = load_model(args.model)
    print(f"model: {lm.display_name} on {lm.device}, torch threads: {torch.get_num_threads()}")
    spec = {
        "prompt": {"template": TEMPLATE, "values": VALUES},
        "target": {"text": TARGET},
        "method": {"name": "feature_ablation"},
    }
    run(spec, lm=lm)  # warm up
    rows = []
    for method, cls, goal in (("feature_ablation", FeatureAblation, 2), ("shapley", ShapleyValues, 40)):
        spec["method"] = {"name": method}
        t_ours, result = best_of(lambda: run(spec, lm=lm))
        t_captum, seq = captum_time(lm, cls)
        diff = float(np.abs(np.array(result.seq_attr) - seq).max())
        bare = bare_forward_time(lm, spec)
        rows.append((method, t_captum, t_ours, t_captum / t_ours, goal, bare, diff, result.meta["forward_passes"]))
    print()
    print(f"{'method':18} {'captum s':>9} {'whylm s':>8} {'speed-up':>9} {'goal':>6} {'bare fwd s':>10} "
          f"{'whylm/bare':>10} {'max |diff|':>10} {'passes':>6}")
    for method, tc, to, ratio, goal, bare, diff, passes in rows:
        ok = "ok" if ratio >= goal else "MISSED"
        print(f"{method:18} {tc:9.3f} {to:8.3f} {ratio:8.1f}x {('>=' + str(goal) + 'x'):>6} {bare:10.3f} "
              f"{to / bare:10.2f} {diff:10.2e} {passes:6d}  {ok}")

    chat = {
        "prompt": {"text": "Dave lives in Palm Coast, FL and is a lawyer. What are his hobbies?", "granularity": "word"},
        "chat": True,
        "target": {"text": "Dave enjoys playing golf, hiking, and cooking."},
        "method": {"name": "feature_ablation"},
    }
    t_chat, res = best_of(lambda: run(chat, lm=lm))
    bare = bare_forward_time(lm, chat)
    print()
    print(f"chat mode, word features ({res.meta['n_features']} features, {res.meta['forward_passes']} passes, "
          f"{res.meta['model_calls']} model calls): whylm {t_chat:.3f} s, bare forward {bare:.3f} s, "
          f"whylm/bare {t_chat / bare:.2f} (below 1: the shared chat prefix is computed once)")
    print(f"median of runs is not used; each figure is the best of {REPEATS} (Captum Shapley: 1 run)")
    _ = statistics


if __name__ == "__main__":
    main()
