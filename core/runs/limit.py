"""The per-run work limit: the dashboard's settings, and what to lower when a run is over them.

A shared server refuses, before its first batch and with a sentence naming the settings of
that run to lower (:func:`what_to_lower`), a run that needs

- more forward passes than ``WHYLM_MAX_FORWARD_PASSES`` (default 20,000; a gradient point is a
  forward and a backward pass, two),
- more tokens through the model than ``WHYLM_MAX_WORK_TOKENS`` (default 200,000: about a quarter
  of an hour on two CPU cores; a backward pass counts its tokens again),
- more memory for one prompt (or one gradient point) than the scorer's budget,
  ``WHYLM_MEMORY_BUDGET_MB`` (planned from the model's shape and the prompt's length).

The mechanism (counting and refusing) is ``core.models.sharing.work_limit``; the dashboard
applies the settings and the command line only ``--max-forward-passes`` (then the memory check
too). :func:`refusal` says before Run, from the spec alone (and the loaded model, for the
prompt's length), why a run would be refused, so the page can disable Run with that sentence.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.attribution.methods import METHODS
from core.errors import SpecError, WhyLMError
from core.kinds import run_kind
from core.models.sharing import WorkLimitExceeded, work_limit

LIMIT_ENV = "WHYLM_MAX_FORWARD_PASSES"
DEFAULT_MAX_FORWARD_PASSES = 20_000
TOKENS_LIMIT_ENV = "WHYLM_MAX_WORK_TOKENS"
DEFAULT_MAX_WORK_TOKENS = 200_000
"""Tokens through the model per run: the presets need at most about 10,000 (``core.runs.estimate.run_work``)."""
NO_LIMIT = ("0", "none", "off", "unlimited")


def _setting(env: str, default: int, unit: str, example: int) -> int | None:
    """A whole-number limit from ``env`` (default when unset; None for no limit); a sentence when malformed."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    if raw.lower() in NO_LIMIT:
        return None
    try:
        value = int(raw.replace(",", "").replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise WhyLMError(
            f"The server's {env} setting is '{raw}'; set it to a whole number of {unit} "
            f"per run (for example {example}), or 0 for no limit."
        )
    return value or None


def dashboard_max_forward_passes() -> int | None:
    """The dashboard's limit per run: ``WHYLM_MAX_FORWARD_PASSES``, else 20,000; None for no limit.

    Raises a ``WhyLMError`` sentence when the setting is not a whole number.
    """
    return _setting(LIMIT_ENV, DEFAULT_MAX_FORWARD_PASSES, "forward passes", 20000)


def dashboard_max_work_tokens() -> int | None:
    """The dashboard's limit of tokens through the model per run: ``WHYLM_MAX_WORK_TOKENS``, else 200,000.

    None for no limit; raises a ``WhyLMError`` sentence when the setting is not a whole number.
    """
    return _setting(TOKENS_LIMIT_ENV, DEFAULT_MAX_WORK_TOKENS, "tokens", 200000)


def what_to_lower(spec: Any) -> str:
    """The end of the refusal's sentence: the settings of this spec that make it smaller (its kind's ``lower``)."""
    try:
        return run_kind(spec).lower(spec)
    except SpecError:
        return "make the run smaller."


def memory_to_lower(spec: Any) -> str:
    """The end of the memory refusal's sentence: what makes one prompt (or gradient point) smaller."""
    method = spec.get("method") if isinstance(spec, dict) and isinstance(spec.get("method"), dict) else {}
    info = METHODS.get(str(method.get("name")))
    shorter = "shorten the prompt or the target"
    if info is not None and info.family == "gradient":
        shorter += " (a gradient point keeps the whole prompt's activations for its backward pass)"
    return f"{shorter}, or ask the server's operator to raise WHYLM_MEMORY_BUDGET_MB."


@contextmanager
def limited(
    spec: Any, max_forward_passes: int | None, max_tokens: int | None = None, lm: Any = None
) -> Iterator[None]:
    """Run ``spec`` in this block under a limit of ``max_forward_passes`` and ``max_tokens`` (None: no limit).

    A spec over ``max_tokens`` by the time estimate's count (or, with ``lm``, too long for its
    context) is refused at once, before its model or prompts are touched; the scorer and the
    gradient engine then count the real tokens and forward passes. While either limit is on,
    a prompt over the memory budget is refused too.
    """
    problem = _refusal(spec, lm, max_tokens)
    if problem is not None:
        raise problem
    with work_limit(max_forward_passes, what_to_lower(spec), max_tokens, memory_to_lower(spec)):
        yield


def _refusal(spec: Any, lm: Any, max_tokens: int | None) -> WhyLMError | None:
    """The error that refuses ``spec`` before it runs (too long for ``lm``, over ``max_tokens``), or None."""
    from core.attribution.prompt_length import prompt_length_problem
    from core.errors import SpecError
    from core.runs.estimate import run_work

    if not isinstance(spec, dict):
        return None
    try:
        texts = run_kind(spec).prompt_texts if lm is not None else None
    except SpecError:
        texts = None  # not a spec of any kind: its parser says so when it runs
    if texts is not None:
        for field, what, text in texts(spec):
            problem = prompt_length_problem(text, lm.tokenizer, lm.max_context, what)
            if problem:
                return SpecError(field, problem)
    work = run_work(spec) if max_tokens is not None else None
    if work is not None and max_tokens is not None and work.total > max_tokens:
        return WorkLimitExceeded(round(work.total), max_tokens, what_to_lower(spec), unit="tokens")
    return None


def refusal(spec: Any, lm: Any = None) -> str | None:
    """Why the dashboard would refuse ``spec`` before running it (a sentence), or None.

    A prompt or target too long for ``lm``'s context (checked in characters, then in bounded
    chunks of tokens: ``core.attribution.prompt_length``), or more tokens of work than
    ``WHYLM_MAX_WORK_TOKENS`` (``core.runs.estimate.run_work``, the time estimate's count).
    """
    problem = _refusal(spec, lm, dashboard_max_work_tokens())
    if problem is None:
        return None
    said = str(problem)
    field = getattr(problem, "field", "")
    if field and said.startswith(f"{field}: "):  # a SpecError's sentence without the field it names
        said = said[len(field) + 2 :]
    return said[0].upper() + said[1:]
