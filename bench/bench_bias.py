"""Benchmark: the bias sweep's shared-prefix scoring against scoring each pair alone.

Sweeps the shipped gender x occupation preset (40 names with pronouns x 8
occupations = 320 prompt-candidate pairs) on the bundled model and times, side
by side in one process:

  shared   the probe's path: one ``BatchedScorer.log_probs`` call over all rows
           (each prompt's key/value cache shared across its candidates);
  batched  the same scorer with prefix sharing off (batched, full rows);
  alone    one plain ``lm.model(...)`` forward per pair, no batching, no sharing.

It checks that the three agree and prints the times and ratios. The target is
shared at least 3x faster than alone.

    python bench/bench_bias.py [--alone-pairs N] [--repeats R]

``--alone-pairs N`` times only N evenly spread pairs alone and scales the time
to all pairs (for slow machines); the default times all of them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attribution.features import encode_prompts  # noqa: E402
from core.attribution.scorer import BatchedScorer  # noqa: E402
from core.attribution.targets import encode_target  # noqa: E402
from core.models.loading import load_model  # noqa: E402
from core.probes.bias.data import bias_presets  # noqa: E402
from core.probes.bias.spec import parse_bias_spec, sweep_prompts  # noqa: E402


def score_alone(lm, prompt_ids: list[int], cand_ids: list[int]) -> float:
    """One forward over prompt + candidate, log-softmax, summed over the candidate's tokens."""
    ids = torch.tensor([prompt_ids + cand_ids], device=lm.device)
    with torch.inference_mode():
        logits = lm.model(ids).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)
    start = len(prompt_ids)
    return float(sum(logp[start + k - 1, t].item() for k, t in enumerate(cand_ids)))


def main() -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--alone-pairs", type=int, default=0, help="time only N pairs alone (0: all)")
    parser.add_argument("--repeats", type=int, default=1, help="best of R timings for the batched paths")
    args = parser.parse_args()

    spec = parse_bias_spec(bias_presets()["gender_occupation"])
    lm = load_model("default")
    prompts = sweep_prompts(spec)
    prompt_ids = encode_prompts(lm.tokenizer, [p.text for p in prompts], spec.chat)
    cand_ids = [encode_target(lm.tokenizer, c, "candidates") for c in spec.candidates]
    rows = [(p, c) for p in prompt_ids for c in cand_ids]
    print(
        f"model {lm.display_name} on {lm.device} ({torch.get_num_threads()} threads); "
        f"{len(prompts)} prompts x {len(cand_ids)} candidates = {len(rows)} pairs"
    )

    # warm-up (allocator, kernels)
    BatchedScorer(lm).log_probs(rows[:40])

    def timed(share: bool) -> tuple[float, np.ndarray, BatchedScorer]:
        best, out, scorer = float("inf"), None, None
        for _ in range(args.repeats):
            scorer = BatchedScorer(lm, share_prefix=share)
            t0 = time.perf_counter()
            logp = scorer.log_probs(rows)
            best = min(best, time.perf_counter() - t0)
            out = np.array([lp.sum() for lp in logp])
        return best, out, scorer

    t_shared, v_shared, s_shared = timed(True)
    t_batched, v_batched, s_batched = timed(False)

    picks = list(range(len(rows)))
    if args.alone_pairs and args.alone_pairs < len(rows):
        picks = np.linspace(0, len(rows) - 1, args.alone_pairs).round().astype(int).tolist()
    t0 = time.perf_counter()
    v_alone = np.array([score_alone(lm, *rows[i]) for i in picks])
    t_alone_measured = time.perf_counter() - t0
    t_alone = t_alone_measured * len(rows) / len(picks)

    diff_batched = float(np.abs(v_shared - v_batched).max())
    diff_alone = float(np.abs(v_shared[picks] - v_alone).max())
    print(f"{'path':10} {'seconds':>9} {'model calls':>12} {'x vs alone':>11}")
    print(f"{'shared':10} {t_shared:9.2f} {s_shared.model_calls:12d} {t_alone / t_shared:10.1f}x")
    print(f"{'batched':10} {t_batched:9.2f} {s_batched.model_calls:12d} {t_alone / t_batched:10.1f}x")
    scaled = (
        ""
        if len(picks) == len(rows)
        else f"  (measured {len(picks)} pairs in {t_alone_measured:.2f} s, scaled)"
    )
    print(f"{'alone':10} {t_alone:9.2f} {len(rows):12d} {1.0:10.1f}x{scaled}")
    print(f"max |shared - batched| = {diff_batched:.2e}; max |shared - alone| = {diff_alone:.2e} (log-prob)")
    ok = t_alone / t_shared >= 3.0 and diff_alone < 1e-3
    print(f"target: shared >= 3x faster than alone, same numbers: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
