"""Shared by the saved-runs, compare, report and browser tests: real results, computed once per process.

Three feature-ablation runs of the Captum tutorial template on the bundled model
(seven forward passes each): the tutorial itself, the same prompt with other
baselines (comparable with the first), and the template with two values changed
(partly different features). No tests live here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from core.engine import run
from core.models.loading import LoadedModel
from core.store import RunRepository

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "<script>alert('x')</script>"


def tutorial_spec() -> dict[str, Any]:
    """The tutorial example with feature ablation (cheap: n + 2 prompts)."""
    spec = json.loads((ROOT / "examples" / "tutorial.json").read_text())
    spec["method"] = {"name": "feature_ablation"}
    return spec


def baseline_spec() -> dict[str, Any]:
    """The tutorial with explicit baselines: same features and target, other numbers."""
    spec = tutorial_spec()
    spec["prompt"]["baselines"] = ["Sam", "Seattle", "WA", "doctor", "Her"]
    return spec


def other_values_spec() -> dict[str, Any]:
    """The tutorial with two values changed: features overlap only partly."""
    spec = tutorial_spec()
    spec["prompt"]["values"] = ["Dave", "Paris", "FL", "doctor", "His"]
    return spec


_CACHE: dict[int, tuple[dict[str, Any], ...]] = {}


def _results(lm: LoadedModel) -> tuple[dict[str, Any], ...]:
    if id(lm) not in _CACHE:
        specs = (tutorial_spec(), baseline_spec(), other_values_spec())
        _CACHE[id(lm)] = tuple(run(spec, lm=lm).to_dict() for spec in specs)
    return _CACHE[id(lm)]


def real_results(lm: LoadedModel) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(tutorial, other baselines, other values) results, deep copies of one computation per process."""
    return copy.deepcopy(_results(lm))  # type: ignore[return-value]


def save_three(repo: RunRepository, lm: LoadedModel) -> tuple[int, int, int]:
    """Save the three real results with distinct titles and tags; return their ids."""
    a, b, c = real_results(lm)
    ida = repo.save_run("attribution", "Tutorial ablation", a["spec"], a, tags=["tutorial", "golf"])
    idb = repo.save_run("attribution", "Tutorial with other baselines", b["spec"], b, tags=["tutorial"])
    idc = repo.save_run("attribution", "Paris doctor variant", c["spec"], c, tags=["variant"])
    return ida, idb, idc
