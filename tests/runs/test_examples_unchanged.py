"""`python -m core run` on each file in examples/ prints the numbers it printed before the regrouping.

The reference documents in tests/data/examples_before/ were printed by the
code as it stood before core/ was grouped into subpackages (commit f776f73),
without their ``meta`` (times differ from run to run). Every number must
agree within the CPU kernels' movement (below) and every text exactly; fields added since (``format``,
``meta.load_seconds``), the spec (now stored normalised) and the bias summary's
sentences (rewritten for reviewers since) are not compared.

When the bias and few-shot examples were made smaller (issue 14: every preset's first
result within 30 s), their references were printed again by the code of that commit
(``python -m core run examples/NAME.json``, without ``meta``, ``spec`` and ``format``);
the tutorial's is still the one from before the regrouping.

The tolerance is measured, not guessed: ``tools/kernel_variation.py`` runs every example in a
fresh process under each ``ATEN_CPU_CAPABILITY`` (default, avx2, avx512) and ``MKL_CBWR``
(unset, COMPATIBLE) and prints how far each number moves from the references. The largest
movement measured over the 18 runs (the prefix-tree scorer's code, an Intel Xeon with AVX-512):
5.9e-5 absolute (the tutorial under avx512; avx2 2.3e-5, the plain kernels 2.2e-5), and 1.1e-3
relative to numbers above 1e-3 (a few-shot number of size 0.017 moved by 1.9e-5). A newcomer's
AMD EPYC moved the tutorial by 5e-5 relative, past the old 1e-5. The tolerance, ``ABS`` plus
``REL`` times the number, is over three times every measured movement (2e-4 against 5.9e-5).
Same-machine determinism is its own strict test below (1e-6).
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
# Numbers agree within ABS + REL * |number|: about three times the kernels' largest movement (above).
ABS = 2e-4
REL = 2e-3
EXAMPLES = sorted(p.stem for p in BEFORE.glob("*.json"))
# These run in the suite (each well under a minute on two idle cores). documents_bakery (47 forward passes, about
# 45 s of CPU) keeps the reference `python -m core run examples/documents_bakery.json` printed when the kind
# landed, without running here (the suite's 10 minutes); the documents tests check its engine on smaller documents.
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
        close = math.isfinite(before) and abs(before - now) <= ABS + REL * abs(before)
        return [] if close or before == now else [f"{where}: {before} -> {now}"]
    return [] if before == now else [f"{where}: {before!r} -> {now!r}"]


def test_the_comparison_notices_a_changed_number() -> None:
    assert differences({"a": [1.0, 2.0]}, {"a": [1.0, 2.01]}) == [".a[1]: 2.0 -> 2.01"]
    assert differences({"a": "x"}, {"a": "x", "format": 1}) == []
    # the kernels' largest measured movement passes; ten times it does not
    assert differences({"a": [0.02, 1.5]}, {"a": [0.02 + 5.9e-5, 1.5 * (1 + 6.5e-4)]}) == []
    assert differences({"a": 0.02}, {"a": 0.02 + 5.9e-4}) != []


def test_every_example_has_a_reference() -> None:
    assert EXAMPLES == sorted(p.stem for p in (ROOT / "examples").glob("*.json"))
    assert set(RUN_IN_SUITE) <= set(EXAMPLES)


@pytest.fixture(scope="module")
def printed_alone(lm) -> dict[str, dict[str, Any]]:
    """What `python -m core run` prints for each example run alone, computed in this process.

    (tests/runs/test_cli.py runs that command itself; a process per example would load the model
    three more times.)
    """
    return {
        name: json.loads(json_text(core.engine.run(example(name), lm=lm).to_dict())) for name in RUN_IN_SUITE
    }


def example(name: str) -> dict[str, Any]:
    """The spec of ``examples/NAME.json``."""
    return json.loads((ROOT / "examples" / f"{name}.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", RUN_IN_SUITE)
def test_example_prints_the_same_numbers(name: str, printed_alone) -> None:
    printed = printed_alone[name]
    now = {k: v for k, v in printed.items() if k not in NOT_COMPARED}
    before = {k: v for k, v in json.loads((BEFORE / f"{name}.json").read_text()).items() if k not in NOT_COMPARED}
    assert differences(before, now) == []


def _numbers(doc: Any) -> list[float]:
    """Every number of a result document, in document order (its ``meta`` left out: times differ)."""
    if isinstance(doc, dict):
        return [n for k, v in sorted(doc.items()) if k not in NOT_COMPARED for n in _numbers(v)]
    if isinstance(doc, list):
        return [n for v in doc for n in _numbers(v)]
    if isinstance(doc, (int, float)) and not isinstance(doc, bool):
        return [float(doc)]
    return []


@pytest.mark.slow
def test_a_spec_gives_the_same_numbers_alone_and_beside_a_long_job(lm, printed_alone) -> None:
    """On one machine a run is deterministic to 1e-6, whether it has the model alone or shares it.

    The tutorial runs again while the few-shot example runs in another thread (the two take turns
    batch by batch: core.models.sharing); both must equal their runs alone. This is the strict
    check; the references above hold across machines only within the kernels' movement.
    """
    import threading

    beside: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: beside.update(few_shot_sentiment=core.engine.run(example("few_shot_sentiment"), lm=lm))
    )
    worker.start()
    beside["tutorial"] = core.engine.run(example("tutorial"), lm=lm)
    still_running = worker.is_alive()
    worker.join()
    assert still_running, "the long job ended before the tutorial did: they did not share the model"
    for name, result in beside.items():
        a, b = _numbers(printed_alone[name]), _numbers(json.loads(json_text(result.to_dict())))
        assert len(a) == len(b) and len(a) > 20
        worst = max(abs(x - y) / max(abs(x), 1e-3) for x, y in zip(a, b))
        assert worst <= 1e-6, f"{name} moved by {worst:.2e} (relative) beside another job"
