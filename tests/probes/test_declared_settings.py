"""Probe settings are declared once: the parsers, the forms and the cost notes read the same declarations."""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.attribution.features import PromptLayout, layout_from_template, paired_groups, pairing_problem
from core.attribution.methods import Param
from core.errors import SpecError
from core.probes.bias import settings as bias_settings
from core.probes.bias.data import bias_presets
from core.probes.bias.spec import parse_bias_spec
from core.probes.few_shot import settings as few_shot_settings
from core.probes.few_shot.spec import few_shot_presets, parse_few_shot_spec
from tests.page_support import ROOT, main_errors, open_page
from ui.bias.settings import ATTRIBUTION_KEYS
from ui.bias.settings import settings_state as bias_state
from ui.few_shot.settings import setting_key
from ui.few_shot.settings import settings_state as few_shot_state
from ui.shared.spec_form import prompt_from_rows

TIMEOUT = 240


def _bias_doc() -> dict:
    """The first bias preset with every declared setting left out."""
    doc = bias_presets()["gender_occupation"]
    for p in bias_settings.SETTINGS:
        doc.pop(p.name, None)
    doc["attribution"] = {}
    return doc


def _few_shot_doc() -> dict:
    """The sentiment preset with every declared setting left out."""
    doc = few_shot_presets()["sentiment"]
    for p in few_shot_settings.SETTINGS:
        doc.pop(p.name, None)
    return doc


@pytest.fixture()
def changed_defaults() -> Iterator[None]:
    """Change every declared number's default (within its bounds) for one test, then put them back."""
    params = [
        p
        for p in (*bias_settings.SETTINGS, *bias_settings.ATTRIBUTION_SETTINGS, *few_shot_settings.SETTINGS)
        if p.kind == "int"
    ]
    saved = [(p, p.default) for p in params]  # a list: equal declarations (two probes' seeds) are two objects
    for p in params:
        object.__setattr__(p, "default", int(p.minimum) + 1)
    try:
        yield
    finally:
        for p, default in saved:
            object.__setattr__(p, "default", default)


# ---------------------------------------------------------------- defaults: one value, in the declaration


def test_bias_parser_and_form_fill_the_declared_defaults(changed_defaults) -> None:
    doc = _bias_doc()
    spec = parse_bias_spec(copy.deepcopy(doc))
    state = bias_state("bi", doc)
    for p in bias_settings.SETTINGS:
        assert getattr(spec, p.name) == p.default, p.name
        assert state[f"bi_{p.name}"] == p.default, p.name
    for p in bias_settings.ATTRIBUTION_SETTINGS:
        assert getattr(spec.attribution, p.name) == p.default, p.name
    for name, key in ATTRIBUTION_KEYS.items():
        assert state[f"bi_{key}"] == getattr(spec.attribution, name)
    assert state["bi_attr_method"] == spec.attribution.method == bias_settings.ATTRIBUTION_METHOD.default


def test_few_shot_parser_and_form_fill_the_declared_defaults(changed_defaults) -> None:
    doc = _few_shot_doc()
    spec = parse_few_shot_spec(copy.deepcopy(doc))
    state = few_shot_state("fs", doc)
    for p in few_shot_settings.SETTINGS:
        field = p.name
        assert getattr(spec, field) == p.default, field
        assert state[setting_key("fs", field)] == p.default, field
    assert state["fs_as_feature"] is spec.include_instruction_as_feature


def test_bias_presets_use_the_declared_defaults(changed_defaults) -> None:
    preset = bias_presets()["gender_occupation"]
    assert preset["bootstrap"] == bias_settings.BOOTSTRAP.default
    assert preset["attribution"]["trials"] == bias_settings.ATTRIBUTION_TRIALS.default


# ---------------------------------------------------------------- bounds: the parser checks the declared ones


def _number_params(params: tuple[Param, ...]) -> list[Param]:
    return [p for p in params if p.kind in ("int", "float")]


@pytest.mark.parametrize("p", _number_params(bias_settings.SETTINGS), ids=lambda p: p.name)
def test_bias_parser_refuses_values_outside_the_declared_bounds(p: Param) -> None:
    below = p.minimum - (1 if p.kind == "int" else 0.01)
    with pytest.raises(SpecError) as info:
        parse_bias_spec({**_bias_doc(), p.name: below})
    assert info.value.field == p.name
    assert parse_bias_spec({**_bias_doc(), p.name: p.minimum}) is not None


