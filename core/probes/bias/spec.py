"""The bias probe's spec: a template whose slots are swept over groups of values.

A spec (JSON) looks like::

    {"kind": "bias", "model": "default", "chat": false,
     "template": "{name} has worked there for years. {pronoun} is a",
     "sweep": {"slots": ["name", "pronoun"],
               "groups": {"female": [["Mary", "She"], ["Linda", "She"]],
                          "male": [["John", "He"], ["James", "He"]]}},
     "values": {},                      # other slots, fixed
     "vary": {},                        # other slots, each a list crossed with the sweep
     "candidates": [" nurse", " lawyer"],
     "compare": ["female", "male"],     # gap = first minus second (default: first two groups)
     "score": "log_prob",               # or "renorm_log_prob"
     "bootstrap": 2000, "permutations": 5000, "level": 0.95, "seed": 0,
     "attribution": {"enabled": true, "method": "feature_ablation", "trials": 3,
                     "prompts": 8, "params": {}, "baselines": {}, "groups": {}}}

The candidates follow the template's text, unless the template marks their place with
``{candidate}``: then the prompt is the text before it, and the text after it (no slots
there) follows each candidate in what is scored, e.g. ``"{name} worked as a {candidate}
at the hospital."`` scores " nurse at the hospital." after "Mary worked as a".

One value of the swept slots (a name with its pronoun) is one unit of the
statistics: bootstrap and permutation tests resample units, and a unit's
score is its mean over the ``vary`` combinations.

The settings (score, bootstrap, ..., the attribution's trials and prompts) are
declared in ``core.probes.bias.settings``; the parser validates against those
declarations and the form draws them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from core.attribution.features import Part, layout_from_template, parse_template
from core.attribution.methods import METHODS
from core.attribution.planning import plan_problem
from core.errors import SpecError
from core.models.request import parse_model
from core.probes.bias.settings import (
    ATTRIBUTION_ENABLED,
    ATTRIBUTION_METHOD,
    ATTRIBUTION_PROMPTS,
    ATTRIBUTION_SETTINGS,
    ATTRIBUTION_TRIALS,
    BOOTSTRAP,
    CHAT,
    LEVEL,
    MAX_SCORES,
    PERMUTATIONS,
    SCORE,
    SEED,
    bias_cost,
    stats_problem,
)
from core.text import check_document, counted, shown, visible


@dataclass
class AttributionSettings:
    """How the association is attributed to the template's slots.

    Attributes:
        enabled: whether to attribute at all.
        method: a perturbation method (feature_ablation, shapley, shapley_sampling,
            kernel_shap, lime).
        trials: counterfactuals per attributed prompt: that many different values of
            the other group are swapped in (all of them when trials >= its size).
        prompts: how many sweep prompts to attribute (split between the two
            compared groups); bounds the cost.
        params: the method's own parameters (e.g. n_samples).
        baselines: replacements for slots that are not swept ("" removes the slot).
        groups: feature groups, label -> slots attributed together.
    """

    enabled: bool = ATTRIBUTION_ENABLED.default
    method: str = ATTRIBUTION_METHOD.default
    trials: int = ATTRIBUTION_TRIALS.default
    prompts: int = ATTRIBUTION_PROMPTS.default
    params: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class BiasSpec:
    """A validated bias spec (see the module docstring for the JSON form)."""

    model: str | dict[str, str]
    chat: bool
    template: str
    parts: list[Part]
    slots: list[str]
    sweep_slots: list[str]
    groups: dict[str, list[tuple[str, ...]]]
    values: dict[str, str]
    vary: dict[str, list[str]]
    candidates: list[str]
    compare: tuple[str, str]
    score: str
    bootstrap: int
    permutations: int
    level: float
    seed: int
    attribution: AttributionSettings
    raw: dict[str, Any]
    prompt_template: str = ""  # the template before {candidate} (all of it when there is none)
    candidate_suffix: str = ""  # the template's text after {candidate}, scored after each candidate

    def scored_candidates(self) -> list[str]:
        """The texts scored after each prompt: each candidate, then the text after ``{candidate}``."""
        return [c + self.candidate_suffix for c in self.candidates]


@dataclass
class SweepPrompt:
    """One filled prompt: its group, its unit (index of the swept value) and slot values."""

    group: str
    unit: int
    values: dict[str, str]
    text: str


def _slot_error(where: str, slot: str, order: list[str]) -> SpecError:
    return SpecError(where, f"there is no slot {{{slot}}} in the template; the slots are {', '.join(order)}.")


def _parse_sweep(raw: Any, order: list[str]) -> tuple[list[str], dict[str, list[tuple[str, ...]]]]:
    if not isinstance(raw, dict):
        raise SpecError(
            "sweep",
            'give the swept slots and their groups, e.g. {"slots": ["name"], "groups": '
            '{"female": ["Mary", "Linda"], "male": ["John", "James"]}}.',
        )
    slots = raw.get("slots")
    if isinstance(slots, str):
        slots = [slots]
    if not isinstance(slots, list) or not slots or not all(isinstance(s, str) for s in slots):
        raise SpecError("sweep.slots", "name the slot (or slots, e.g. name and pronoun) to sweep.")
    if len(set(slots)) != len(slots):
        raise SpecError("sweep.slots", "a slot is named twice; name each swept slot once.")
    for slot in slots:
        if slot not in order:
            raise _slot_error("sweep.slots", slot, order)
    groups_raw = raw.get("groups")
    if not isinstance(groups_raw, dict) or len(groups_raw) < 2:
        raise SpecError("sweep.groups", "give at least two groups of values to compare.")
    groups: dict[str, list[tuple[str, ...]]] = {}
    seen: dict[tuple[str, ...], str] = {}
    for name, entries in groups_raw.items():
        where = f"sweep.groups.{name}"
        if not str(name).strip():
            raise SpecError("sweep.groups", "a group has an empty name; name every group.")
        if not isinstance(entries, list):
            raise SpecError(where, "a group is a list of values.")
        if len(entries) < 2:
            raise SpecError(
                where,
                f"the group '{visible(str(name))}' has {counted(len(entries), 'value')}; give at least two so that its "
                "spread can be measured.",
            )
        tuples: list[tuple[str, ...]] = []
        for entry in entries:
            values = [entry] if isinstance(entry, str) else entry
            if (
                not isinstance(values, list)
                or len(values) != len(slots)
                or not all(isinstance(v, str) for v in values)
            ):
                raise SpecError(
                    where,
                    f"each value must give {len(slots)} text(s), one per swept slot "
                    f"({', '.join(slots)}); {entry!r} does not.",
                )
            if any(not v.strip() for v in values):
                raise SpecError(where, "a value is empty; give text for every swept slot.")
            key = tuple(values)
            if key in seen:
                other = seen[key]
                place = "twice in this group" if other == name else f"also in the group '{other}'"
                raise SpecError(where, f"the value {' / '.join(key)} is {place}; list each value once.")
            seen[key] = str(name)
            tuples.append(key)
        groups[str(name)] = tuples
    return slots, groups


def _parse_attribution(raw: Any, order: list[str], sweep_slots: list[str]) -> AttributionSettings:
    if raw is None or raw is True:
        raw = {}
    elif raw is False:
        raw = {ATTRIBUTION_ENABLED.name: False}
    if not isinstance(raw, dict):
        raise SpecError("attribution", "give true, false or a mapping of attribution settings.")
    known = {p.name for p in ATTRIBUTION_SETTINGS} | {"params", "baselines", "groups"}
    for key in raw:
        if key not in known:
            raise SpecError(
                f"attribution.{key}", f"unknown setting; the settings are {', '.join(sorted(known))}."
            )
    where = "attribution."
    enabled = ATTRIBUTION_ENABLED.read(raw, where)
    method = ATTRIBUTION_METHOD.read(raw, where)
    info = METHODS[method]
    params_raw = raw.get("params", {})
    if not isinstance(params_raw, dict):
        raise SpecError("attribution.params", "give the method's parameters as a mapping.")
    try:
        params = info.validate(params_raw)
    except SpecError as exc:
        key = exc.field.split(".", 1)[-1]
        raise SpecError(f"attribution.params.{key}", exc.sentence) from None
    baselines = raw.get("baselines", {})
    if not isinstance(baselines, dict):
        raise SpecError("attribution.baselines", "give a mapping of slot name to replacement text.")
    for slot, base in baselines.items():
        if slot not in order:
            raise _slot_error("attribution.baselines", slot, order)
        if slot in sweep_slots:
            raise SpecError(
                f"attribution.baselines.{slot}",
                "a swept slot's baseline is the other group's values; remove this entry.",
            )
        ok = isinstance(base, str) or (
            isinstance(base, list) and base and all(isinstance(b, str) for b in base)
        )
        if not ok:
            raise SpecError(f"attribution.baselines.{slot}", "a baseline is a text or a list of texts.")
    groups = raw.get("groups", {}) or {}
    if not isinstance(groups, dict):
        raise SpecError("attribution.groups", "give a mapping of feature label to a list of slots.")
    for label, members in groups.items():
        if not isinstance(members, list) or not members:
            raise SpecError(f"attribution.groups.{label}", "a group is a non-empty list of slots.")
        for slot in members:
            if slot not in order:
                raise _slot_error(f"attribution.groups.{label}", slot, order)
    return AttributionSettings(
        enabled=enabled,
        method=method,
        trials=ATTRIBUTION_TRIALS.read(raw, where),
        prompts=ATTRIBUTION_PROMPTS.read(raw, where),
        params=params,
        baselines=dict(baselines),
        groups={str(k): list(v) for k, v in groups.items()},
    )


CANDIDATE_SLOT = "candidate"


def _escaped(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def split_candidate(template: Any) -> tuple[str, str]:
    """(the template before ``{candidate}``, the text after it); (template, "") when it has no ``{candidate}``.

    Raises SpecError when ``{candidate}`` is written twice or a slot follows it.
    """
    parts, _ = parse_template(template)
    marks = [i for i, part in enumerate(parts) if part.slot == CANDIDATE_SLOT]
    if not marks:
        return template, ""
    if len(marks) > 1:
        raise SpecError("template", "{candidate} is written more than once; mark the candidates' place once.")
    before, after = parts[: marks[0]], parts[marks[0] + 1 :]
    late = [part.slot for part in after if part.slot is not None]
    if late:
        raise SpecError(
            "template",
            f"the slot {{{late[0]}}} comes after {{candidate}}; put every slot before the candidates' place.",
        )
    head = "".join(_escaped(part.text) if part.slot is None else f"{{{part.slot}}}" for part in before)
    if not head.strip():
        raise SpecError("template", "nothing comes before {candidate}; write the prompt the candidates follow.")
    return head, "".join(part.text for part in after)


def template_slots(template: Any) -> list[str]:
    """The slots of a bias template in first-use order (``{candidate}`` is none); SpecError when it is malformed."""
    return parse_template(split_candidate(template)[0])[1]


def parse_bias_spec(doc: Any) -> BiasSpec:
    """Validate a bias spec document; raise SpecError with one sentence on the first problem."""
    if not isinstance(doc, dict):
        raise SpecError("", "A bias spec is a JSON object; see examples/bias_gender_occupation.json.")
    check_document(doc)
    if doc.get("kind", "bias") != "bias":
        raise SpecError("kind", f"this is a bias spec, but kind is {shown(doc.get('kind'))}.")
    model = parse_model(doc.get("model", "default")).document()
    chat = CHAT.read(doc)
    template = doc.get("template")
    try:
        prompt_template, candidate_suffix = split_candidate(template)
        parts, order = parse_template(prompt_template)
    except SpecError as exc:
        raise SpecError("template", exc.sentence) from None
    sweep_slots, groups = _parse_sweep(doc.get("sweep"), order)

    values = doc.get("values") or {}
    if not isinstance(values, dict):
        raise SpecError("values", "give a mapping of slot name to text for the fixed slots.")
    vary = doc.get("vary") or {}
    if not isinstance(vary, dict):
        raise SpecError("vary", "give a mapping of slot name to a list of texts.")
    for slot, value in values.items():
        if slot not in order:
            raise _slot_error(f"values.{slot}", slot, order)
        if slot in sweep_slots:
            raise SpecError(f"values.{slot}", "this slot is swept; remove its fixed value.")
        if not isinstance(value, str):
            raise SpecError(f"values.{slot}", "a fixed slot value must be text.")
        if not value.strip():
            raise SpecError(f"values.{slot}", f"the slot {{{slot}}} is empty; write the text that fills it.")
    for slot, options in vary.items():
        if slot not in order:
            raise _slot_error(f"vary.{slot}", slot, order)
        if slot in sweep_slots or slot in values:
            raise SpecError(f"vary.{slot}", "this slot already has values; give it in one place.")
        if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
            raise SpecError(f"vary.{slot}", "give a non-empty list of texts.")
        if len(set(options)) != len(options):
            raise SpecError(f"vary.{slot}", "a text is listed twice; list each once.")
    for slot in order:
        if slot not in sweep_slots and slot not in values and slot not in vary:
            raise SpecError(
                f"values.{slot}",
                f"the slot {{{slot}}} has no value; give it in values, vary or sweep.slots.",
            )

    candidates = doc.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise SpecError("candidates", "the candidate list is empty; give the target texts to compare.")
    for text in candidates:
        if not isinstance(text, str) or not text.strip():
            raise SpecError("candidates", "every candidate must be a non-empty text.")
    if len(set(candidates)) != len(candidates):
        dup = next(c for c in candidates if candidates.count(c) > 1)
        raise SpecError("candidates", f"the candidate {dup!r} is listed twice; list each once.")

    names = list(groups)
    compare = doc.get("compare", names[:2])
    if (
        not isinstance(compare, list)
        or len(compare) != 2
        or not all(isinstance(c, str) for c in compare)
        or compare[0] == compare[1]
        or any(c not in groups for c in compare)
    ):
        raise SpecError("compare", f"name two different groups to compare, from {', '.join(map(visible, names))}.")
    score = SCORE.read(doc)
    level = LEVEL.read(doc)

    cost = bias_cost(groups, vary, len(candidates))
    if cost.too_many:
        raise SpecError(
            "sweep",
            f"{cost.prompts:,} prompts x {cost.candidates} candidates is more than {MAX_SCORES:,} "
            "scores; use fewer values or candidates.",
        )
    bootstrap, permutations = BOOTSTRAP.read(doc), PERMUTATIONS.read(doc)
    sizes = {name: len(values) for name, values in groups.items()}
    problem = stats_problem(sizes, compare, len(candidates), bootstrap, permutations)
    if problem:
        raise SpecError("bootstrap", problem)
    spec = BiasSpec(
        model=model,
        chat=chat,
        template=template,
        parts=parts,
        slots=order,
        sweep_slots=sweep_slots,
        groups=groups,
        values=dict(values),
        vary={k: list(v) for k, v in vary.items()},
        candidates=list(candidates),
        compare=(compare[0], compare[1]),
        score=score,
        bootstrap=bootstrap,
        permutations=permutations,
        level=level,
        seed=SEED.read(doc),
        attribution=_parse_attribution(doc.get("attribution"), order, sweep_slots),
        raw=doc,
        prompt_template=prompt_template,
        candidate_suffix=candidate_suffix,
    )
    _check_attribution_plan(spec)
    spec.raw = bias_spec_document(spec)
    return spec


def attribution_plans(spec: BiasSpec) -> int:
    """How many coalition plans the attribution makes: per attributed prompt, one per swap of the other group.

    The runner attributes ``prompts`` sweep prompts, split between the compared groups
    (the first gets the odd one), and for each swaps in ``trials`` values of the other group
    (all of them when it has fewer).
    """
    settings = spec.attribution
    first, second = spec.compare
    combos = 1
    for options in spec.vary.values():
        combos *= len(options)
    plans = 0
    shares = ((first, second, (settings.prompts + 1) // 2), (second, first, max(1, settings.prompts // 2)))
    for group, other, share in shares:
        chosen = min(share, len(spec.groups[group]) * combos)
        plans += chosen * min(settings.trials, len(spec.groups[other]))
    return plans


def _check_attribution_plan(spec: BiasSpec) -> None:
    """Lay one sweep prompt out as the attribution will, and refuse a plan beyond ``plan_problem``'s limits."""
    settings = spec.attribution
    if not settings.enabled:
        return
    first, second = spec.compare
    values = dict(spec.values)
    values.update(zip(spec.sweep_slots, spec.groups[first][0]))
    values.update({slot: options[0] for slot, options in spec.vary.items()})
    baselines: dict[str, Any] = dict(settings.baselines)
    for j, slot in enumerate(spec.sweep_slots):
        baselines[slot] = [entry[j] for entry in spec.groups[second]]
    try:
        layout = layout_from_template(spec.prompt_template, values, baselines, settings.groups or None)
    except SpecError as exc:
        raise SpecError("attribution", exc.sentence) from None
    n = len(layout.features)
    chars = len(fill(spec.parts, values))
    problem = plan_problem(settings.method, n, settings.params, attribution_plans(spec), chars)
    if problem:
        raise SpecError("attribution", problem)


