"""`python -m core run` on each file in examples/ prints the numbers it printed before the regrouping.

The reference documents in tests/data/examples_before/ were printed by the
code as it stood before core/ was grouped into subpackages (commit f776f73),
without their ``meta`` (times differ from run to run). Every number must
agree to 1e-5 and every text exactly; fields added since (``format``,
``meta.load_seconds``), the spec (now stored normalised) and the bias summary's
sentences (rewritten for reviewers since) are not compared.

When the bias and few-shot examples were made smaller (issue 14: every preset's first
result within 30 s), their references were printed again by the code of that commit
(``python -m core run examples/NAME.json``, without ``meta``, ``spec`` and ``format``);
the tutorial's is still the one from before the regrouping.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import core.engine
from core.result_json import json_text

ROOT = Path(__file__).resolve().parents[2]
BEFORE = ROOT / "tests" / "data" / "examples_before"
# the bias summary's sentences were rewritten for reviewers (issue 14); its numbers are compared in the result
NOT_COMPARED = {"meta", "spec", "format", "summary"}
# Numbers agree to 1e-5: how the scorer groups rows into batches moves a log-probability by ~1e-7,
# which a bootstrap interval of probability ratios can grow to ~1e-6.
REL = 1e-5
EXAMPLES = sorted(p.stem for p in BEFORE.glob("*.json"))
# Every example runs in the suite: each takes well under a minute on two idle cores.
RUN_IN_SUITE = ["bias_gender_occupation", "few_shot_sentiment", "tutorial"]


def differences(before: Any, now: Any, where: str = "") -> list[str]:
    """Where two JSON documents differ: numbers beyond ``REL``, other values when not equal."""
    if isinstance(before, dict) and isinstance(now, dict):
        out = [f"{where}.{k}: missing now" for k in before.keys() - now.keys()]
        for key in before.keys() & now.keys():
            out += differences(before[key], now[key], f"{where}.{key}")
        return out
    if isinstance(before, list) and isinstance(now, list):
        if len(before) != len(now):
            return [f"{where}: {len(before)} items before, {len(now)} now"]
        return [d for i, (a, b) in enumerate(zip(before, now)) for d in differences(a, b, f"{where}[{i}]")]
    if isinstance(before, (int, float)) and isinstance(now, (int, float)) and not isinstance(before, bool):
        return [] if math.isclose(before, now, rel_tol=REL, abs_tol=REL) else [f"{where}: {before} -> {now}"]
    return [] if before == now else [f"{where}: {before!r} -> {now!r}"]


def test_the_comparison_notices_a_changed_number() -> None:
    assert differences({"a": [1.0, 2.0]}, {"a": [1.0, 2.001]}) == [".a[1]: 2.0 -> 2.001"]
    assert differences({"a": "x"}, {"a": "x", "format": 1}) == []


def test_every_example_has_a_reference() -> None:
    assert EXAMPLES == sorted(p.stem for p in (ROOT / "examples").glob("*.json"))
    assert set(RUN_IN_SUITE) <= set(EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", RUN_IN_SUITE)
def test_example_prints_the_same_numbers(name: str, lm) -> None:
    # what `python -m core run` prints (tests/runs/test_cli.py runs that command itself), computed in this
    # process with the session's model: a process per example would load the model three more times
    spec = json.loads((ROOT / "examples" / f"{name}.json").read_text())
    printed = json.loads(json_text(core.engine.run(spec, lm=lm).to_dict()))
    now = {k: v for k, v in printed.items() if k not in NOT_COMPARED}
    before = {k: v for k, v in json.loads((BEFORE / f"{name}.json").read_text()).items() if k not in NOT_COMPARED}
    assert differences(before, now) == []