@pytest.mark.parametrize("p", _number_params(bias_settings.ATTRIBUTION_SETTINGS), ids=lambda p: p.name)
def test_bias_attribution_bounds_are_the_declared_ones(p: Param) -> None:
    doc = _bias_doc()
    doc["attribution"] = {p.name: int(p.maximum) + 1}
    with pytest.raises(SpecError) as info:
        parse_bias_spec(doc)
    assert info.value.field == f"attribution.{p.name}"
    doc["attribution"] = {p.name: int(p.maximum)}
    assert getattr(parse_bias_spec(doc).attribution, p.name) == p.maximum


@pytest.mark.parametrize("p", _number_params(few_shot_settings.SETTINGS), ids=lambda p: p.name)
def test_few_shot_parser_refuses_values_outside_the_declared_bounds(p: Param) -> None:
    with pytest.raises(SpecError) as info:
        parse_few_shot_spec({**_few_shot_doc(), p.name: int(p.maximum) + 1})
    assert info.value.field == p.name
    assert str(info.value).endswith(".")
    assert getattr(parse_few_shot_spec({**_few_shot_doc(), p.name: int(p.minimum)}), p.name) == p.minimum


def test_a_level_of_one_is_refused_and_just_below_is_kept() -> None:
    with pytest.raises(SpecError) as info:
        parse_bias_spec({**_bias_doc(), "level": 1})
    assert info.value.field == "level"
    assert parse_bias_spec({**_bias_doc(), "level": 0.999}).level == 0.999


# ---------------------------------------------------------------- one exact-or-sampling rule, one pairs rule


@pytest.mark.parametrize("method", few_shot_settings.METHOD.choices)
@pytest.mark.parametrize("n_examples", [2, 4, 5])
def test_the_spec_asks_the_one_exact_or_sampling_rule(method: str, n_examples: int) -> None:
    doc = few_shot_presets()["sentiment"]
    extra = [{"input": f"{e['input']} (again)", "label": e["label"]} for e in doc["examples"]]
    examples = (doc["examples"] + extra)[:n_examples]  # the preset may hold fewer than n_examples
    assert len(examples) == n_examples
    doc.update(examples=examples, method=method, max_exact=4)
    spec = parse_few_shot_spec(doc)
    assert spec.uses_exact == few_shot_settings.uses_exact(method, n_examples, 4)
    cost = few_shot_settings.few_shot_cost(n_examples, len(spec.queries), len(spec.labels), method, 4)
    assert cost.exact == spec.uses_exact


def _layout(prompt: dict) -> PromptLayout:
    parts = (prompt.get(name) for name in ("baselines", "groups", "paired"))
    return layout_from_template(prompt["template"], prompt["values"], *parts)


def test_the_form_pairs_exactly_the_groups_the_parser_accepts() -> None:
    template = "{name} said {pronoun} would come from {city}."
    rows = [
        {"slot": "name", "value": "Mary", "alternatives": "John | Ahmed", "group": "person"},
        {"slot": "pronoun", "value": "she", "alternatives": "he | he", "group": "person"},
        {"slot": "city", "value": "Paris", "alternatives": "Rome", "group": ""},
    ]
    prompt = prompt_from_rows(template, rows)
    assert prompt["paired"] == [["name", "pronoun"]]
    layout = _layout(prompt)  # what the form pairs, the prompt's parser accepts
    assert layout.paired == [["name", "pronoun"]]
    rows[1]["alternatives"] = "he"  # lists of different lengths: the form does not pair them ...
    prompt = prompt_from_rows(template, rows)
    assert "paired" not in prompt
    baselines = prompt["baselines"]
    problem = pairing_problem(["name", "pronoun"], baselines)
    assert problem is not None and paired_groups({"person": ["name", "pronoun"]}, baselines) == []
    with pytest.raises(SpecError) as info:  # ... and the parser refuses them with the same sentence
        _layout({**prompt, "paired": [["name", "pronoun"]]})
    assert str(info.value) == str(problem)


