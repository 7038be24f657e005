"""What an attribution method declares: ``Param`` (a setting) and ``MethodInfo`` (a method, one object).

A method's module (``core/attribution/methods/<name>.py``) writes one ``METHOD = MethodInfo(...)``:
its settings (``Param``s, the only place a default lives), how it plans its coalitions and combines
their scores (perturbation) or turns gradients into attributions (gradient), how many coalitions a
plan holds, its standard error, and what it needs. The engine, the forms, the time estimate, the work
limit and the comparison kind read these fields; nothing outside the method's module tests its name.
The probes declare their settings with the same ``Param`` (``core.probes.*.settings``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
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
    """A method: its spec name, title, family, declared settings, and what it does with them.

    Attributes:
        name / title / family ("perturbation" or "gradient") / description: what it is called and does.
        params: its settings, in form order.
        plan: (perturbation) ``plan(n, params, rng, poll)`` -> ``core.attribution.perturbation.Plan``:
            the coalitions (masks over n features) to score.
        combine: (perturbation) ``combine(plan, values, params)`` -> attributions (outputs x features)
            from the scores of the plan's rows (rows x outputs).
        rows: (perturbation) ``rows(n, params)`` -> how many coalitions one plan holds (before
            de-duplication): what the work limit and the time estimate count.
        stderr: ``stderr(plan, values, params, rng)`` -> standard errors (outputs x features), or None
            (also None for an exact method).
        refuse: ``refuse(n, params)`` -> why a plan over n features cannot run (a sentence), or None.
        single_removals: its coalitions each remove one feature from the full prompt (feature ablation):
            the time estimate counts their shared prefixes so.
        gradients: (gradient) ``gradients(GradientInputs, params)`` -> ``GradientOutcome``
            (``core.attribution.gradient_rules``).
        baseline_token: (gradient) it compares the prompt with a baseline of one repeated token.
        work_param: the setting its work grows with ("n_samples", "steps"), named by the work limit.
        lower: the work limit's advice for it when it has no ``work_param`` ("" for the general advice).
    """

    name: str
    title: str
    family: str
    description: str
    params: tuple[Param, ...] = field(default_factory=tuple)
    plan: Callable[..., Any] | None = None
    combine: Callable[..., Any] | None = None
    rows: Callable[[int, Mapping[str, Any]], int] | None = None
    stderr: Callable[..., Any] | None = None
    refuse: Callable[[int, Mapping[str, Any]], str | None] | None = None
    single_removals: bool = False
    gradients: Callable[..., Any] | None = None
    baseline_token: bool = False
    work_param: str | None = None
    lower: str = ""

    def setting(self, params: Mapping[str, Any], name: str) -> Any:
        """A setting: ``params[name]`` when given, else the default its ``Param`` declares.

        The planners read their settings through this, so a default lives only in the ``Param``
        (a parsed spec holds every setting already; a bare ``params`` from a test or a benchmark
        gets the same defaults as a spec).

        Raises:
            KeyError: the method declares no setting ``name``.
        """
        if name in params:
            return params[name]
        for param in self.params:
            if param.name == name:
                return param.default
        raise KeyError(f"{self.name} declares no setting {name!r}")

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


# Settings several methods share.
N_SAMPLES = "n_samples"


def paired(help_text: str) -> Param:
    """The ``paired`` switch of a sampling method (antithetic / complement pairs)."""
    return Param("paired", "bool", True, "Paired samples", help_text)


BASELINE_TOKEN = Param(
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

AGGREGATE = Param(
    "aggregate",
    "choice",
    "token",
    "Attribute to",
    "Each token: one number per prompt token; each part: token numbers summed over "
    "each template slot or text segment.",
    choices=("token", "feature"),
    choice_labels=("each token", "each part (tokens summed)"),
)

INTERNAL_BATCH = Param(
    "internal_batch_size",
    "int",
    0,
    "Memory: points at once (0 = automatic)",
    "How many points go through the model at once; it changes the memory used, never the numbers. "
    "Leave it at 0 (as many as memory allows).",
    0,
    10000,
)
