"""The engine on the bundled model: results, targets, bad inputs, progress and stopping."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.attribution.result import RunResult
from core.engine import run
from core.errors import Cancelled, SpecError

TEMPLATE = "{} lives in {}, {} and is a {}. {} personal interests include"
VALUES = ["Dave", "Palm Coast", "FL", "lawyer", "His"]
TARGET = "playing golf, hiking, and cooking."


def _spec(**over):
    spec = {
        "model": "default",
        "prompt": {"template": TEMPLATE, "values": VALUES},
        "target": {"text": TARGET},
        "method": {"name": "shapley"},
    }
    spec.update(over)
    return spec


def _direct_logprob(lm, prompt: str, target: str, chat: bool = False) -> np.ndarray:
    tok = lm.tokenizer
    p = tok(prompt, add_special_tokens=not chat)["input_ids"]
    t = tok(target, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = lm.model(torch.tensor([p + t])).logits[0]
    lp = torch.log_softmax(logits, -1)
    return np.array([lp[len(p) - 1 + j, t[j]].item() for j in range(len(t))])


@pytest.fixture(scope="module")
def shapley_result(lm) -> RunResult:
    return run(_spec(), lm=lm)


def test_shapley_sums_to_score_all_minus_none(lm, shapley_result):
    r = shapley_result
    assert np.isclose(sum(r.seq_attr), r.score_all - r.score_none, atol=1e-9)
    for row, a, b in zip(r.token_attr, r.token_score_all, r.token_score_none):
        assert np.isclose(sum(row), a - b, atol=1e-9)
    direct = _direct_logprob(lm, TEMPLATE.format(*VALUES), TARGET)
    assert np.isclose(r.score_all, direct.sum(), atol=1e-4)
    np.testing.assert_allclose(r.token_score_all, direct, atol=1e-4)
    none = _direct_logprob(lm, TEMPLATE.format(*[""] * 5), TARGET)
    assert np.isclose(r.score_none, none.sum(), atol=1e-4)
    assert r.meta["forward_passes"] == 32  # 2^5 distinct coalitions, each once


def test_result_round_trips_through_json(shapley_result):
    text = shapley_result.to_json()
    again = RunResult.from_json(text)
    assert again == shapley_result
    assert json.loads(again.to_json()) == json.loads(text)


@pytest.mark.slow
def test_per_token_attribution_for_every_method(lm):
    for method in ("kernel_shap", "lime", "shapley_sampling"):
        r = run(_spec(method={"name": method, "n_samples": 12}), lm=lm)
        assert np.array(r.token_attr).shape == (len(r.output_tokens), 5)
        assert np.any(np.array(r.token_attr) != 0)


@pytest.mark.slow
def test_seeds_make_sampling_repeatable(lm):
    a = run(_spec(method={"name": "lime", "n_samples": 10}, seed=3), lm=lm)
    b = run(_spec(method={"name": "lime", "n_samples": 10}, seed=3), lm=lm)
    c = run(_spec(method={"name": "lime", "n_samples": 10}, seed=4), lm=lm)
    assert a.seq_attr == b.seq_attr
    assert a.seq_attr != c.seq_attr


def test_trials_average_over_sampled_baselines(lm):
    prompt = {
        "template": "{name} is a {job}. {pronoun} likes",
        "values": {"name": "Dave", "job": "lawyer", "pronoun": "He"},
        "baselines": {"name": ["Sarah", "Maria"], "pronoun": ["She", "She"]},
        "paired": [["name", "pronoun"]],
    }
    spec = _spec(prompt=prompt, method={"name": "feature_ablation"}, trials=4, seed=1)
    r = run(spec, lm=lm)
    # each trial uses one alternative: the average lies between the two single-baseline runs
    singles = []
    for name in ("Sarah", "Maria"):
        fixed = dict(prompt, baselines={"name": name, "pronoun": "She"})
        fixed.pop("paired")
        singles.append(run(_spec(prompt=fixed, method={"name": "feature_ablation"}), lm=lm).seq_attr[0])
    lo, hi = min(singles), max(singles)
    assert lo - 1e-9 <= r.seq_attr[0] <= hi + 1e-9


def test_contrast_is_score_a_minus_score_b(lm):
    spec = _spec(target={"text": " golf", "contrast": " chess"}, method={"name": "feature_ablation"})
    r = run(spec, lm=lm)
    prompt = TEMPLATE.format(*VALUES)
    a = _direct_logprob(lm, prompt, " golf").sum()
    b = _direct_logprob(lm, prompt, " chess").sum()
    assert np.isclose(r.score_all, a - b, atol=1e-4)
    assert r.output_tokens[-1].startswith("vs ")


def test_generated_target_is_greedy_continuation(lm):
    spec = _spec(target={"generate": {"max_new_tokens": 6}}, method={"name": "feature_ablation"})
    r = run(spec, lm=lm)
    ids = lm.tokenizer(TEMPLATE.format(*VALUES), return_tensors="pt").input_ids
    with torch.no_grad():
        out = lm.model.generate(ids, max_new_tokens=6, do_sample=False)
    assert r.target["ids"] == out[0, ids.shape[1] :].tolist()
    assert r.target["generated"] is True


def test_chat_mode_and_text_granularity(lm):
    spec = {
        "prompt": {"text": "Name a sport. Be brief.", "granularity": "sentence"},
        "chat": True,
        "target": {"text": "Tennis"},
        "method": {"name": "shapley"},
    }
    r = run(spec, lm=lm)
    assert r.features == ["Name a sport.", "Be brief."]
    layout_tokens = r.prompt_tokens
    assert "<|im_start|>" in "".join(layout_tokens)
    covered = {i for f in r.feature_tokens for i in f}
    assert all("<|im" not in layout_tokens[i] for i in covered)
    assert np.isclose(sum(r.seq_attr), r.score_all - r.score_none, atol=1e-9)


def test_progress_and_stop(lm):
    seen = []
    run(_spec(), lm=lm, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] == 32
    with pytest.raises(Cancelled):
        run(_spec(), lm=lm, should_stop=lambda: True)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"prompt": {"template": "{} lives in {", "values": ["a"]}}, "prompt.template"),
        ({"prompt": {"template": "{name} lives", "values": {}}}, "prompt.values.name"),
        ({"prompt": {"template": "{a} x", "values": {"a": "b"}, "baselines": {"q": ""}}}, "prompt.baselines.q"),
        ({"prompt": {"text": "   ", "granularity": "word"}}, "prompt.text"),
        ({"target": {"text": ""}}, "target.text"),
        ({"method": {"name": "magic"}}, "method.name"),
        ({"method": {"name": "lime", "n_sample": 5}}, "method.n_sample"),
        ({"method": {"name": "kernel_shap", "n_samples": 0}}, "method.n_samples"),
        ({"score": "logit"}, "score"),
        ({"trials": 0}, "trials"),
    ],
)
def test_bad_specs_name_the_field(lm, change, field):
    with pytest.raises(SpecError) as err:
        run(_spec(**change), lm=lm)
    assert err.value.field == field
    assert str(err.value).endswith(".")


def test_too_many_features_for_exact_shapley(lm):
    text = " ".join(f"w{i}" for i in range(14))
    spec = _spec(prompt={"text": text, "granularity": "word"})
    with pytest.raises(SpecError) as err:
        run(spec, lm=lm)
    assert "shapley_sampling" in str(err.value)


def test_prompt_longer_than_context(lm):
    long_text = "word " * (lm.max_context + 10)
    spec = _spec(prompt={"template": "{x} end", "values": {"x": long_text}}, method={"name": "feature_ablation"})
    with pytest.raises(SpecError) as err:
        run(spec, lm=lm)
    assert "context" in str(err.value)


def test_removing_every_word_scores_from_the_start_token(lm):
    spec = {
        "prompt": {"text": "The capital of France is", "granularity": "word"},
        "target": {"text": " Paris"},
        "method": {"name": "shapley"},
    }
    r = run(spec, lm=lm)
    start = lm.tokenizer.bos_token_id
    t = lm.tokenizer(" Paris", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = lm.model(torch.tensor([[start] + t])).logits[0]
    none = torch.log_softmax(logits, -1)[0, t[0]].item()
    assert np.isclose(r.score_none, none, atol=1e-4)
    assert r.extra["empty_prompts"] == 1
    assert np.isclose(sum(r.seq_attr), r.score_all - r.score_none, atol=1e-9)
    # the answer's most important word is the country
    assert r.features[int(np.argmax(r.seq_attr))] == "France"
