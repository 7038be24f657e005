"""Scoring a study's items with one model: each option's log-likelihood, as lm-evaluation-harness computes it.

An option is a (context, continuation) pair. Its tokens follow lm-eval's ``hf`` model: with an empty
context the continuation is scored after the model's start token (BOS, else end-of-text); otherwise the
context's trailing spaces move to the continuation, context + continuation is encoded whole and split
after the context's own tokens. Items go to the model in batches ordered by their text, so that options
sharing a context (a question's answers) or a prefix share its computation (the scorer's prefix tree);
each finished batch is stored (``core.probes.studies.checkpoint``) and items already stored are not
scored again. Progress counts items (an item stored by an earlier run counts as done).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.attribution.scorer import ShouldStop, scorer_for
from core.errors import Cancelled
from core.probes.studies.checkpoint import Checkpoint, item_key, model_key
from core.probes.studies.items import BadRow, Item

BATCH_ITEMS = 500
"""Items per scored batch (and per stored checkpoint). Larger batches share more prefixes in the scorer's
tree (1,500 pairs on the bundled model, two idle cores: 19.7 s in batches of 200, 16.8 s of 500, 15.5 s
of 1,500); progress is still said within a batch, from the rows the scorer has done."""

ItemProgress = Callable[[int, int], None]


def prefix_token(tokenizer: Any) -> int:
    """The token an empty context stands for: BOS when the tokenizer has one, else end-of-text (lm-eval's rule)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    return int(bos if bos is not None else tokenizer.eos_token_id)


def encode_option(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) of one option, as lm-eval's ``hf`` model encodes them."""
    if context == "":
        cont = list(tokenizer.encode(continuation, add_special_tokens=False))
        start = prefix_token(tokenizer)
        if cont and cont[0] == start:
            return cont[:1], cont[1:]
        return [start], cont
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation = context[-spaces:] + continuation
        context = context[:-spaces]
    whole = list(tokenizer.encode(context + continuation))
    ctx = list(tokenizer.encode(context))
    return ctx, whole[len(ctx) :]


@dataclass
class ModelScores:
    """One model's scores of a study's items.

    Attributes:
        sums: per item, per option, the summed log-likelihood.
        tokens: per item, per option, the continuation's token count.
        scored_now: items this run scored (the others came from the stored batches).
        bad: items that could not be scored (a continuation of no tokens), as bad rows.
        seconds: time spent scoring.
        checkpoint: the model's key in the stored batches (``core.probes.studies.checkpoint.model_key``).
    """

    sums: list[list[float]]
    tokens: list[list[int]]
    scored_now: int
    bad: list[BadRow]
    seconds: float
    checkpoint: str = ""


def item_keys(items: list[Item]) -> list[str]:
    """Each item's key in the stored batches: a digest of its options' (context, continuation) texts."""
    return [item_key([[o.context, o.continuation] for o in item.options]) for item in items]


def model_checkpoint_key(lm: Any) -> str:
    """A loaded (or served) model's key in the stored batches: name, revision, server and precision."""
    return model_key(lm.name, lm.revision, lm.endpoint, lm.dtype_name)


def score_items(
    lm: Any,
    items: list[Item],
    progress: ItemProgress | None = None,
    should_stop: ShouldStop | None = None,
    batch_items: int = BATCH_ITEMS,
    checkpoint: Checkpoint | None = None,
) -> ModelScores:
    """Score every item's options with ``lm`` in batches, reusing and storing finished batches.

    Args:
        lm: the loaded (or served) model.
        items: the study's items.
        progress: called with (items scored, items in all) at the start, as a batch's rows are scored
            (the batch's share of them, in items) and after each batch; an item taken from the stored
            batches counts as done.
        should_stop: polled between batches; True raises ``Cancelled`` (finished batches stay stored).
        batch_items: items per batch.
        checkpoint: where finished batches go (None: the model's own in the data folder).
    """
    started = time.perf_counter()
    store = checkpoint or Checkpoint(model_checkpoint_key(lm))
    keys = item_keys(items)
    stored = store.get(keys)
    sums: list[list[float]] = [[] for _ in items]
    tokens: list[list[int]] = [[] for _ in items]
    for i, key in enumerate(keys):
        if key in stored:
            sums[i] = [float(s) for s, _ in stored[key]]
            tokens[i] = [int(n) for _, n in stored[key]]
    todo = [i for i in range(len(items)) if not sums[i]]
    todo.sort(key=lambda i: (items[i].options[0].context, items[i].options[0].continuation))
    total = len(items)
    done = total - len(todo)
    bad: list[BadRow] = []
    batch: list[int] = []

    def rows_done(rows: int, of: int) -> None:  # the scorer's progress, in rows of this batch
        if progress and of:
            progress(done + len(batch) * rows // of, total)

    scorer = scorer_for(lm, progress=rows_done, should_stop=should_stop)
    if progress:
        progress(done, total)
    for start in range(0, len(todo), batch_items):
        if should_stop is not None and should_stop():
            raise Cancelled()
        batch = todo[start : start + batch_items]
        rows, owners = [], []
        for i in batch:
            encoded = [encode_option(lm.tokenizer, o.context, o.continuation) for o in items[i].options]
            empty = [k for k, (_, cont) in enumerate(encoded) if not cont]
            if empty:
                text = items[i].options[empty[0]].continuation.strip()
                bad.append(
                    BadRow(
                        items[i].row, "", f"the option {text!r} tokenizes to nothing; it cannot be scored."
                    )
                )
                continue
            rows.extend(encoded)
            owners.append((i, len(encoded)))
        values = scorer.log_probs(rows) if rows else []
        finished: dict[str, list[list[float]]] = {}
        at = 0
        for i, n in owners:
            per = values[at : at + n]
            at += n
            sums[i] = [float(np.sum(v)) for v in per]
            tokens[i] = [len(v) for v in per]
            finished[keys[i]] = [[s, t] for s, t in zip(sums[i], tokens[i])]
        store.put(finished)
        done += len(batch)
        if progress:
            progress(done, total)
    return ModelScores(sums, tokens, len(todo), bad, time.perf_counter() - started, store.model)
