"""The few-shot probe: right numbers on the bundled model, Shapley efficiency, bad inputs, presets."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.engine import run
from core.errors import SpecError
from core.probes.few_shot.run import FewShotResult, run_few_shot
from core.probes.few_shot.spec import (
    few_shot_presets,
    load_examples_csv,
    load_queries_csv,
    parse_few_shot_spec,
)

ROOT = Path(__file__).resolve().parents[2]
INSTRUCTION = "Classify the sentiment of each movie review as positive or negative."
EXAMPLES = [
    {"input": "A warm and funny film.", "label": "positive"},
    {"input": "Dull, slow and far too long.", "label": "negative"},
    {"input": "I loved every minute of it.", "label": "negative"},
]
QUERIES = [
    {"input": "A wonderful surprise.", "label": "positive"},
    {"input": "The worst film of the year.", "label": "negative"},
]


def small_spec(**overrides) -> dict:
    """3 examples x 2 queries, plain prompt."""
    spec = {
        "kind": "few_shot",
        "model": "default",
        "instruction": INSTRUCTION,
        "examples": EXAMPLES,
        "example_format": "Review: {input}\nSentiment: {label}\n\n",
        "query_format": "Review: {input}\nSentiment:",
        "queries": QUERIES,
        "labels": ["positive", "negative"],
        "order_trials": 2,
        "seed": 0,
    }
    spec.update(overrides)
    return spec


def no_model(name: str):
    raise AssertionError("the model must not be loaded for a spec that is refused")


def direct_label_logprobs(lm, prompt: str, labels: list[str], chat: bool = False) -> np.ndarray:
    """One plain forward per prompt and label: the summed log-probability of each label's tokens."""
    tok = lm.tokenizer
    prompt_ids = list(tok(prompt, add_special_tokens=not chat)["input_ids"])
    out = []
    for label in labels:
        label_ids = list(tok(label, add_special_tokens=False)["input_ids"])
        ids = torch.tensor([prompt_ids + label_ids])
        with torch.no_grad():
            logits = lm.model(input_ids=ids).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        start = len(prompt_ids) - 1
        out.append(sum(float(logp[start + k, t]) for k, t in enumerate(label_ids)))
    return np.array(out)


def written_prompt(example_idx: list[int], query: dict, instruction: bool = True) -> str:
    """The few-shot prompt written out by hand (not through the probe's own assembly)."""
    text = INSTRUCTION + "\n\n" if instruction else ""
    for i in example_idx:
        text += f"Review: {EXAMPLES[i]['input']}\nSentiment: {EXAMPLES[i]['label']}\n\n"
    return text + f"Review: {query['input']}\nSentiment:"


def renormalised(logps: np.ndarray) -> np.ndarray:
    p = np.exp(logps - logps.max())
    return p / p.sum()


@pytest.fixture(scope="module")
def small_result(lm) -> FewShotResult:
    """The small spec run through the engine's dispatch."""
    return run(small_spec(), lm=lm)


# ---------------------------------------------------------------- right numbers


@pytest.mark.slow
def test_table_probabilities_equal_direct_forward(lm, small_result):
    labels = [" positive", " negative"]
    coalitions = {"zero_shot": [], "all": [0, 1, 2]}
    loo = {i: [j for j in range(3) if j != i] for i in range(3)}
    direct: dict = {}
    for key, idx in list(coalitions.items()) + [(f"loo{i}", v) for i, v in loo.items()]:
        direct[key] = []
        for q in QUERIES:
            logps = direct_label_logprobs(lm, written_prompt(idx, q), labels)
            right = ["positive", "negative"].index(q["label"])
            direct[key].append((renormalised(logps)[right], logps[right], int(np.argmax(logps)) == right))
    r = small_result
    for key in ("zero_shot", "all"):
        for q, (p, lp, _) in enumerate(direct[key]):
            assert r.queries[q][f"prob_{key}"] == pytest.approx(p, abs=1e-4)
            assert r.queries[q][f"log_prob_{key}"] == pytest.approx(lp, abs=1e-3)
        assert r.mean_prob[key] == pytest.approx(np.mean([d[0] for d in direct[key]]), abs=1e-4)
        assert r.accuracy[key] == pytest.approx(np.mean([d[2] for d in direct[key]]))
    for i in range(3):
        rows = direct[f"loo{i}"]
        assert r.mean_prob["leave_one_out"][i] == pytest.approx(np.mean([d[0] for d in rows]), abs=1e-4)
        assert r.accuracy["leave_one_out"][i] == pytest.approx(np.mean([d[2] for d in rows]))
        assert r.examples[i]["prob_without"] == r.mean_prob["leave_one_out"][i]


