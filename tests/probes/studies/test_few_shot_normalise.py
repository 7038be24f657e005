"""The few-shot probe's length normalisation (issue 24): which label counts as picked, as lm-eval's acc / acc_norm."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import SpecError
from core.probes.few_shot.run import picked_labels
from core.probes.few_shot.spec import parse_few_shot_spec

DOC = {
    "kind": "few_shot",
    "examples": [{"input": "A joy.", "label": "positive"}],
    "queries": [{"input": "Dull.", "label": "negative"}],
    "labels": ["positive", "negative"],
    "example_format": "Review: {input}\nSentiment: {label}\n\n",
    "query_format": "Review: {input}\nSentiment:",
}


def test_the_default_is_the_sum_and_a_bad_value_is_refused() -> None:
    assert parse_few_shot_spec(DOC).normalise == "sum"
    assert parse_few_shot_spec({**DOC, "normalise": "per_char"}).raw["normalise"] == "per_char"
    with pytest.raises(SpecError) as err:
        parse_few_shot_spec({**DOC, "normalise": "per_word"})
    assert err.value.field == "normalise"


def test_normalisation_changes_the_pick_as_hand_computed() -> None:
    spec = parse_few_shot_spec(
        {
            **DOC,
            "labels": ["no", "absolutely"],
            "examples": [{"input": "x", "label": "no"}],
            "queries": [{"input": "y", "label": "absolutely"}],
        }
    )
    logp = np.array([[-3.0, -6.0]])  # "no" (1 token, 2 chars) against "absolutely" (3 tokens, 10 chars)
    ids = [[1], [2, 3, 4]]
    assert picked_labels(logp, spec, ids).tolist() == [0]  # sum: -3 > -6
    per_token = parse_few_shot_spec({**spec.raw, "normalise": "per_token"})
    assert picked_labels(logp, per_token, ids).tolist() == [1]  # -3 / 1 < -6 / 3 = -2
    per_char = parse_few_shot_spec({**spec.raw, "normalise": "per_char"})
    assert picked_labels(logp, per_char, ids).tolist() == [1]  # -3 / 2 = -1.5 < -6 / 10 = -0.6
