"""The run specification: a plain JSON document that says what to explain and how.

Example (the Captum tutorial case)::

    {
      "kind": "attribution",
      "model": "default",
      "prompt": {
        "template": "{name} lives in {city}, {state} and is a {job}. {pronoun} personal interests include",
        "values": {"name": "Dave", "city": "Palm Coast", "state": "FL",
                   "job": "lawyer", "pronoun": "His"},
        "baselines": {"name": "Sarah", "pronoun": "Her"},
        "groups": {"person": ["name", "pronoun"]}
      },
      "chat": false,
      "target": {"text": " playing golf, hiking, and cooking."},
      "score": "log_prob",
      "method": {"name": "shapley"},
      "trials": 1,
      "seed": 0
    }

``prompt`` is either a template (``template``, ``values``, optional
``baselines``, ``groups`` and ``paired``) or plain text (``text``,
``granularity`` in token/word/sentence/line/paragraph, optional ``baseline``).
``target`` is ``{"text": ...}`` or ``{"generate": {...}}`` with an optional
``"contrast": "other text"`` (score = score(target) - score(contrast)).
``faithfulness`` (default true) checks the attribution with deletion and insertion
curves (``core.attribution.faithfulness``); false turns the check off.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from core.attribution.features import GRANULARITIES, layout_from_template
from core.attribution.methods import MethodInfo, Param, method_info
from core.attribution.planning import plan_problem
from core.errors import SpecError
from core.models.request import parse_model
from core.text import check_document, shown

SCORES = ("log_prob", "prob")
MAX_TRIALS = 1000
MAX_SEED = 2**32 - 1

# The run's own settings, declared once: the parser checks them, the forms draw them.
TRIALS = Param(
    "trials", "int", 1, "Trials",
    "Repeat the run with freshly drawn alternatives and random samples, and average.",
    minimum=1, maximum=MAX_TRIALS,
)
SEED = Param("seed", "int", 0, "Random seed", "The same seed gives the same numbers.", minimum=0, maximum=MAX_SEED)
FAITHFULNESS = Param(
    "faithfulness", "bool", True, "Check faithfulness",
    "Score the target again with the top-ranked parts removed (deletion) and alone (insertion), "
    "beside random orders, to show how well the attribution explains the model (at most 2 prompts "
    "per feature more).",
)

# Generation settings of a generated target (``target.generate``).
GENERATE_PARAMS: tuple[Param, ...] = (
    Param("max_new_tokens", "int", 25, "Most new tokens", "The longest output the model may write.", minimum=1, maximum=512),
    Param("do_sample", "bool", False, "Sample", "Draw the output at random instead of taking the likeliest token."),
    Param("temperature", "float", 1.0, "Temperature", "Above 1 flattens the choice, below 1 sharpens it.",
          minimum=0.01, maximum=10.0),
    Param("top_p", "float", 1.0, "Top-p", "Sample only from the likeliest tokens that make up this share.",
          minimum=0.01, maximum=1.0),
    Param("seed", "int", 0, "Sampling seed", "The same seed draws the same output.", minimum=0, maximum=MAX_SEED),
)
GENERATE = {p.name: p for p in GENERATE_PARAMS}
GENERATE_DEFAULTS: dict[str, Any] = {p.name: p.default for p in GENERATE_PARAMS}


@dataclass
class RunSpec:
    """A validated run specification (``raw`` keeps the document as given, with defaults)."""

    kind: str
    model: str | dict[str, str]  # the spec's model field, normalised (core.models.request)
    prompt: dict[str, Any]
    chat: bool
    target: dict[str, Any]
    score: str
    method: MethodInfo
    params: dict[str, Any]
    trials: int
    seed: int
    raw: dict[str, Any]
    faithfulness: bool = True

    @property
    def method_name(self) -> str:
        """The method's spec name."""
        return self.method.name