def test_shapley_values_sum_to_all_minus_none_per_query(small_result):
    r = small_result
    per_query = np.array([e["per_query"] for e in r.examples])  # examples x queries
    for q, entry in enumerate(r.queries):
        assert per_query[:, q].sum() == pytest.approx(entry["prob_all"] - entry["prob_none"], abs=1e-9)
    for e in r.examples:
        assert e["shapley"] == pytest.approx(np.mean(e["per_query"]))
        assert e["std"] == pytest.approx(np.std(e["per_query"]))


def test_best_subset_is_the_best_coalition(lm, small_result):
    """No subset of examples has a higher mean right-label probability (checked on the tables)."""
    r = small_result
    best = r.mean_prob["best_subset"]
    for other in [r.mean_prob["zero_shot"], r.mean_prob["all"], *r.mean_prob["leave_one_out"]]:
        assert best >= other - 1e-12
    idx = r.best_subset
    direct = []
    for q in QUERIES:
        logps = direct_label_logprobs(lm, written_prompt(idx, q), [" positive", " negative"])
        direct.append(renormalised(logps)[["positive", "negative"].index(q["label"])])
    assert best == pytest.approx(np.mean(direct), abs=1e-4)


def test_result_round_trips_through_json(small_result):
    r = small_result
    assert r.kind == "few_shot"
    for key in ("forward_passes", "seconds", "model_name", "model_revision"):
        assert key in r.meta
    again = FewShotResult.from_json(r.to_json())
    assert again == r
    assert FewShotResult.from_dict(json.loads(json.dumps(r.to_dict()))).to_dict() == r.to_dict()
    assert "Exact Shapley" in r.notes[0]
    assert r.summary.startswith("With all 3 examples")


def test_chat_mode_scores_the_label_after_the_assistant_prefix(lm):
    spec = small_spec(examples=EXAMPLES[:1], queries=QUERIES[:1], chat=True, order_trials=0)
    result = run_few_shot(spec, lm=lm)
    user = written_prompt([0], QUERIES[0])
    prompt = lm.tokenizer.apply_chat_template(
        [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
    )
    logps = direct_label_logprobs(lm, prompt, ["positive", "negative"], chat=True)
    assert result.queries[0]["prob_all"] == pytest.approx(renormalised(logps)[0], abs=1e-4)


def test_instruction_as_feature_keeps_efficiency(lm):
    spec = small_spec(examples=EXAMPLES[:2], queries=QUERIES[:1], include_instruction_as_feature=True, order_trials=0)
    result = run_few_shot(spec, lm=lm)
    total = sum(e["per_query"][0] for e in result.examples) + result.instruction["per_query"][0]
    q = result.queries[0]
    assert total == pytest.approx(q["prob_all"] - q["prob_none"], abs=1e-9)
    # the none coalition drops the instruction too; zero-shot keeps it
    logps = direct_label_logprobs(lm, written_prompt([], QUERIES[0], instruction=False), [" positive", " negative"])
    assert q["prob_none"] == pytest.approx(renormalised(logps)[0], abs=1e-4)
    assert "without_instruction" in result.accuracy


# ---------------------------------------------------------------- order sensitivity


@pytest.mark.slow
def test_order_sensitivity_is_repeatable_with_a_seed(lm):
    spec = small_spec(queries=QUERIES[:1], order_trials=3, seed=7)
    first = run_few_shot(spec, lm=lm).order_sensitivity
    second = run_few_shot(spec, lm=lm).order_sensitivity
    assert first == second
    assert len(first["orders"]) == 3
    assert all(sorted(o) == [0, 1, 2] for o in first["orders"])
    assert first["min"] <= first["mean"] <= first["max"]
    other = run_few_shot({**spec, "seed": 8}, lm=lm).order_sensitivity
    assert other["orders"] != first["orders"]


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"examples": [{"input": "Fine.", "label": "neutral"}]}, "examples.0.label"),
        ({"queries": [{"input": "Fine.", "label": "Positive"}]}, "queries.0.label"),
        ({"queries": []}, "queries"),
        ({"examples": []}, "examples"),
        ({"labels": ["positive"]}, "labels"),
        ({"query_format": "Review: {input}\nSentiment: {label}"}, "query_format"),
        ({"example_format": "Review: {input}\n"}, "example_format"),
        ({"method": "kernel"}, "method"),
        ({"order_trials": -1}, "order_trials"),
    ],
)
def test_bad_specs_are_refused_with_a_sentence(overrides, field):
    with pytest.raises(SpecError) as info:
        run_few_shot(small_spec(**overrides), loader=no_model)
    assert info.value.field == field
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message