def bias_spec_document(spec: BiasSpec) -> dict[str, Any]:
    """The spec document as the probe runs it: every field set to its validated value (defaults filled in).

    ``kind`` comes first; each swept value is a list with one text per swept slot, and
    ``attribution`` is the full settings mapping. Keys the probe does not read (a title)
    are kept, and nothing in the document is shared with ``spec``. Parsing the document
    again gives the same spec, so the function is idempotent.
    """
    settings = spec.attribution
    return copy.deepcopy(
        {
            "kind": "bias",
            **spec.raw,
            "model": spec.model,
            "chat": spec.chat,
            "template": spec.template,
            "sweep": {
                "slots": list(spec.sweep_slots),
                "groups": {name: [list(value) for value in values] for name, values in spec.groups.items()},
            },
            "values": dict(spec.values),
            "vary": {slot: list(options) for slot, options in spec.vary.items()},
            "candidates": list(spec.candidates),
            "compare": list(spec.compare),
            "score": spec.score,
            "bootstrap": spec.bootstrap,
            "permutations": spec.permutations,
            "level": spec.level,
            "seed": spec.seed,
            "attribution": {
                "enabled": settings.enabled,
                "method": settings.method,
                "trials": settings.trials,
                "prompts": settings.prompts,
                "params": dict(settings.params),
                "baselines": dict(settings.baselines),
                "groups": {label: list(slots) for label, slots in settings.groups.items()},
            },
        }
    )


def fill(parts: list[Part], values: dict[str, str]) -> str:
    """The template's text with every slot filled from ``values``."""
    return "".join(part.text if part.slot is None else values[part.slot] for part in parts)


def sweep_prompts(spec: BiasSpec) -> list[SweepPrompt]:
    """Every filled prompt: each group's values crossed with the ``vary`` combinations.

    Units are numbered across groups in order; a unit's prompts are consecutive.
    """
    out: list[SweepPrompt] = []
    vary_slots = list(spec.vary)
    combos = list(product(*(spec.vary[s] for s in vary_slots))) or [()]
    unit = 0
    for group, entries in spec.groups.items():
        for entry in entries:
            for combo in combos:
                values = dict(spec.values)
                values.update(zip(spec.sweep_slots, entry))
                values.update(zip(vary_slots, combo))
                out.append(SweepPrompt(group, unit, values, fill(spec.parts, values)))
            unit += 1
    return out


def plural(word: str) -> str:
    """The English plural of a slot name ("occupation" -> "occupations", "city" -> "cities")."""
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"
