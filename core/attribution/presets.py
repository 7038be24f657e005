"""Worked examples: ready-made run specs that the dashboard's pages can load into their forms.

Each preset is a complete spec document (see ``core.attribution.spec``), so the same
example runs from the command line: ``python -m core run`` on ``preset(id).spec``.
The first one is the Captum tutorial's case ("Using Captum to Explain
Generative Language Models", Miglani et al. 2023).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from core.errors import WhyLMError


@dataclass(frozen=True)
class Preset:
    """A worked example.

    Attributes:
        id: short stable name.
        title: what the example shows, for a menu.
        page: the page that runs it ("explain" or "token_gradients").
        description: one or two sentences on what to look for.
        spec: the run spec document.
    """

    id: str
    title: str
    page: str
    description: str
    spec: dict[str, Any]

    def spec_copy(self) -> dict[str, Any]:
        """A deep copy of the spec (safe to modify)."""
        return copy.deepcopy(self.spec)


TUTORIAL_TEMPLATE = "{} lives in {}, {} and is a {}. {} personal interests include"
TUTORIAL_TARGET = "playing golf, hiking, and cooking."
NAMED_TEMPLATE = "{name} lives in {city}, {state} and is a {job}. {pronoun} personal interests include"

PRESETS: tuple[Preset, ...] = (
    Preset(
        "captum_tutorial",
        "Captum tutorial: Dave lives in Palm Coast",
        "explain",
        "The tutorial's template with five slots, each removed in turn (feature ablation): which "
        "words make the model expect 'playing golf, hiking, and cooking.'?",
        {
            "kind": "attribution",
            "model": "default",
            "prompt": {"template": TUTORIAL_TEMPLATE, "values": ["Dave", "Palm Coast", "FL", "lawyer", "His"]},
            "chat": False,
            "target": {"text": TUTORIAL_TARGET},
            "score": "log_prob",
            "method": {"name": "feature_ablation"},
            "trials": 1,
            "seed": 0,
        },
    ),
    Preset(
        "tutorial_grouped",
        "Grouped slots with replacement baselines",
        "explain",
        "The same sentence, but the person (name + pronoun) and the place (city + state) each move "
        "as one feature, and an absent slot is replaced by a different person or place instead of "
        "being removed (Shapley value sampling).",
        {
            "kind": "attribution",
            "model": "default",
            "prompt": {
                "template": NAMED_TEMPLATE,
                "values": {"name": "Dave", "city": "Palm Coast", "state": "FL", "job": "lawyer", "pronoun": "His"},
                "baselines": {"name": "Sarah", "city": "Seattle", "state": "WA", "job": "doctor", "pronoun": "Her"},
                "groups": {"person": ["name", "pronoun"], "place": ["city", "state"]},
            },
            "chat": False,
            "target": {"text": TUTORIAL_TARGET},
            "score": "log_prob",
            "method": {"name": "shapley_sampling", "n_samples": 10},
            "trials": 1,
            "seed": 0,
        },
    ),
    Preset(
        "tutorial_alternatives",
        "Sampled alternatives, averaged over trials",
        "explain",
        "Each absent slot is replaced by one of several alternatives, drawn afresh in each of three "
        "trials; name and pronoun are drawn together so they always agree.",
        {
            "kind": "attribution",
            "model": "default",
            "prompt": {
                "template": NAMED_TEMPLATE,
                "values": {"name": "Dave", "city": "Palm Coast", "state": "FL", "job": "lawyer", "pronoun": "His"},
                "baselines": {
                    "name": ["Sarah", "John", "Martin"],
                    "pronoun": ["Her", "His", "His"],
                    "city": ["Seattle", "Boston"],
                    "state": ["WA", "MA"],
                    "job": ["doctor", "engineer", "teacher"],
                },
                "groups": {"person": ["name", "pronoun"], "place": ["city", "state"]},
                "paired": [["name", "pronoun"], ["city", "state"]],
            },
            "chat": False,
            "target": {"text": TUTORIAL_TARGET},
            "score": "log_prob",
            "method": {"name": "shapley"},
            "trials": 3,
            "seed": 0,
        },
    ),
    Preset(
        "chat_hobby",
        "Chat mode: what does the assistant answer, and why?",
        "explain",
        "The prompt goes inside the model's chat template; the model writes its own answer and "
        "each word of the question is scored by Kernel SHAP.",
        {
            "kind": "attribution",
            "model": "default",
            "prompt": {"text": "I am a nurse from Lagos. Suggest a hobby.", "granularity": "word"},
            "chat": True,
            "target": {"generate": {"max_new_tokens": 8, "do_sample": False}},
            "score": "log_prob",
            "method": {"name": "kernel_shap", "n_samples": 30},
            "trials": 1,
            "seed": 0,
        },
    ),
    Preset(
        "capital_ig",
        "Integrated gradients: the capital of France",
        "token_gradients",
        "Which prompt tokens does the model lean on to answer ' Paris'? Integrated gradients from an "
        "empty prompt of padding tokens, 24 steps. In chat mode the chat template's own tokens stay as "
        "they are, which keeps the path smooth: the numbers add up to the change in score within about 3%.",
        {
            "kind": "attribution",
            "model": "default",
            "prompt": {"text": "The capital of France is", "granularity": "word"},
            "chat": True,
            "target": {"text": " Paris"},
            "score": "log_prob",
            "method": {"name": "integrated_gradients", "steps": 24},
            "trials": 1,
            "seed": 0,
        },
    ),
)


def presets_for(page: str) -> list[Preset]:
    """The presets a page offers ("explain" or "token_gradients")."""
    return [p for p in PRESETS if p.page == page]


def preset(preset_id: str) -> Preset:
    """The preset called ``preset_id``; a sentence listing them if there is none."""
    for p in PRESETS:
        if p.id == preset_id:
            return p
    raise WhyLMError(f"There is no example called '{preset_id}'; choose one of {', '.join(p.id for p in PRESETS)}.")