def test_a_spec_without_queries_is_refused():
    spec = small_spec()
    del spec["queries"]
    with pytest.raises(SpecError, match="no queries"):
        run_few_shot(spec, loader=no_model)


def test_label_not_in_set_names_the_label_set():
    with pytest.raises(SpecError, match="'neutral' is not in the label set \\(positive, negative\\)"):
        parse_few_shot_spec(small_spec(examples=[*EXAMPLES, {"input": "Meh.", "label": "neutral"}]))


@pytest.mark.slow
def test_more_examples_than_exact_allows_switches_to_sampling(lm):
    words = ["good", "bad", "great", "awful", "nice", "poor", "fine", "dull", "superb", "weak", "lovely"]
    examples = [{"input": w.capitalize() + ".", "label": "positive" if i % 2 == 0 else "negative"} for i, w in enumerate(words)]
    spec = small_spec(examples=examples, queries=QUERIES[:1], n_samples=2, order_trials=0, instruction="")
    parsed = parse_few_shot_spec(spec)
    assert not parsed.uses_exact
    result = run_few_shot(spec, lm=lm)
    assert result.meta["method"] == "shapley_sampling"
    assert "more than max_exact = 10" in result.notes[0] and "Shapley sampling" in result.notes[0]
    assert len(result.examples) == 11
    # every sampled order telescopes from none to all, so efficiency holds exactly
    q = result.queries[0]
    total = sum(e["per_query"][0] for e in result.examples)
    assert total == pytest.approx(q["prob_all"] - q["prob_none"], abs=1e-9)


def test_exact_beyond_its_limit_is_refused():
    examples = [{"input": f"Review number {i}.", "label": "positive"} for i in range(15)]
    with pytest.raises(SpecError) as info:
        parse_few_shot_spec(small_spec(examples=examples, method="exact"))
    assert info.value.field == "method"


# ---------------------------------------------------------------- CSV uploads


def test_csv_with_input_and_label_columns_loads(tmp_path):
    text = "Input , LABEL,source\nA warm film.,positive,me\n\"Slow, dull.\",negative,me\n"
    expected = [{"input": "A warm film.", "label": "positive"}, {"input": "Slow, dull.", "label": "negative"}]
    assert load_examples_csv(text) == expected
    assert load_queries_csv(text.encode("utf-8")) == expected
    path = tmp_path / "examples.csv"
    path.write_text(text, encoding="utf-8")
    assert load_examples_csv(path) == expected  # a Path is a file; a str is always CSV text
    assert load_examples_csv(io.StringIO(text)) == expected


def test_csv_with_wrong_columns_says_which_columns_it_needs():
    with pytest.raises(SpecError) as info:
        load_examples_csv("text,sentiment\nA warm film.,positive\n")
    assert info.value.field == "examples"
    assert "needs the columns input and label" in str(info.value)
    assert "text, sentiment" in str(info.value)
    with pytest.raises(SpecError) as info:
        load_queries_csv(b"review,label\nok,positive\n")
    assert info.value.field == "queries"


# ---------------------------------------------------------------- presets


def test_presets_parse_and_the_example_file_is_the_sentiment_preset():
    presets = few_shot_presets()
    assert "sentiment" in presets and len(presets) >= 2
    for doc in presets.values():
        spec = parse_few_shot_spec(doc)
        assert spec.uses_exact and len(spec.examples) >= 4 and len(spec.queries) >= 4
    example = json.loads((ROOT / "examples" / "few_shot_sentiment.json").read_text(encoding="utf-8"))
    assert example == presets["sentiment"]
    assert set(presets["sentiment"]["labels"]) == {"positive", "negative"}
