"""The per-run work limit: the dashboard's setting, and what to lower when a run is over it.

A shared server refuses a run that needs more forward passes than
``WHYLM_MAX_FORWARD_PASSES`` (default 20,000) before its first batch, with a
sentence naming the settings of that run to lower (:func:`what_to_lower`). The
mechanism (counting and refusing) is ``core.models.sharing.work_limit``; the
dashboard applies the setting and the command line only ``--max-forward-passes``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.attribution.methods import METHODS
from core.attribution.spec import TRIALS
from core.errors import WhyLMError
from core.models.sharing import work_limit
from core.probes.bias.settings import ATTRIBUTION_PROMPTS, ATTRIBUTION_TRIALS
from core.probes.few_shot.settings import MAX_EXACT, N_SAMPLES, ORDER_TRIALS

LIMIT_ENV = "WHYLM_MAX_FORWARD_PASSES"
DEFAULT_MAX_FORWARD_PASSES = 20_000
NO_LIMIT = ("0", "none", "off", "unlimited")


def dashboard_max_forward_passes() -> int | None:
    """The dashboard's limit per run: ``WHYLM_MAX_FORWARD_PASSES``, else 20,000; None for no limit.

    Raises a ``WhyLMError`` sentence when the setting is not a whole number.
    """
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_FORWARD_PASSES
    if raw.lower() in NO_LIMIT:
        return None
    try:
        value = int(raw.replace(",", "").replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise WhyLMError(
            f"The server's {LIMIT_ENV} setting is '{raw}'; set it to a whole number of forward passes "
            "per run (for example 20000), or 0 for no limit."
        )
    return value or None


def _named(label: str, value: Any) -> str:
    """A form label in quotes, with the spec's value when it is a number: '"Samples" (now 30)'."""
    quoted = f'"{label}"'
    return f"{quoted} (now {value:,})" if isinstance(value, int) and not isinstance(value, bool) else quoted


def _attribution_hint(spec: dict[str, Any]) -> str:
    method = spec.get("method") if isinstance(spec.get("method"), dict) else {}
    info = METHODS.get(str(method.get("name")))
    trials = _named(TRIALS.label, spec.get("trials", TRIALS.default))
    if info is None:
        return f"lower the method's samples or steps, or {trials}."
    work = [p for p in info.params if p.name in ("n_samples", "steps")]
    if work:
        p = work[0]
        named = _named(p.label, method.get(p.name, p.default))
        return f"lower {named}" + ("." if info.family == "gradient" else f" or {trials}.")
    if info.name == "shapley":
        return (
            "exact Shapley values double with every feature: group slots into fewer features, or choose "
            f"{METHODS['shapley_sampling'].title}; or lower {trials}."
        )
    return f"explain fewer parts (fewer slots, or a coarser granularity), or lower {trials}."


def what_to_lower(spec: Any) -> str:
    """The end of the refusal's sentence: the settings of this spec that make it smaller."""
    if not isinstance(spec, dict):
        return "make the run smaller."
    kind = spec.get("kind", "attribution")
    if kind == "bias":
        attribution = spec.get("attribution") if isinstance(spec.get("attribution"), dict) else {}
        prompts = _named(ATTRIBUTION_PROMPTS.label, attribution.get("prompts", ATTRIBUTION_PROMPTS.default))
        trials = _named(ATTRIBUTION_TRIALS.label, attribution.get("trials", ATTRIBUTION_TRIALS.default))
        return (
            f"use fewer values per group or fewer candidates, or lower the attribution's {prompts} "
            f"or {trials}, or turn the attribution off."
        )
    if kind == "few_shot":
        method = spec.get("method") if isinstance(spec.get("method"), dict) else {}
        numbers = {**method, **spec}  # max_exact and n_samples may sit in the method object
        samples = _named(N_SAMPLES.label, numbers.get("n_samples", N_SAMPLES.default))
        orders = _named(ORDER_TRIALS.label, numbers.get("order_trials", ORDER_TRIALS.default))
        exact = _named(MAX_EXACT.label, numbers.get("max_exact", MAX_EXACT.default))
        return (
            f"use fewer examples or queries, lower {samples} or {orders}, or lower {exact}: "
            "exact values double with every example."
        )
    return _attribution_hint(spec)


@contextmanager
def limited(spec: Any, max_forward_passes: int | None) -> Iterator[None]:
    """Run ``spec`` in this block under a limit of ``max_forward_passes`` (None: no limit)."""
    with work_limit(max_forward_passes, what_to_lower(spec)):
        yield
