"""Issue 15, defect 4: no unchecked value reaches internal code; a spec is refused with a sentence or parsed.

The property test throws thousands of generated specs (wrong types, NaN, infinity,
huge numbers, lone surrogates, deep nesting, unicode) at ``core.engine.validate``,
the validation ``core.engine.run`` does before it loads a model, and requires a
``SpecError`` sentence or a parsed spec whose document is valid JSON; any other
exception fails. The other tests pin the cases the issue names, the command
line's reading of a spec file and its JSON output.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.__main__ import main
from core.attribution.methods import METHODS
from core.attribution.spec import GENERATE, SEED, TRIALS
from core.engine import validate
from core.errors import SpecError
from core.probes.bias import settings as bias_settings
from core.probes.few_shot import settings as few_shot_settings
from core.result_json import finite_json, json_text
from core.text import MAX_SPEC_NESTING, document_problem, shown

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (ROOT / "examples").glob("*.json")}
N_SPECS = 2000  # the issue asks for at least 2,000 generated specs
BATCH = 5


def _small_bias() -> dict[str, Any]:
    """The bias example cut down (4 values a group, 3 candidates) with attribution parameters set."""
    doc = copy.deepcopy(EXAMPLES["bias_gender_occupation"])
    for name, values in doc["sweep"]["groups"].items():
        doc["sweep"]["groups"][name] = values[:4]
    doc["candidates"] = doc["candidates"][:3]
    doc["attribution"] = {"enabled": True, "method": "lime", "trials": 2, "prompts": 4,
                          "params": {"n_samples": 20, "kernel_width": 0.5, "alpha": 0.1}}
    doc["level"] = 0.9
    return doc


def _small_few_shot() -> dict[str, Any]:
    """The few-shot example cut down, with its method as an object."""
    doc = copy.deepcopy(EXAMPLES["few_shot_sentiment"])
    doc["examples"], doc["queries"] = doc["examples"][:3], doc["queries"][:2]
    doc["method"] = {"name": "sampling", "n_samples": 5}
    return doc


# Valid specs of every kind, covering most fields; the generator breaks them.
BASES: list[dict[str, Any]] = [
    EXAMPLES["tutorial"],
    {"kind": "attribution", "prompt": {"text": "The cat sat on the mat.", "granularity": "word", "baseline": "x"},
     "target": {"generate": {"max_new_tokens": 5, "do_sample": True, "temperature": 0.7, "top_p": 0.9, "seed": 3},
                "contrast": " dog"},
     "method": {"name": "lime", "n_samples": 50, "kernel_width": 0.25, "alpha": 1.0}, "trials": 2, "seed": 7},
    {"prompt": {"template": "{name} lives in {city}.", "values": {"name": "Dave", "city": "Rome"},
                "baselines": {"name": ["Sarah", "Ann"], "city": "Paris"}, "groups": {"who": ["name"]}},
     "target": {"text": " He"}, "score": "prob", "chat": True,
     "method": {"name": "gradient_shap", "n_samples": 5, "stdev": 0.1, "baseline": "eos", "aggregate": "feature",
                "internal_batch_size": 4}},
    {"prompt": {"template": "{} and {}", "values": ["a", "b"]}, "target": {"text": " c"},
     "method": {"name": "integrated_gradients", "steps": 8, "rule": "riemann_left", "baseline": 0}},
    _small_bias(),
    _small_few_shot(),
]

NASTY_TEXT = st.sampled_from(["\ud800", "a\udfffb", "", " ", "{", "{}", "{x}", "{0}{}", "{input!r}", "{label:>9}",
                              "\u0663", "{\u00b2}", "\x00", "e\u0301", "\U0001f600", "kind", "name"])
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**32, 2**63, 2**64 + 1, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.5, 1e-320, 1e308, 5.0, -0.0]),
)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12), NASTY_TEXT)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6) | NASTY_TEXT, inner, max_size=4),
    max_leaves=8,
)


def _deep(levels: int, key: str | None) -> Any:
    """A value nested ``levels`` deep (in lists, or in objects under ``key``), built without recursion."""
    value: Any = "bottom"
    for _ in range(levels):
        value = [value] if key is None else {key: value}
    return value


SPECIAL = st.one_of(
    # Just past the nesting limit (100,000 levels deep is a named case below: it takes a while to build).
    st.builds(_deep, st.integers(MAX_SPEC_NESTING - 2, MAX_SPEC_NESTING + 2), st.sampled_from([None, "a"])),
    st.sampled_from([["shapley"], ["bias"], {"name": ["shapley"]}, "\ud800", math.nan, 10**400]).map(copy.deepcopy),
)


def _paths(doc: Any, prefix: tuple = (), depth: int = 8) -> list[tuple]:
    """The paths (keys and indices) into a document down to ``depth`` levels, the empty path first."""
    out = [prefix]
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items if depth else ():
        out.extend(_paths(value, (*prefix, key), depth - 1))
    return out


def _at(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def broken_specs(draw: st.DrawFn) -> Any:
    """A valid spec with one to three of its values replaced, removed or joined by an unknown key."""
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        value = draw(st.one_of(JSON, SPECIAL))
        if not path:
            doc = value if draw(st.booleans()) else {**doc, **{"kind": value}} if isinstance(doc, dict) else doc
            continue
        parent, key = _at(doc, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        if action == "replace":
            parent[key] = value
        elif action == "remove":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=6) | NASTY_TEXT)] = value
        else:
            parent.append(value)
        if not isinstance(doc, (dict, list)):
            break
    return doc


SPECS = st.one_of(broken_specs(), broken_specs(), JSON, st.sampled_from(BASES).map(copy.deepcopy))


def _check_one(doc: Any) -> str:
    """Validate ``doc``: a SpecError sentence or a parsed spec with a valid JSON document; anything else fails."""
    try:
        parsed = validate(doc)
    except SpecError as exc:
        message = str(exc)
        message.encode("utf-8")  # a sentence any terminal or page can show
        assert message.endswith((".", ")")) and 10 < len(message) < 2000, message
        assert "Traceback" not in message and not message.startswith(("\n", ":")), message
        return "refused"
    json.dumps(parsed.raw, allow_nan=False)  # what runs and gets saved is valid JSON: no NaN, no surrogate
    json.dumps(parsed.raw, ensure_ascii=False).encode("utf-8")
    return "parsed"


@pytest.mark.slow  # about 10 s on two cores
def test_generated_specs_get_a_sentence_or_a_parsed_spec() -> None:
    """At least 2,000 generated specs through ``core.engine.validate``: SpecError or a parsed spec, never else.

    Specs come in batches of five per Hypothesis example (the engine's own work per example
    would otherwise double the time); a failing batch still shrinks to the spec that fails.
    """
    outcomes: list[str] = []

    @settings(max_examples=N_SPECS // BATCH, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(SPECS, min_size=BATCH, max_size=BATCH))
    def check(docs: list[Any]) -> None:
        for doc in docs:
            outcomes.append(_check_one(doc))

    check()
    assert len(outcomes) >= N_SPECS
    # The generator reaches both sides: some broken specs still parse, most are refused.
    assert outcomes.count("parsed") >= 20 and outcomes.count("refused") >= N_SPECS // 2


# ---------------------------------------------------------------- the cases the issue names


def _tutorial(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLES["tutorial"])
    doc.update(changes)
    return doc


def _bias(**changes: Any) -> dict[str, Any]:
    doc = _small_bias()
    doc.update(changes)
    return doc


NAMED_CASES = {
    "seed -1": (_tutorial(seed=-1), "seed", "at least 0"),
    "steps NaN": (_tutorial(method={"name": "integrated_gradients", "steps": math.nan}), "method.steps", "NaN"),
    "steps Infinity": (_tutorial(method={"name": "integrated_gradients", "steps": math.inf}), "method.steps",
                       "Infinity"),
    "bootstrap NaN": (_bias(bootstrap=math.nan), "bootstrap", "NaN"),
    "attribution.trials Infinity": (_bias(attribution={"trials": math.inf}), "attribution.trials", "Infinity"),
    "kernel_width NaN": (_tutorial(method={"name": "lime", "kernel_width": math.nan}), "method.kernel_width", "NaN"),
    "alpha NaN": (_tutorial(method={"name": "lime", "alpha": math.nan}), "method.alpha", "NaN"),
    "stdev Infinity": (_tutorial(method={"name": "gradient_shap", "stdev": -math.inf}), "method.stdev", "Infinity"),
    "kind list": (_tutorial(kind=["bias"]), "kind", "a list is not a run kind"),
    "method.name list": (_tutorial(method={"name": ["shapley"]}), "method.name", "a list is not a method"),
    "compare of lists": (_bias(compare=[["female"], ["male"]]), "compare", "two different groups"),
    "surrogate in target": (_tutorial(target={"text": "\ud800"}), "target.text", "UTF-8"),
    "surrogate in a key": (_tutorial(prompt={"template": "{a}", "values": {"\udfff": "x"}}), "prompt.values", "UTF-8"),
    "surrogate in a candidate": (_bias(candidates=[" ok", "a\ud800"]), "candidates.1", "UTF-8"),
    "nested 100,000 deep": (_tutorial(tags=_deep(100_000, None)), "tags", "more than 32 levels deep"),
    "top_p 5": (_tutorial(target={"generate": {"top_p": 5}}), "target.generate.top_p", "at most 1"),
    "top_p Infinity": (_tutorial(target={"generate": {"top_p": math.inf}}), "target.generate.top_p", "Infinity"),
    "temperature Infinity": (_tutorial(target={"generate": {"temperature": math.inf}}),
                             "target.generate.temperature", "Infinity"),
    "seed 10**400": (_tutorial(seed=10**400), "seed", "too large"),
    "seed 10**30": (_bias(seed=10**30), "seed", "too large"),
    "trials 1e300": (_tutorial(trials=1e300), "trials", "at most 1,000 (it is 1e+300)"),
    "template slots not text": (_tutorial(prompt={"template": "{a}", "values": {"a": ["x"]}}), "prompt.values.a",
                                "must be text"),
    "few-shot format code": ({**_small_few_shot(), "query_format": "Review: {input:>999999999}"}, "query_format",
                             "format code"),
}


@pytest.mark.parametrize("name", list(NAMED_CASES))
def test_the_issue_cases_are_refused_with_a_sentence_naming_the_field(name: str) -> None:
    doc, field, words = NAMED_CASES[name]
    with pytest.raises(SpecError) as info:
        validate(doc)
    assert info.value.field == field
    assert words in str(info.value)


def test_every_declared_number_refuses_nan_infinity_and_out_of_range() -> None:
    """Each declared number setting (method params, run, generation, probe settings) refuses NaN, ±Infinity, bounds."""
    params = [p for m in METHODS.values() for p in m.params] + [TRIALS, SEED, *GENERATE.values()]
    params += list(bias_settings.SETTINGS) + list(bias_settings.ATTRIBUTION_SETTINGS) + list(few_shot_settings.SETTINGS)
    numbers = [p for p in params if p.kind in ("int", "float", "int_or_choice")]
    assert len(numbers) >= 20
    for p in numbers:
        for bad in (math.nan, math.inf, -math.inf, 10**400):
            with pytest.raises(SpecError):
                p.validate(bad)
        if p.maximum is not None:
            with pytest.raises(SpecError, match="at most|below"):
                p.validate(p.maximum * 2 + 1)
        if p.minimum is not None:
            with pytest.raises(SpecError, match="at least"):
                p.validate(p.minimum - 1)


def test_long_feature_lists_keep_every_coalition_apart() -> None:
    """Above 62 features a coalition's code used to overflow and merge coalitions (features 64+ got 0)."""
    import numpy as np

    from core.attribution.planning import attribute

    n = 70
    weights = np.arange(1, n + 1, dtype=float)
    attr = attribute("feature_ablation", n, lambda m: (m.astype(float) @ weights)[:, None], {}, None)
    assert np.allclose(attr[0], weights)


