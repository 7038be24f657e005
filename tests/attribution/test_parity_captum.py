"""Parity with Captum (the reference implementation, used here only as an oracle).

Captum 0.9's default token-by-token path (``forward_in_tokens=True``) with its
key/value cache gives wrong numbers under current transformers; its no-cache
and sequence paths agree with a direct computation. We therefore compare
against the sequence path, ``forward_in_tokens=False``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import FeatureAblation, LLMAttribution, ShapleyValues, TextTemplateInput

from core.engine import run

TEMPLATE = "{} lives in {}, {} and is a {}. {} personal interests include"
VALUES = ["Dave", "Palm Coast", "FL", "lawyer", "His"]
TARGET = "playing golf, hiking, and cooking."
REPLACEMENTS = ["Sarah", "Seattle", "WA", "doctor", "Her"]
# Captum's exact Shapley scores every permutation (n! x (n + 1) prompts, one at a time): 720 for
# the five slots above, 120 for four, 24 for three. Shapley is compared on three features (three
# slots, or four slots with two in one group), ablation on five.
TEMPLATE_4 = "{} lives in {}, {} and is a {}. His personal interests include"
TEMPLATE_3 = "{} lives in {}, {} and is a lawyer. His personal interests include"
SLOTS = {
    5: (TEMPLATE, VALUES, REPLACEMENTS),
    4: (TEMPLATE_4, VALUES[:4], REPLACEMENTS[:4]),
    3: (TEMPLATE_3, VALUES[:3], REPLACEMENTS[:3]),
}


def _captum(lm, method_cls, baselines=None, mask=None, score="log_prob", slots=5):
    template, values, _ = SLOTS[slots]
    attr_method = method_cls(lm.model)
    llm_attr = LLMAttribution(attr_method, lm.tokenizer, attr_target=score)
    inp = TextTemplateInput(template, values=values, baselines=baselines, mask=mask)
    with torch.no_grad():
        res = llm_attr.attribute(inp, target=TARGET, forward_in_tokens=False)
    return res.seq_attr.cpu().numpy(), res.token_attr.cpu().numpy()


def _ours(method, baselines=None, groups=None, score="log_prob", slots=5):
    template, values, _ = SLOTS[slots]
    prompt = {"template": template, "values": values}
    if baselines is not None:
        prompt["baselines"] = baselines
    if groups is not None:
        prompt["groups"] = groups
    spec = {
        "model": "default",
        "prompt": prompt,
        "target": {"text": TARGET},
        "score": score,
        "method": {"name": method},
    }
    return run(spec)


def _assert_close(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    ("method", "captum_cls", "replace"),
    [
        ("feature_ablation", FeatureAblation, False),
        ("feature_ablation", FeatureAblation, True),
        ("shapley", ShapleyValues, False),  # Shapley with replacements: the grouped test below
    ],
    ids=["removal-feature_ablation", "replacement-feature_ablation", "removal-shapley"],
)
@pytest.mark.slow
def test_matches_captum_sequence_path(lm, method, captum_cls, replace):
    slots = 3 if method == "shapley" else 5
    _, values, replacements = SLOTS[slots]
    baselines = replacements if replace else None
    seq, tok = _captum(lm, captum_cls, baselines=baselines, slots=slots)
    result = _ours(method, baselines=baselines, slots=slots)
    assert result.features == values
    _assert_close(np.array(result.seq_attr), seq)
    _assert_close(np.array(result.token_attr), tok)
    # the attributions are not all zero: the test could fail
    assert np.abs(seq).max() > 0.05


@pytest.mark.parametrize(
    ("method", "captum_cls", "slots", "mask", "group", "features"),
    [
        # Dave and His are perturbed together (Captum: mask ids; ours: a group)
        ("feature_ablation", FeatureAblation, 5, [0, 1, 2, 3, 0], ["0", "4"], ["person", "Palm Coast", "FL", "lawyer"]),
        # Dave and lawyer together: three features for Captum's n! permutations
        ("shapley", ShapleyValues, 4, [0, 1, 2, 0], ["0", "3"], ["person", "Palm Coast", "FL"]),
    ],
    ids=["feature_ablation", "shapley"],
)
@pytest.mark.slow
def test_grouped_slots_match_captum(lm, method, captum_cls, slots, mask, group, features):
    replacements = SLOTS[slots][2]
    seq, tok = _captum(lm, captum_cls, baselines=replacements, mask=mask, slots=slots)
    result = _ours(method, baselines=replacements, groups={"person": group}, slots=slots)
    assert result.features == features
    columns = list(range(len(features)))  # Captum repeats the group's value in each member's column
    _assert_close(np.array(result.seq_attr), seq[columns])
    _assert_close(np.array(result.token_attr), tok[:, columns])
    np.testing.assert_allclose(seq[0], seq[int(group[1])])
    assert np.abs(seq).max() > 0.05  # not all zero: the test could fail


def test_probability_score_matches_captum(lm):
    seq, tok = _captum(lm, FeatureAblation, score="prob")
    result = _ours("feature_ablation", score="prob")
    np.testing.assert_allclose(np.array(result.seq_attr), seq, atol=1e-6)
    _assert_close(np.array(result.token_attr), tok)