def _require(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise SpecError(field, message)


def _parse_prompt(prompt: Any) -> dict[str, Any]:
    _require(isinstance(prompt, dict), "prompt", "give an object with a template or a text.")
    if "template" in prompt:
        allowed = {"template", "values", "baselines", "groups", "paired"}
        for key in prompt:
            _require(key in allowed, f"prompt.{key}", f"unknown field; a template prompt takes {', '.join(sorted(allowed))}.")
        _require("values" in prompt, "prompt.values", "give the text of each slot of the template.")
        return dict(prompt)
    if "text" in prompt:
        allowed = {"text", "granularity", "baseline"}
        for key in prompt:
            _require(key in allowed, f"prompt.{key}", f"unknown field; a text prompt takes {', '.join(sorted(allowed))}.")
        text = prompt["text"]
        _require(isinstance(text, str) and text.strip() != "", "prompt.text", "the prompt is empty; write the text to explain.")
        granularity = prompt.get("granularity", "word")
        _require(
            granularity in GRANULARITIES,
            "prompt.granularity",
            f"{shown(granularity)} is not a granularity; choose one of {', '.join(GRANULARITIES)}.",
        )
        out = dict(prompt)
        out["granularity"] = granularity
        return out
    raise SpecError("prompt", "give either a template (with values) or a text (with a granularity).")


def _parse_target(target: Any) -> dict[str, Any]:
    _require(isinstance(target, dict), "target", 'give {"text": ...} or {"generate": {...}}.')
    for key in target:
        _require(
            key in ("text", "generate", "contrast"),
            f"target.{key}",
            "unknown field; a target takes text or generate, and optionally contrast.",
        )
    has_text, has_gen = "text" in target, "generate" in target
    _require(has_text != has_gen, "target", "give exactly one of text (the output to explain) or generate.")
    out: dict[str, Any] = {}
    if has_text:
        text = target["text"]
        _require(isinstance(text, str), "target.text", 'the target must be text in quotes, e.g. " playing golf".')
        _require(text != "", "target.text", "the target text is empty; write the output to explain.")
        out["text"] = text
    else:
        gen = target["generate"]
        if gen is True:
            gen = {}
        _require(isinstance(gen, dict), "target.generate", "give generation settings as an object ({} for the defaults).")
        for key in gen:
            _require(
                key in GENERATE_DEFAULTS,
                f"target.generate.{key}",
                f"unknown generation setting; use {', '.join(GENERATE_DEFAULTS)}.",
            )
        out["generate"] = {p.name: p.read(gen, "target.generate.") for p in GENERATE_PARAMS}
    if "contrast" in target and target["contrast"] is not None:
        contrast = target["contrast"]
        _require(isinstance(contrast, str) and contrast != "", "target.contrast", "the contrast text is empty; write the alternative output.")
        out["contrast"] = contrast
    return out


def _check_template_plan(prompt: dict[str, Any], method: MethodInfo, params: dict[str, Any], trials: int) -> None:
    """Lay a template prompt out (a SpecError on bad slots) and refuse a perturbation plan beyond the limits.

    A text prompt is segmented with the model's tokenizer, so its plan is checked when it runs.
    """
    if "template" not in prompt:
        return
    layout = layout_from_template(
        prompt["template"], prompt.get("values"), prompt.get("baselines"), prompt.get("groups"), prompt.get("paired")
    )
    if method.family != "perturbation":
        return
    n = len(layout.features)
    chars = len(layout.render([True] * n, {}))
    problem = plan_problem(method.name, n, params, trials, chars, same_prompts=not layout.has_sampled_baselines)
    if problem:
        raise SpecError("method", problem)


def parse_spec(doc: Any) -> RunSpec:
    """Validate a spec document and fill in defaults; raise SpecError naming the field.

    A template prompt is laid out here already (its slots, values, baselines and groups
    checked), and a perturbation method's plan is held to ``plan_problem``'s limits, so
    a spec that cannot run is refused before any model is loaded.
    """
    _require(isinstance(doc, dict), "", "the spec must be a JSON object.")
    check_document(doc)
    allowed = {
        "kind", "model", "prompt", "chat", "target", "score", "method", "trials", "seed", "faithfulness", "title", "tags"
    }
    for key in doc:
        _require(key in allowed, key, f"unknown field; a spec takes {', '.join(sorted(allowed))}.")
    kind = doc.get("kind", "attribution")
    _require(kind == "attribution", "kind", f"{shown(kind)} is not an attribution run; give kind \"attribution\" (or leave it out).")
    model = parse_model(doc.get("model", "default")).document()
    _require("prompt" in doc, "prompt", "the spec has no prompt; give a template or a text.")
    prompt = _parse_prompt(doc["prompt"])
    chat = doc.get("chat", False)
    _require(isinstance(chat, bool), "chat", "must be true or false.")
    _require("target" in doc, "target", 'the spec has no target; give {"text": ...} or {"generate": {}}.')
    target = _parse_target(doc["target"])
    score = doc.get("score", "log_prob")
    _require(score in SCORES, "score", f"{shown(score)} is not a score; choose log_prob or prob.")
    method_raw = doc.get("method", {"name": "feature_ablation"})
    if isinstance(method_raw, str):
        method_raw = {"name": method_raw}
    _require(isinstance(method_raw, dict), "method", 'give {"name": ...} with the method\'s parameters.')
    method = method_info(method_raw.get("name"))
    params = method.validate(method_raw)
    trials = TRIALS.read(doc)
    seed = SEED.read(doc)
    check_faithfulness = FAITHFULNESS.read(doc)
    _check_template_plan(prompt, method, params, trials)
    raw = copy.deepcopy(doc)
    raw.update(
        kind=kind,
        model=model,
        prompt=prompt,
        chat=chat,
        target=target,
        score=score,
        method={"name": method.name, **params},
        trials=trials,
        seed=seed,
    )
    # Written only when turned off: a spec saved before the switch existed is the spec as run.
    raw.pop("faithfulness", None)
    if not check_faithfulness:
        raw["faithfulness"] = False
    return RunSpec(
        kind=kind,
        model=model,
        prompt=prompt,
        chat=chat,
        target=target,
        score=score,
        method=method,
        params=params,
        trials=trials,
        seed=seed,
        raw=raw,
        faithfulness=check_faithfulness,
    )