def test_shown_writes_any_value_safely() -> None:
    assert shown(10**5000) == "a number too large to use"  # str() of it raises ValueError
    assert shown("a\ud800") == "'a?'"
    assert shown(["x"]) == "a list" and shown(None) == "null" and shown(2**40) == "1,099,511,627,776"
    assert document_problem({"a": [{"b": "fine"}]}) is None


# ---------------------------------------------------------------- the command line


class _NotFiniteResult:
    """A computed result whose numbers include NaN and infinities (a score of probability 0, say)."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "attribution", "seq_attr": [math.nan, 1.0, -math.inf], "meta": {"seconds": math.inf}}


def test_the_command_line_prints_valid_json_when_a_result_has_nan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import core.engine

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"prompt": {"text": "Hi"}, "target": {"text": " there"}}), encoding="utf-8")
    monkeypatch.setattr(core.engine, "run", lambda doc, progress=None: _NotFiniteResult())
    assert main(["run", str(spec), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out and "Infinity" not in out
    doc = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the output"))
    assert doc["seq_attr"] == [None, 1.0, None] and doc["meta"]["seconds"] is None


def test_result_json_is_always_valid_json() -> None:
    doc = {"score": math.nan, "rows": [[1.0, math.inf], {"x": -math.inf}], "n": 3, "text": "é"}
    text = json_text(doc)
    assert json.loads(text) == {"score": None, "rows": [[1.0, None], {"x": None}], "n": 3, "text": "é"}
    assert "NaN" not in text and "Infinity" not in text
    assert finite_json((1.5, math.nan)) == [1.5, None]


@pytest.mark.parametrize(
    "content, words",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nests lists and objects too deeply"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "cannot be read"),
        (b'{"kind": "attribution", "seed": NaN}', "NaN is not a number"),
        (b'{"prompt": {"text": "\\ud800 hi"}, "target": {"text": "x"}}', "UTF-8"),
    ],
    ids=["binary", "nested", "huge number", "NaN", "surrogate"],
)
def test_cli_reads_a_bad_spec_file_as_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    path = tmp_path / "spec.json"
    path.write_bytes(content)
    status = main(["run", str(path), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_cli_prints_valid_json_when_a_result_holds_nan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A score of NaN or -Infinity (a target the model cannot produce) is printed as null, never a bare NaN."""
    import core.engine
    from core.attribution.result import RunResult

    def fake_run(doc: Any, **_: Any) -> RunResult:
        return RunResult(
            kind="attribution", spec=doc, features=["a"], output_tokens=["x"], prompt_tokens=["a"],
            feature_tokens=[[0]], target={"text": "x"}, seq_attr=[math.nan], token_attr=[[math.inf]],
            score_all=-math.inf, score_none=0.0, token_score_all=[-math.inf], token_score_none=[0.0], meta={},
        )

    monkeypatch.setattr(core.engine, "run", fake_run)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(EXAMPLES["tutorial"]), encoding="utf-8")
    assert main(["run", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out

    def refuse(name: str) -> None:
        raise AssertionError(f"the output holds {name}, which is not JSON")

    doc = json.loads(out, parse_constant=refuse)
    assert doc["seq_attr"] == [None] and doc["token_attr"] == [[None]] and doc["score_all"] is None
    assert doc["score_none"] == 0.0
