"""The document probe's settings, declared once: the spec parser validates against these and the form draws them."""

from __future__ import annotations

from core.attribution.methods import Param
from core.probes.documents.node_methods import METHODS, NODE_METHODS
from core.probes.documents.owen import CONTEXTS
from core.probes.documents.sources import LEVELS

CHAT = Param(
    "chat",
    "bool",
    True,
    "Chat mode: the prompt inside the model's chat template",
    "Instruction-tuned models answer questions inside their chat template; the template's text is never a source.",
)
LEVEL = Param(
    "level",
    "choice",
    "sentence",
    "Finest sources",
    "Paragraphs first, then the sentences inside the paragraphs that matter (and, at word level, the words "
    "inside the sentences that matter).",
    choices=LEVELS,
    choice_labels=("Paragraphs", "Sentences", "Words"),
)
METHOD = Param(
    "method",
    "choice",
    "auto",
    "Method at each step",
    "Automatic: exact Shapley values when the passes pay for every combination, else paired Kernel SHAP with "
    "standard errors, else leave-one-out. ContextCite: random ablations and a sparse linear fit (LASSO).",
    choices=NODE_METHODS,
    choice_labels=("Automatic", *(m.label for m in METHODS.values())),
)
PASSES = Param(
    "passes",
    "int",
    64,
    "Forward passes",
    "How many ablated prompts the attribution scores (the top-k check adds a few more). More passes open "
    "more paragraphs and give smaller error bars.",
    4,
    4096,
    suggested=(16, 32, 64, 128, 256, 512),
)
REFINE = Param(
    "refine",
    "int",
    3,
    "Paragraphs opened",
    "How many of the most important paragraphs (then sentences) are "
    "opened into their parts at each level, while the passes last; the more one matters, the more of the "
    "passes it gets.",
    1,
    100,
)
CONTEXTS_PARAM = Param(
    "contexts",
    "choice",
    "document",
    "Read a part inside",
    "The rest of the document (fast), or every combination of the other paragraphs, as Owen values do (exact, "
    "for short documents only).",
    choices=CONTEXTS,
    choice_labels=("The rest of the document", "Every combination of the others (Owen)"),
)
FIT = Param(
    "fit",
    "choice",
    "refuse",
    "A document longer than the model's context",
    "Refuse it with a sentence saying by how much, or attribute the part that fits (its first sentences).",
    choices=("refuse", "truncate"),
    choice_labels=("Refuse it", "Attribute the part that fits"),
)
RANDOM_TRIALS = Param(
    "random_trials",
    "int",
    2,
    "Random sets in the check",
    "For each k, how many sets of k random sources are removed beside the top k.",
    0,
    20,
)
SEED = Param("seed", "int", 0, "Random seed", "The same seed gives the same numbers.", 0, 2**31 - 1)
SETTINGS = (CHAT, LEVEL, METHOD, PASSES, REFINE, CONTEXTS_PARAM, FIT, RANDOM_TRIALS, SEED)
"""Every declared setting, in the form's order."""
