"""Benchmark: the few-shot probe (8 examples x 10 queries, exact Shapley) against scoring each prompt alone.

8 examples give 2^8 = 256 coalitions; with 10 queries that is 2,560 prompts,
each scored for 2 labels (5,120 prompt x label rows). The probe sends all rows
to the batched scorer in one call (shared prefixes, de-duplication, LM head only
at label positions). "Alone" is one plain ``lm.model(...)`` forward per prompt
and label with no sharing; by default a seeded random sample of those forwards
is timed and the total extrapolated (``--alone all`` times every one).

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_few_shot.py [--alone 100]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attribution.perturbation import all_masks  # noqa: E402
from core.models.loading import load_model  # noqa: E402
from core.probes.few_shot.run import run_few_shot  # noqa: E402
from core.probes.few_shot.spec import few_shot_presets, parse_few_shot_spec  # noqa: E402

EXTRA_EXAMPLES = [
    {"input": "Clumsy editing and a soundtrack that never stops shouting.", "label": "negative"},
    {"input": "A gentle, clever comedy for the whole family.", "label": "positive"},
]


def bench_spec() -> dict:
    """The sentiment preset grown to 8 examples x 10 queries, without order trials."""
    spec = few_shot_presets()["sentiment"]
    spec["examples"] = spec["examples"] + EXTRA_EXAMPLES
    spec["order_trials"] = 0
    assert len(spec["examples"]) == 8 and len(spec["queries"]) == 10
    return spec


def time_alone(lm, spec_doc: dict, sample: int | None, seed: int = 0) -> tuple[float, int, int]:
    """Seconds for one plain forward per (prompt, label) row: (measured seconds, rows timed, rows total)."""
    spec = parse_few_shot_spec(spec_doc)
    tok = lm.tokenizer
    n_ex = len(spec.examples)
    rows = [
        (code, q, lab)
        for code, mask in enumerate(all_masks(n_ex))
        for q in range(len(spec.queries))
        for lab in spec.labels
    ]
    masks = all_masks(n_ex)
    chosen = range(len(rows))
    if sample is not None and sample < len(rows):
        chosen = np.random.default_rng(seed).choice(len(rows), size=sample, replace=False)
    start = time.perf_counter()
    with torch.inference_mode():
        for r in chosen:
            code, q, lab = rows[int(r)]
            text = spec.user_text([i for i in range(n_ex) if masks[code, i]], q)
            prompt = list(tok(text)["input_ids"])
            label = list(tok(spec.label_text(lab), add_special_tokens=False)["input_ids"])
            ids = torch.tensor([prompt + label], device=lm.device)
            logits = lm.model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
            torch.log_softmax(logits.float(), dim=-1)[torch.arange(len(label)), label].sum().item()
    return time.perf_counter() - start, len(chosen), len(rows)


def main() -> None:
    """Print the probe's time, the alone time and their ratio, measured side by side."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--alone", default="100", help="how many alone-forwards to time (or 'all')")
    args = parser.parse_args()
    sample = None if args.alone == "all" else int(args.alone)

    lm = load_model("default")
    spec = bench_spec()
    print(f"model: {lm.display_name} on {lm.device}, torch threads: {torch.get_num_threads()}")

    start = time.perf_counter()
    result = run_few_shot(spec, lm=lm)
    probe_s = time.perf_counter() - start
    meta = result.meta
    print(
        f"probe: {meta['n_examples']} examples x {meta['n_queries']} queries = {meta['prompts']:,} prompts, "
        f"{meta['rows']:,} prompt x label rows in one scorer call: {probe_s:.1f} s "
        f"({meta['model_calls']:,} model calls, {meta['tokens_processed']:,} tokens through the model)"
    )

    alone_s, timed, total = time_alone(lm, spec, sample)
    per_row = alone_s / timed
    alone_total = per_row * total
    how = "all timed" if timed == total else f"extrapolated from a random sample of {timed} of {total:,}"
    print(
        f"alone: one forward per prompt and label, {total:,} forwards: {alone_total:.1f} s "
        f"({how}; {per_row * 1000:.1f} ms per forward)"
    )
    print(f"speed-up of the probe over scoring each prompt alone: {alone_total / probe_s:.1f}x")
    print(f"accuracy zero-shot {result.accuracy['zero_shot']:.2f}, all {result.accuracy['all']:.2f}, "
          f"best subset {result.accuracy['best_subset']:.2f} {result.best_subset}")


if __name__ == "__main__":
    main()
