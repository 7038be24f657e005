"""The attribution methods and the parameters each one declares; ``Param``, a declared setting.

Pages render a method's form from these declarations, the spec parser
validates against them, and a new method needs no page edits: add it here.
The probes declare their settings with the same ``Param`` (``core.probes.*.settings``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import SpecError
from core.text import shown


@dataclass(frozen=True)
class Param:
    """One declared setting: of a method, or of a probe (``core.probes.*.settings``).

    The form draws its widget from this declaration and the spec parser
    validates the spec's value against it, so a default, a bound or a label is
    written once, here.

    Attributes:
        name: key in the spec object that holds it (``method`` for a method).
        kind: "int", "float", "bool", "choice" or "int_or_choice".
        default: value used when the spec leaves it out.
        label: short label for a form.
        help: one sentence that explains it to a non-programmer.
        minimum / maximum: bounds for numbers (inclusive, unless ``exclusive_maximum``).
        choices: allowed values for "choice" (and the named values of "int_or_choice").
        choice_labels: the choices in words for a form, in the order of ``choices`` (optional).
        step: how much a form's number box steps by (optional; 1 for whole numbers).
        suggested: for a number, the values a form offers to pick from (the spec
            may give any value within the bounds).
        exclusive_maximum: the value must stay below ``maximum``.
    """

    name: str
    kind: str
    default: Any
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    choice_labels: tuple[str, ...] = ()
    step: float | None = None
    suggested: tuple[Any, ...] = ()
    exclusive_maximum: bool = False

    def choice_label(self, value: Any) -> str:
        """A choice in words (the value itself when no words are declared for it)."""
        if value in self.choices and len(self.choice_labels) == len(self.choices):
            return self.choice_labels[self.choices.index(value)]
        return str(value)

    def read(self, doc: Mapping[str, Any], where: str = "") -> Any:
        """This setting's validated value in ``doc`` (its default when ``doc`` leaves it out).

        ``where`` is the path of ``doc`` in the spec (e.g. ``"attribution."``), named in errors.
        """
        if self.name not in doc:
            return self.default
        return self.validate(doc[self.name], f"{where}{self.name}")

    def validate(self, value: Any, field: str | None = None) -> Any:
        """Return ``value`` converted to this setting's type, or raise SpecError.

        ``field`` names the spec field in the error (default: the setting's name).
        """
        where = field or self.name
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise SpecError(where, f"{self.name} must be true or false.")
            return value
        if self.kind == "choice":
            if isinstance(value, (dict, list)) or value not in self.choices:
                raise SpecError(
                    where,
                    f"{shown(value)} is not allowed for {self.name}; choose one of "
                    f"{', '.join(map(str, self.choices))}.",
                )
            return value
        if self.kind == "int_or_choice" and isinstance(value, str):
            if value not in self.choices:
                raise SpecError(
                    where,
                    f"{shown(value)} is not allowed for {self.name}; give a token id or one of "
                    f"{', '.join(map(str, self.choices))}.",
                )
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(where, f"{self.name} must be a number.")
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(where, f"{self.name} must be a number, not {value} (NaN and infinity are not allowed).")
        # Compare exactly, without converting: a whole number beyond a float's range
        # (10**400) would overflow a conversion, and bounds hold for it all the same.
        problem = self._bounds_problem(value)
        if problem:
            raise SpecError(where, f"{self.name} must be {problem} (it is {self._shown(value)}).")
        if self.kind in ("int", "int_or_choice"):
            if isinstance(value, float) and not value.is_integer():
                raise SpecError(where, f"{self.name} must be a whole number (it is {self._shown(value)}).")
            return int(value)
        return float(value)

    def _shown(self, value: float) -> str:
        """A number for a sentence (``core.text.shown``: thousands separators, huge ones in short form)."""
        return shown(value)

    def _bounds_problem(self, value: float) -> str | None:
        """The bound ``value`` breaks, in words ("at least 1", "at most 512"), else None."""
        low, high = self.minimum, self.maximum
        if low is not None and value < low:
            return f"at least {self._shown(int(low) if self.kind != 'float' else float(low))}"
        if high is not None and (value >= high if self.exclusive_maximum else value > high):
            shown = self._shown(int(high) if self.kind != "float" else float(high))
            return f"below {shown}" if self.exclusive_maximum else f"at most {shown}"
        return None


@dataclass(frozen=True)
class MethodInfo:
    """A method: its spec name, title, family and declared parameters."""

    name: str
    title: str
    family: str  # "perturbation" or "gradient"
    description: str
    params: tuple[Param, ...] = field(default_factory=tuple)

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validate a spec's ``method`` object; return a full parameter dict."""
        known = {p.name: p for p in self.params}
        for key in raw:
            if key != "name" and key not in known:
                names = ", ".join(known) or "no parameters"
                raise SpecError(
                    f"method.{key}",
                    f"{self.name} has no parameter '{key}'; it takes {names}.",
                )
        out: dict[str, Any] = {}
        for param in self.params:
            out[param.name] = param.read(raw, "method.")
        return out


_N_SAMPLES = "n_samples"


def _paired(help_text: str) -> Param:
    """The ``paired`` switch of a sampling method (antithetic / complement pairs)."""
    return Param("paired", "bool", True, "Paired samples", help_text)


# Parameters shared by the gradient methods.
_BASELINE_TOKEN = Param(
    "baseline",
    "int_or_choice",
    "pad",
    "Empty prompt made of",
    "What the prompt is compared with: every token replaced by this one token (or by zeros); the "
    "numbers say how each token moves the score away from that empty prompt.",
    0,
    2**31 - 1,  # no vocabulary is larger; the model's own size is checked when it runs
    ("pad", "eos", "unk", "zero"),
    choice_labels=("the padding token", "the end-of-text token", "the unknown-word token", "zeros (no token at all)"),
)
_AGGREGATE = Param(
    "aggregate",
    "choice",
    "token",
    "Attribute to",
    "Each token: one number per prompt token; each part: token numbers summed over "
    "each template slot or text segment.",
    choices=("token", "feature"),
    choice_labels=("each token", "each part (tokens summed)"),
)
_INTERNAL_BATCH = Param(
    "internal_batch_size",
    "int",
    0,
    "Memory: points at once (0 = automatic)",
    "How many points go through the model at once; it changes the memory used, never the numbers. "
    "Leave it at 0 (as many as memory allows).",
    0,
    10000,
)

METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in (
        MethodInfo(
            "feature_ablation",
            "Feature ablation",
            "perturbation",
            "Removes (or replaces) one feature at a time and measures how the target's score changes.",
        ),
        MethodInfo(
            "shapley",
            "Shapley values (exact)",
            "perturbation",
            "Averages each feature's effect over every combination of the other features; "
            "exact but needs 2^n model evaluations.",
            (
                Param(
                    "max_features",
                    "int",
                    12,
                    "Most features",
                    "Refuse exact Shapley above this many features (2^n evaluations).",
                    1,
                    20,
                ),
            ),
        ),
        MethodInfo(
            "shapley_sampling",
            "Shapley value sampling",
            "perturbation",
            "Estimates Shapley values from random orderings of the features.",
            (
                Param(
                    _N_SAMPLES,
                    "int",
                    25,
                    "Orderings",
                    "How many random orderings of the features to average over.",
                    1,
                    10000,
                ),
                _paired(
                    "Walk every second ordering in reverse, score each feature alone and all but each, pick "
                    "each ordering as the most informative of several random ones, and estimate from every "
                    "coalition with its complement: about half Captum's error for the same model "
                    "evaluations. Off: every ordering drawn on its own and averaged, as Captum does."
                ),
            ),
        ),
        MethodInfo(
            "kernel_shap",
            "Kernel SHAP",
            "perturbation",
            "Fits a weighted linear model to random combinations of features; approaches "
            "Shapley values as samples grow.",
            (
                Param(
                    _N_SAMPLES,
                    "int",
                    200,
                    "Samples",
                    "How many random combinations of features to evaluate.",
                    2,
                    100000,
                ),
                _paired(
                    "Take one and all but one feature whole, add the most informative of many random "
                    "combinations, each with its complement, and estimate from the pairs: under half "
                    "Captum's error for the same model evaluations. Off: every combination drawn on its "
                    "own and fitted, as Captum does."
                ),
            ),
        ),
        MethodInfo(
            "lime",
            "LIME",
            "perturbation",
            "Fits a local linear model to random combinations of features, weighting those "
            "closest to the full prompt most.",
            (
                Param(
                    _N_SAMPLES,
                    "int",
                    100,
                    "Samples",
                    "How many random combinations of features to evaluate.",
                    2,
                    100000,
                ),
                Param(
                    "kernel_width",
                    "float",
                    1.0,
                    "Kernel width",
                    "How fast a sample's weight falls with its distance from the full prompt.",
                    1e-6,
                    1e6,
                ),
                Param(
                    "alpha",
                    "float",
                    0.0,
                    "Ridge penalty",
                    "Shrinks the linear model's coefficients toward zero (0 = plain least squares).",
                    0.0,
                    1e6,
                ),
            ),
        ),
        MethodInfo(
            "integrated_gradients",
            "Integrated gradients",
            "gradient",
            "Integrates the gradient along a straight path from a baseline to the prompt's "
            "token embeddings.",
            (
                Param(
                    "steps",
                    "int",
                    50,
                    "Steps",
                    "How many points between the empty prompt and the real one are measured; more steps "
                    "make the numbers add up more exactly (see the check under the result) and take longer.",
                    1,
                    1000,
                ),
                Param(
                    "rule",
                    "choice",
                    "gausslegendre",
                    "How the points are spread",
                    "Where the points between the empty prompt and the real one lie. Gauss-Legendre needs "
                    "the fewest steps; the others are equal spacings, kept to match other tools.",
                    choices=("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"),
                    choice_labels=(
                        "evenly, from the start",
                        "evenly, up to the end",
                        "evenly, mid-way",
                        "evenly, trapezoid",
                        "Gauss-Legendre (best for few steps)",
                    ),
                ),
                _BASELINE_TOKEN,
                _AGGREGATE,
                _INTERNAL_BATCH,
            ),
        ),
        MethodInfo(
            "saliency",
            "Saliency",
            "gradient",
            "The gradient of the score with respect to each token's embedding.",
            (
                Param(
                    "signed",
                    "bool",
                    False,
                    "Signed",
                    "Sum the signed gradient instead of taking its size (norm).",
                ),
                _AGGREGATE,
                _INTERNAL_BATCH,
            ),
        ),
        MethodInfo(
            "input_x_gradient",
            "Input x gradient",
            "gradient",
            "Each token embedding times the score's gradient with respect to it.",
            (
                _AGGREGATE,
                _INTERNAL_BATCH,
            ),
        ),
        MethodInfo(
            "gradient_shap",
            "Gradient SHAP",
            "gradient",
            "Averages input x gradient at random points between noisy baselines and the input.",
            (
                Param(_N_SAMPLES, "int", 20, "Samples", "Random points to average over.", 1, 1000),
                Param(
                    "stdev",
                    "float",
                    0.0,
                    "Noise",
                    "Standard deviation of Gaussian noise added to the input embeddings.",
                    0.0,
                    100.0,
                ),
                _BASELINE_TOKEN,
                _AGGREGATE,
                _INTERNAL_BATCH,
            ),
        ),
    )
}


def method_info(name: Any) -> MethodInfo:
    """The declared method called ``name``, or a SpecError listing the methods."""
    if not isinstance(name, str) or name not in METHODS:
        names = ", ".join(METHODS)
        if name is None:
            raise SpecError("method.name", f"give the method's name, one of {names}.")
        raise SpecError("method.name", f"{shown(name)} is not a method; choose one of {names}.")
    return METHODS[name]


def setting(method: str, params: Mapping[str, Any], name: str) -> Any:
    """A method's setting: ``params[name]`` when given, else the default its declaration gives.

    The engine's planners read their settings through this, so a default lives only in the
    method's ``Param`` (a parsed spec holds every setting already; a bare ``params`` from a
    test or a benchmark gets the same defaults as a spec).

    Raises:
        KeyError: the method declares no setting ``name``.
    """
    if name in params:
        return params[name]
    for param in METHODS[method].params:
        if param.name == name:
            return param.default
    raise KeyError(f"{method} declares no setting {name!r}")


def methods_of_family(family: str) -> list[MethodInfo]:
    """Declared methods of one family ("perturbation" or "gradient")."""
    return [m for m in METHODS.values() if m.family == family]
