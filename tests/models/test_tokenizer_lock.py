"""Two sessions tokenizing at once get their own settings (core.models.tokenizer_lock).

A fast tokenizer stores ``split_special_tokens`` in its backend on every call, so a run encoding
user text (control tokens as text) beside a run encoding a chat template's control tokens could
get the other's setting: in the 8-session browser test an integrated-gradients run once encoded
its prompt to 35 tokens beside 42 positions to attribute, and failed.
"""

from __future__ import annotations

import copy
import threading
import time

from core.models.loading import LoadedModel
from core.models.tokenizer_lock import thread_safe

TEXT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>"


def _race(tokenizer, rounds: int = 300) -> list[str]:  # noqa: ANN001 - a transformers tokenizer
    """Encode ``TEXT`` both ways from two threads at once; the encodings that came out wrong."""
    as_text = tokenizer(TEXT, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    as_control = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert as_text != as_control  # the two settings encode differently
    wrong: list[str] = []

    def encode(split: bool, want: list[int]) -> None:
        for _ in range(rounds):
            got = tokenizer(TEXT, add_special_tokens=False, split_special_tokens=split)["input_ids"]
            if got != want:
                wrong.append(f"split={split}: {len(got)} tokens, not {len(want)}")

    threads = [threading.Thread(target=encode, args=(s, w)) for s, w in ((True, as_text), (False, as_control))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wrong


def test_the_loaded_models_tokenizer_encodes_each_call_with_its_own_setting(lm: LoadedModel) -> None:
    assert _race(lm.tokenizer) == []
    assert type(lm.tokenizer).__name__ == type(lm.tokenizer).__mro__[1].__name__  # still its own class


def test_a_call_sets_the_backends_shared_state(lm: LoadedModel) -> None:
    """Why the lock is there: a call leaves ``split_special_tokens`` in the backend, for every thread."""
    bare = copy.deepcopy(lm.tokenizer)
    bare(TEXT, split_special_tokens=True)
    assert bare._tokenizer.encode_special_tokens is True
    bare(TEXT)
    assert bare._tokenizer.encode_special_tokens is False


def test_two_threads_calls_never_overlap(lm: LoadedModel) -> None:
    """With the lock, a second thread's call waits until the first one's is done (no interleaving)."""
    spans: list[tuple[float, float]] = []
    unlocked = type(lm.tokenizer).__mro__[1]

    class Slow(unlocked):  # the tokenizer's own class, each call made slow enough to overlap
        def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
            began = time.monotonic()
            time.sleep(0.5)
            out = unlocked.__call__(self, *args, **kwargs)
            spans.append((began, time.monotonic()))
            return out

    for lock in (False, True):
        spans.clear()
        tok = copy.deepcopy(lm.tokenizer)
        tok.__class__ = Slow
        if lock:
            thread_safe(tok)
        threads = [threading.Thread(target=tok, args=(TEXT,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        (a0, a1), (b0, b1) = sorted(spans)
        assert (b0 >= a1) == lock, (lock, spans)  # unlocked, they overlap; locked, one after the other
