"""Benchmark: per-token integrated gradients, WhyLM's engine against Captum, side by side.

1. The Captum tutorial case (prompt "Dave lives in Palm Coast, FL and is a
   lawyer. His personal interests include", target "playing golf, hiking, and
   cooking."), integrated gradients with 50 Gauss-Legendre steps, baseline token
   id 0: ``core.engine.run`` against Captum's
   ``LLMGradientAttribution(LayerIntegratedGradients)`` on ``TextTokenInput``.
   Prints both times, the ratio, and the largest difference between the two
   attributions relative to the largest attribution.
2. Peak memory (VmHWM / ru_maxrss of a fresh subprocess) for a 400-token prompt with a
   30-token target, within the default memory budget (``WHYLM_MEMORY_BUDGET_MB``
   overrides). Peak memory depends on the chunk (points per forward), not on the
   number of steps, so this case runs few steps to stay short.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_gradient.py [--steps 50] [--memory-steps 2]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPT = "Dave lives in Palm Coast, FL and is a lawyer. His personal interests include"
TARGET = "playing golf, hiking, and cooking."

CHILD = r"""
import json, resource, sys, time
from core.models.loading import load_model
from core.engine import run
import gc
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
lm = load_model()
gc.collect()
loaded_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
before = status("VmRSS:")
words = ("the quick brown fox jumps over a lazy dog while seven wizards quietly "
         "judge boxing matches near an old river bank").split()
tok = lm.tokenizer
text, n = "", 0
i = 0
while n < 400:
    text += (" " if text else "") + words[i % len(words)]
    i += 1
    n = len(tok(text)["input_ids"])
while len(tok(text)["input_ids"]) > 400:
    text = text[: text.rindex(" ")]
target_ids = [tok(" " + words[j % len(words)], add_special_tokens=False)["input_ids"][0] for j in range(30)]
target = tok.decode(target_ids)
steps = int(sys.argv[1])
spec = {"model": "default", "prompt": {"text": text, "granularity": "token"},
        "target": {"text": target}, "score": "log_prob",
        "method": {"name": "integrated_gradients", "steps": steps, "rule": "gausslegendre", "baseline": 0}}
t = time.perf_counter()
result = run(spec, lm=lm)
seconds = time.perf_counter() - t
print(json.dumps({"prompt_tokens": len(result.prompt_tokens), "target_tokens": len(result.output_tokens),
                  "steps": steps, "model_calls": result.meta["model_calls"], "seconds": seconds,
                  "rss_after_load_mb": before, "peak_rss_mb": status("VmHWM:"),
                  "load_peak_mb": loaded_peak,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


MODEL = "default"


def ours(steps: int):
    """Our engine through the run spec (the same path as the CLI and pages)."""
    import numpy as np

    from core.engine import run
    from core.models.loading import load_model

    spec = {
        "model": MODEL,
        "prompt": {"text": PROMPT, "granularity": "token"},
        "target": {"text": TARGET},
        "score": "log_prob",
        "method": {"name": "integrated_gradients", "steps": steps, "rule": "gausslegendre", "baseline": 0},
    }
    lm = load_model(MODEL)
    start = time.perf_counter()
    result = run(spec, lm=lm)
    seconds = time.perf_counter() - start
    return seconds, np.array(result.token_attr), np.array(result.seq_attr), result


def captum(steps: int):
    """Captum's LLMGradientAttribution over LayerIntegratedGradients, same settings."""
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    from core.models.loading import load_model

    lm = load_model(MODEL)
    lig = LayerIntegratedGradients(lm.model, lm.model.model.embed_tokens)
    llm_attr = LLMGradientAttribution(lig, lm.tokenizer)
    inp = TextTokenInput(PROMPT, lm.tokenizer, baselines=0)
    start = time.perf_counter()
    res = llm_attr.attribute(inp, target=TARGET, n_steps=steps, method="gausslegendre")
    if lm.device.type == "cuda":
        import torch

        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, res.token_attr.detach().cpu().numpy(), res.seq_attr.detach().cpu().numpy()


def main() -> None:
    """Run both cases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--memory-steps", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--model", default="default", help="model name or folder (default: the bundled model)")
    args = parser.parse_args()
    global MODEL
    MODEL = args.model
    import numpy as np
    import torch

    from core.models.loading import load_model

    lm = load_model(MODEL)
    print(f"torch threads: {torch.get_num_threads()}, device: {lm.device}")
    ours(2)  # warm-up (first call pays one-off costs)
    t_ours, tok, seq, result = ours(args.steps)
    t_captum, c_tok, c_seq = captum(args.steps)
    t_ours2, *_ = ours(args.steps)
    best = min(t_ours, t_ours2)
    scale = np.abs(c_tok).max()
    print(
        f"\n[1] per-token integrated gradients, {args.steps} steps, "
        f"{len(result.features)} prompt tokens x {len(result.output_tokens)} target tokens"
    )
    print(f"    WhyLM engine : {t_ours:8.2f} s, again {t_ours2:8.2f} s "
          f"({result.meta['model_calls']} model calls)")
    print(f"    Captum       : {t_captum:8.2f} s")
    print(f"    speed-up     : {t_captum / best:8.2f}x (Captum / best WhyLM)")
    print(f"    max |diff| / max |attr|: token_attr {np.abs(tok - c_tok).max() / scale:.2e}, "
          f"seq_attr {np.abs(seq - c_seq).max() / np.abs(c_seq).max():.2e}")
    gap = result.extra["completeness"]["sequence"]
    print(f"    completeness gap (sequence): {gap['gap']:.4f} of {gap['difference']:.4f} "
          f"({100 * gap['relative']:.1f}%)")
    if args.skip_memory:
        return
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(args.memory_steps)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n[2] {doc['prompt_tokens']}-token prompt, {doc['target_tokens']}-token target, "
          f"{doc['steps']} steps, default memory budget")
    print(f"    peak RSS during the run {doc['peak_rss_mb']:.0f} MB (VmHWM reset after loading; "
          f"RSS with the model loaded {doc['rss_after_load_mb']:.0f} MB, so "
          f"{doc['peak_rss_mb'] - doc['rss_after_load_mb']:.0f} MB for the run)")
    print(f"    process ru_maxrss {doc['ru_maxrss_mb']:.0f} MB (loading alone peaked at "
          f"{doc['load_peak_mb']:.0f} MB); {doc['model_calls']} model calls, {doc['seconds']:.1f} s")


if __name__ == "__main__":
    main()
