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
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from core.errors import SpecError
from core.features import GRANULARITIES
from core.methods import MethodInfo, method_info

SCORES = ("log_prob", "prob")
GENERATE_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": 25,
    "do_sample": False,
    "temperature": 1.0,
    "top_p": 1.0,
    "seed": 0,
}
MAX_TRIALS = 1000


@dataclass
class RunSpec:
    """A validated run specification (``raw`` keeps the document as given, with defaults)."""

    kind: str
    model: str
    prompt: dict[str, Any]
    chat: bool
    target: dict[str, Any]
    score: str
    method: MethodInfo
    params: dict[str, Any]
    trials: int
    seed: int
    raw: dict[str, Any]

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
            f"'{granularity}' is not a granularity; choose one of {', '.join(GRANULARITIES)}.",
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
        _require(isinstance(text, str) and text != "", "target.text", "the target text is empty; write the output to explain.")
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
        merged = {**GENERATE_DEFAULTS, **gen}
        mnt = merged["max_new_tokens"]
        _require(
            isinstance(mnt, int) and not isinstance(mnt, bool) and 1 <= mnt <= 512,
            "target.generate.max_new_tokens",
            "give a whole number of new tokens between 1 and 512.",
        )
        _require(isinstance(merged["do_sample"], bool), "target.generate.do_sample", "must be true or false.")
        for key in ("temperature", "top_p"):
            value = merged[key]
            _require(
                isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
                f"target.generate.{key}",
                "must be a number above 0.",
            )
        _require(
            isinstance(merged["seed"], int) and not isinstance(merged["seed"], bool),
            "target.generate.seed",
            "must be a whole number.",
        )
        out["generate"] = merged
    if "contrast" in target and target["contrast"] is not None:
        contrast = target["contrast"]
        _require(isinstance(contrast, str) and contrast != "", "target.contrast", "the contrast text is empty; write the alternative output.")
        out["contrast"] = contrast
    return out


def parse_spec(doc: Any) -> RunSpec:
    """Validate a spec document and fill in defaults; raise SpecError naming the field."""
    _require(isinstance(doc, dict), "", "the spec must be a JSON object.")
    allowed = {"kind", "model", "prompt", "chat", "target", "score", "method", "trials", "seed", "title", "tags"}
    for key in doc:
        _require(key in allowed, key, f"unknown field; a spec takes {', '.join(sorted(allowed))}.")
    kind = doc.get("kind", "attribution")
    _require(kind == "attribution", "kind", f"'{kind}' is not a run kind; use attribution, bias or few_shot.")
    model = doc.get("model", "default")
    _require(isinstance(model, str) and model.strip() != "", "model", "give a model name, a folder, or default.")
    _require("prompt" in doc, "prompt", "the spec has no prompt; give a template or a text.")
    prompt = _parse_prompt(doc["prompt"])
    chat = doc.get("chat", False)
    _require(isinstance(chat, bool), "chat", "must be true or false.")
    _require("target" in doc, "target", 'the spec has no target; give {"text": ...} or {"generate": {}}.')
    target = _parse_target(doc["target"])
    score = doc.get("score", "log_prob")
    _require(score in SCORES, "score", f"'{score}' is not a score; choose log_prob or prob.")
    method_raw = doc.get("method", {"name": "feature_ablation"})
    if isinstance(method_raw, str):
        method_raw = {"name": method_raw}
    _require(isinstance(method_raw, dict), "method", 'give {"name": ...} with the method\'s parameters.')
    method = method_info(method_raw.get("name"))
    params = method.validate(method_raw)
    trials = doc.get("trials", 1)
    _require(
        isinstance(trials, int) and not isinstance(trials, bool) and 1 <= trials <= MAX_TRIALS,
        "trials",
        f"give a whole number of trials between 1 and {MAX_TRIALS}.",
    )
    seed = doc.get("seed", 0)
    _require(isinstance(seed, int) and not isinstance(seed, bool), "seed", "must be a whole number.")
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
    )