# ---------------------------------------------------------------- the cost notes are core's


def test_bias_cost_counts_what_the_parser_limits() -> None:
    cost = bias_settings.bias_cost({"a": [1, 2], "b": [3, 4, 5]}, {"city": ["x", "y"]}, 4, True, 100)
    assert (cost.prompts, cost.scores, cost.attributed) == (10, 40, 10)
    assert bias_settings.bias_cost({"a": [1, 2]}, {"city": []}, 4).prompts == 0  # an empty list: no prompts
    doc = _bias_doc()
    doc["candidates"] = [f" w{i}" for i in range(bias_settings.MAX_SCORES // 2)]
    doc["vary"] = {}
    assert bias_settings.bias_cost(parse_bias_spec(_bias_doc()).groups, {}, len(doc["candidates"])).too_many
    with pytest.raises(SpecError) as info:
        parse_bias_spec(doc)
    assert info.value.field == "sweep"


# ---------------------------------------------------------------- the pages draw the declarations


def _check_widgets(at, params: list[tuple[Param, str]]) -> None:
    for p, key in params:
        if p.kind == "bool":
            widget = next(w for kind in ("checkbox", "toggle") for w in at.get(kind) if w.key == key)
        elif p.kind == "choice":
            widget = next(w for kind in ("radio", "selectbox") for w in at.get(kind) if w.key == key)
            assert list(widget.options) == [p.choice_label(c) for c in p.choices], key
        elif p.suggested:
            widget = at.selectbox(key=key)
            assert len(widget.options) == len(p.suggested)
        else:
            widget = at.number_input(key=key)
            # no bounds in the browser (it would show a value it does not send); the page says it in a sentence
            assert (widget.min, widget.max) == (None, None), key
            assert widget.step == (p.step or 1), key
        assert widget.label == p.label, key
        assert widget.help == p.help, key


def test_the_bias_page_draws_the_declared_settings(data_dir) -> None:
    at = open_page("pages/bias.py", TIMEOUT)
    assert not main_errors(at)
    declared = [(p, f"bi_{p.name}") for p in bias_settings.SETTINGS]
    declared += [
        (p, f"bi_{ATTRIBUTION_KEYS[p.name]}")
        for p in bias_settings.ATTRIBUTION_SETTINGS
        if p.name in ATTRIBUTION_KEYS
    ]
    _check_widgets(at, declared)
    spec = bias_presets()["gender_occupation"]
    cost = bias_settings.bias_cost(
        spec["sweep"]["groups"], {}, len(spec["candidates"]), True, spec["attribution"]["prompts"]
    )
    assert any(c.value.replace("\\", "") == cost.sentence() for c in at.caption)


def test_the_few_shot_page_draws_the_declared_settings(data_dir) -> None:
    at = open_page("pages/few_shot.py", TIMEOUT)
    assert not main_errors(at)
    _check_widgets(at, [(p, setting_key("fs", p.name)) for p in few_shot_settings.SETTINGS])
    spec = parse_few_shot_spec(few_shot_presets()["sentiment"])
    cost = few_shot_settings.few_shot_cost(
        spec.n_features, len(spec.queries), len(spec.labels), spec.method, spec.max_exact, spec.n_samples,
        spec.order_trials,
    )
    assert any(c.value.replace("\\", "") == cost.sentence() for c in at.caption)


# ---------------------------------------------------------------- the page scripts are alike


@pytest.mark.parametrize("page", sorted((ROOT / "pages").glob("*.py")), ids=lambda p: p.name)
def test_page_scripts_are_short_and_alike(page: Path) -> None:
    tree = ast.parse(page.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), "a page starts with its docstring"
    body = tree.body[1:]
    assert isinstance(body[0], ast.ImportFrom) and body[0].module == "__future__"
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))], (
        "a page script defines nothing; its building blocks live in ui/"
    )
    calls = [n.value.func for n in body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    first = calls[0]
    assert isinstance(first, ast.Name) and first.id == "heading", "a page opens with its heading (ui.shared.page_table)"
    opened = next(n.value for n in body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call))
    assert [a.value for a in opened.args] == [f"pages/{page.name}"], "a page's heading names its own script"
    assert len(page.read_text(encoding="utf-8").splitlines()) <= 30
