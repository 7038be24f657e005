"""A tokenizer that several threads (the dashboard's sessions) can use at once.

A fast tokenizer keeps ``split_special_tokens`` in its Rust backend and sets it on every call
(``transformers``' ``_batch_encode_plus``: ``self._tokenizer.encode_special_tokens = ...``), so
two runs tokenizing at once, one with ``split_special_tokens=True`` (user text, encoded as text)
and one without (a chat template's control tokens), can each get the other's setting: a prompt of
35 tokens was encoded beside its 42 positions to attribute, and the run failed. Encoding calls take
a lock per tokenizer; the object stays an instance of its own class.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCKED = ("__call__", "encode", "encode_plus", "batch_encode_plus", "tokenize", "apply_chat_template")
"""The calls that set the backend's state before they encode."""


def thread_safe(tokenizer: Any) -> Any:
    """``tokenizer`` with its encoding calls serialised by a lock of its own (in place; returned for chaining)."""
    base = type(tokenizer)
    if getattr(base, "_whylm_locked", False):
        return tokenizer
    lock = threading.RLock()

    def locked(name: str) -> Any:
        original = getattr(base, name)

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        call.__name__, call.__doc__ = name, original.__doc__
        return call

    methods = {name: locked(name) for name in _LOCKED if callable(getattr(base, name, None))}
    tokenizer.__class__ = type(base.__name__, (base,), {**methods, "_whylm_locked": True})
    return tokenizer
