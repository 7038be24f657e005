"""The attribution methods and the parameters each one declares.

Pages render a method's form from these declarations, the spec parser
validates against them, and a new method needs no page edits: add it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import SpecError


@dataclass(frozen=True)
class Param:
    """One parameter of a method.

    Attributes:
        name: key in the spec's ``method`` object.
        kind: "int", "float", "bool", "choice" or "int_or_choice".
        default: value used when the spec leaves it out.
        label: short label for a form.
        help: one sentence that explains it to a non-programmer.
        minimum / maximum: bounds for numbers (inclusive).
        choices: allowed values for "choice".
    """

    name: str
    kind: str
    default: Any
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()

    def validate(self, method: str, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise SpecError."""
        where = f"method.{self.name}"
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise SpecError(where, f"{self.name} must be true or false.")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise SpecError(
                    where,
                    f"'{value}' is not allowed for {self.name}; choose one of "
                    f"{', '.join(map(str, self.choices))}.",
                )
            return value
        if self.kind == "int_or_choice" and isinstance(value, str):
            if value not in self.choices:
                raise SpecError(
                    where,
                    f"'{value}' is not allowed for {self.name}; give a token id or one of "
                    f"{', '.join(map(str, self.choices))}.",
                )
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(where, f"{self.name} must be a number.")
        if self.kind in ("int", "int_or_choice"):
            if float(value) != int(value):
                raise SpecError(where, f"{self.name} must be a whole number.")
            value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and value < self.minimum:
            raise SpecError(where, f"{self.name} must be at least {self.minimum:g} (got {value}).")
        if self.maximum is not None and value > self.maximum:
            raise SpecError(where, f"{self.name} must be at most {self.maximum:g} (got {value}).")
        return value


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
            out[param.name] = param.validate(self.name, raw[param.name]) if param.name in raw else param.default
        return out


_N_SAMPLES = "n_samples"

# Parameters shared by the gradient methods.
_BASELINE_TOKEN = Param(
    "baseline",
    "int_or_choice",
    "pad",
    "Baseline token",
    "The token placed at every position as the 'empty' input, or the zero embedding.",
    0,
    None,
    ("pad", "eos", "unk", "zero"),
)
_AGGREGATE = Param(
    "aggregate",
    "choice",
    "token",
    "Attribute to",
    "token: one number per prompt token; feature: token numbers summed over "
    "each template slot or text segment.",
    choices=("token", "feature"),
)
_INTERNAL_BATCH = Param(
    "internal_batch_size",
    "int",
    0,
    "Points per batch",
    "Points evaluated per forward pass (0 = as many as the memory budget allows).",
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
                Param("steps", "int", 50, "Steps", "Points on the path from baseline to input.", 1, 1000),
                Param(
                    "rule",
                    "choice",
                    "gausslegendre",
                    "Integration rule",
                    "How the path integral is approximated.",
                    choices=("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"),
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
    if name not in METHODS:
        raise SpecError(
            "method.name",
            f"'{name}' is not a method; choose one of {', '.join(METHODS)}.",
        )
    return METHODS[name]


def methods_of_family(family: str) -> list[MethodInfo]:
    """Declared methods of one family ("perturbation" or "gradient")."""
    return [m for m in METHODS.values() if m.family == family]
