"""Perturbation methods over coalitions of features.

Each method is two pure steps: ``plan`` draws the coalitions (boolean masks,
one row per evaluation, True = feature present) and ``combine`` turns their
values into attributions. Values are a matrix (coalitions x outputs): the
sequence score and each output token's score side by side, so every method
gives per-token attributions from the same evaluations. The engine evaluates
each distinct coalition once.

What a run may plan is declared here once: :func:`plan_problem` refuses, with a
sentence, a plan over :data:`MAX_PLANNED_COALITIONS` coalitions or over
:data:`PLAN_MEMORY_BUDGET` bytes (the spec parsers call it up front, the runners
again once the prompt is laid out), and a planner given ``poll`` calls it while it
works, so that Stop (:class:`StopPoll`) is heard within a fraction of a second.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.attribution.shapley_kriging import kriged_shapley
from core.errors import Cancelled

ValueFn = Callable[[np.ndarray], np.ndarray]
Poll = Callable[[], None]
"""Called now and then by long loops; raises ``Cancelled`` when the run is to stop."""

MAX_PLANNED_COALITIONS = 2**21
"""The most coalitions one run may plan over all its trials (and, in the bias probe, all its
attributed prompts): exact Shapley over 20 features twice. Every one is a model evaluation."""
PLAN_MEMORY_BUDGET = 2 << 30
"""The most memory (bytes) the planned coalitions and their prompts may take, by :func:`plan_memory`."""
PROMPT_BYTES = 2304
"""Memory a planned prompt takes besides its characters (see :func:`plan_memory`)."""
CHAR_BYTES = 24
"""Memory a planned prompt takes per character (its text and its token ids)."""
CODE_BITS = 62
"""Up to this many features a coalition's code is one whole number (bit i = feature i)."""


class StopPoll:
    """A ``Poll`` over the engine's Stop callback: asks it at most every ``interval`` seconds.

    Cheap enough to call for every planned coalition; raises ``Cancelled`` as soon as
    ``should_stop()`` says so. With no callback it does nothing.
    """

    def __init__(self, should_stop: Callable[[], bool] | None, interval: float = 0.05) -> None:
        self.should_stop = should_stop
        self.interval = interval
        self._next = 0.0

    def __call__(self) -> None:
        """Raise ``Cancelled`` when the run was asked to stop (checked every ``interval`` seconds)."""
        if self.should_stop is None:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        if self.should_stop():
            raise Cancelled()


def no_poll() -> None:
    """The ``Poll`` of a planner nobody can stop."""


def all_masks(n: int) -> np.ndarray:
    """Every coalition of n features; row m has feature i present when bit i of m is set."""
    m = np.arange(2**n, dtype=np.int64)
    return ((m[:, None] >> np.arange(n)) & 1).astype(bool)


def mask_codes(masks: np.ndarray) -> np.ndarray:
    """A code per mask for de-duplication (equal masks, equal codes; ``np.unique`` sorts them).

    Up to :data:`CODE_BITS` features the code is the whole number with bit i set for
    feature i present; above, the mask's packed bytes (a whole number would overflow
    and merge different coalitions).
    """
    n = masks.shape[1]
    if n <= CODE_BITS:
        return (masks.astype(np.int64) << np.arange(n, dtype=np.int64)).sum(axis=1)
    packed = np.ascontiguousarray(np.packbits(masks, axis=1))
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def count_words(n: int) -> str:
    """A count that may be astronomically large, in words ("1,048,576", "2^300")."""
    return f"{n:,}" if n < 10**15 else f"2^{n.bit_length() - 1}"


def mask_ints(masks: np.ndarray) -> list[int]:
    """Each mask as a Python whole number, bit i = feature i present (exact for any number of features)."""
    packed = np.packbits(masks, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


# ---------------------------------------------------------------- what a plan costs




def plan_memory(rows: int, n: int, prompt_chars: int, prompts: int | None = None) -> int:
    """Bytes that ``rows`` planned coalitions of ``n`` features take, with their prompts.

    Each coalition keeps its mask (n bytes) and three indices (24 bytes); each
    distinct prompt (``prompts``; at most ``rows`` when None) its text, its token ids
    as Python numbers and the scorer's row: measured with the bundled model's
    tokenizer, about 2 KB plus 21 bytes per character (65,536 prompts of 104
    characters took 295 MB, 16,384 of 882 characters 326 MB), rounded up here.
    """
    prompts = rows if prompts is None else prompts
    return rows * (n + 24) + prompts * (PROMPT_BYTES + CHAR_BYTES * prompt_chars)






@dataclass
class Plan:
    """Coalitions to evaluate and what the combiner needs to know about them."""

    masks: np.ndarray
    extra: dict[str, Any]


def plan_kriging(plan: Plan, values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`~core.attribution.shapley_kriging.kriged_shapley` of a paired plan's values, computed once.

    The attribution and its standard error come from the same solve: the first call
    keeps the result in the plan (with a digest of the values), the next returns it.
    """
    digest = hashlib.blake2b(np.ascontiguousarray(values, dtype=float).tobytes(), digest_size=16).digest()
    kept = plan.extra.get("kriged")
    if kept is not None and kept[0] == digest:
        return kept[1]
    result = kriged_shapley(plan.masks, values)
    plan.extra["kriged"] = (digest, result)
    return result


# ---------------------------------------------------------------- ablation






# ---------------------------------------------------------------- exact Shapley






# ---------------------------------------------------------------- Shapley sampling








# ---------------------------------------------------------------- Kernel SHAP












# ---------------------------------------------------------------- LIME












def polled(items: Any, poll: Poll) -> Any:
    """The items of an iterable, calling ``poll`` before each (so a long loop hears Stop)."""
    for item in items:
        poll()
        yield item


def in_chunks(
    fn: Callable[[list[str]], list[Any]], texts: list[str], poll: Poll, size: int = 1024, chars: int = 65_536
) -> list[Any]:
    """``fn(texts)`` computed a chunk at a time, with ``poll`` before each chunk, results joined.

    A chunk holds at most ``size`` texts and, past its first, ``chars`` characters. For
    work that is one call over many texts (encoding every planned prompt: about 10 s for
    65,536 short prompts with the bundled tokenizer), so that it hears Stop between chunks.
    """
    out: list[Any] = []
    start = 0
    while start < len(texts):
        end, total = start, 0
        while end < len(texts) and end - start < size and (end == start or total + len(texts[end]) <= chars):
            total += len(texts[end])
            end += 1
        poll()
        out.extend(fn(texts[start:end]))
        start = end
    return out
