"""Issue 14, point 10 (honest waiting): every form says how long its run will take before Run.

The estimate is counted in ``core.runs.estimate`` (one place): a spec's work in tokens
through the model, times this machine's measured speed (finished runs, else the
warm-up's calibration, else a first guess the sentence calls one).
"""

from __future__ import annotations

import copy
import re

import pytest

from core.attribution.presets import preset
from core.probes.bias.data import bias_presets
from core.probes.few_shot.spec import few_shot_presets
from core.runs.estimate import SpeedLog, estimate, format_seconds, record_run, run_work
from tests.page_support import no_exception, open_page

TIMEOUT = 240


def test_seconds_read_at_a_glance() -> None:
    assert format_seconds(0.3) == "under 1 s"
    assert format_seconds(12.4) == "12 s"
    assert format_seconds(125) == "2 min 05 s"


def test_more_work_takes_longer_in_every_kind() -> None:
    speeds = SpeedLog()
    speeds.set_calibration("default", 1e-3)
    few = few_shot_presets()["sentiment"]
    more = copy.deepcopy(few)
    more["queries"] = more["queries"] * 2
    bias = bias_presets()["gender_occupation"]
    fewer = copy.deepcopy(bias)
    fewer["candidates"] = fewer["candidates"][:2]
    ig = preset("capital_ig").spec_copy()
    steps = copy.deepcopy(ig)
    steps["method"]["steps"] = ig["method"]["steps"] * 4
    for small, big in ((few, more), (fewer, bias), (ig, steps)):
        a, b = estimate(small, speeds), estimate(big, speeds)
        assert a is not None and b is not None
        assert b.seconds > a.seconds * 1.2
        assert a.basis == "calibration"


def test_sampled_baselines_given_by_name_or_by_position_cost_every_trial() -> None:
    """Baselines per slot by name or positional (a list): sampled ones make each trial's prompts new."""
    speeds = SpeedLog()
    speeds.set_calibration("default", 1e-3)
    spec = preset("captum_tutorial").spec_copy()
    spec["method"] = {"name": "feature_ablation"}
    spec["trials"] = 20  # 20 x 6 prompts when sampled; at most the 2^5 coalitions when fixed
    slots = len(spec["prompt"]["values"])
    fixed = estimate({**spec, "prompt": {**spec["prompt"], "baselines": ["x"] * slots}}, speeds)
    by_position = estimate({**spec, "prompt": {**spec["prompt"], "baselines": [["x", "y"]] * slots}}, speeds)
    assert fixed is not None and by_position is not None
    assert by_position.seconds > fixed.seconds * 2


def test_a_spec_that_cannot_run_has_no_estimate() -> None:
    spec = preset("captum_tutorial").spec_copy()
    spec["method"] = {"name": "no_such_method"}
    assert run_work(spec) is None
    assert estimate(spec) is None


def test_finished_runs_set_the_speed_and_the_sentence_says_so() -> None:
    speeds = SpeedLog()
    spec = preset("captum_tutorial").spec_copy()
    work = run_work(spec)
    assert work is not None and set(work.tokens) == {"perturbation"}
    first = estimate(spec, speeds)
    assert first is not None and first.basis == "guess" and "first guess" in first.words()
    record_run(spec, 4.0, speeds)  # the same spec took 4 s: the next estimate of it says 4 s
    again = estimate(spec, speeds)
    assert again is not None and again.basis == "runs"
    assert again.seconds == pytest.approx(4.0)
    assert again.words() == "Estimated time: about 4 s on this machine (from the speed of the last run like it)."
    gradient = estimate(preset("capital_ig").spec_copy(), speeds)  # another family is not measured by it
    assert gradient is not None and gradient.basis == "guess"


def test_a_machine_slower_than_calibrated_shows_in_every_family() -> None:
    speeds = SpeedLog()
    speeds.set_calibration("default", 1e-3)
    tutorial, ig = preset("captum_tutorial").spec_copy(), preset("capital_ig").spec_copy()
    before = estimate(ig, speeds)
    predicted = estimate(tutorial, speeds)
    assert before is not None and predicted is not None
    record_run(tutorial, predicted.seconds * 5, speeds)  # the tutorial took five times as long as said
    after = estimate(ig, speeds)
    assert after is not None and after.basis == "calibration"
    assert after.seconds == pytest.approx(before.seconds * 5)


@pytest.mark.parametrize(
    "page", ["pages/explain.py", "pages/token_gradients.py", "pages/bias.py", "pages/few_shot.py"]
)
def test_every_form_shows_its_time_before_run(data_dir, page: str) -> None:
    at = open_page(page, TIMEOUT)
    no_exception(at)
    compare = [e for e in at.main.expander if e.label == "Compare methods on this prompt"]
    in_compare = [c.value for e in compare for c in e.caption if c.value.startswith("Estimated time:")]
    shown = [c.value for c in at.main.caption if c.value.startswith("Estimated time:")]
    assert len(shown) == 1 + len(in_compare), [c.value for c in at.main.caption]
    assert re.match(r"Estimated time: (about \d+ s|under 1 s|about \d+ min \d\d s)", shown[0])
    if page in ("pages/explain.py", "pages/token_gradients.py"):  # issue 22, point 8: Compare methods says it too
        assert len(in_compare) == 1, [c.value for e in compare for c in e.caption]
        assert re.match(r"Estimated time: (about \d+ s|under 1 s|about \d+ min \d\d s)", in_compare[0])


# ---------------------------------------------------------------- issue 22 point 8 / issue 23 point 8: the work model


def test_a_gradient_point_counts_a_backward_pass_per_output_token() -> None:
    from core.runs.work import BACKWARD_PER_OUTPUT

    ig = preset("capital_ig").spec_copy()
    one = run_work(ig)
    longer = copy.deepcopy(ig)
    longer["target"] = {"text": " Paris" * 20}  # 20 output tokens instead of 1 or 2
    many = run_work(longer)
    assert one is not None and many is not None
    # forward work grows with the row, backward work with the row times the output tokens
    assert many.total > one.total * 20 * BACKWARD_PER_OUTPUT / (1 + BACKWARD_PER_OUTPUT * 2)


def test_long_prompts_cost_more_than_their_length_and_ablation_shares_prefixes() -> None:
    from core.runs.work import CONTEXT_TOKENS

    def ablation(words: int) -> float:
        text = "\n\n".join(" ".join(["word"] * (words // 10)) for _ in range(10))
        spec = {"kind": "attribution", "model": "default", "prompt": {"text": text, "granularity": "paragraph"},
                "target": {"text": " end"}, "method": {"name": "feature_ablation"}, "faithfulness": False}
        work = run_work(spec)
        assert work is not None
        return work.total

    short, long = ablation(300), ablation(3000)
    assert long > short * 10  # attention over a longer context makes each token dearer
    tokens = 3000 * len(" word") / 4
    flat = 11 * tokens * (1 + tokens / 2 / CONTEXT_TOKENS)  # every prompt computed whole
    assert long < flat * 0.75  # prompts that keep the first paragraphs share them


def test_few_shot_prompts_share_their_examples_prefixes() -> None:
    few = copy.deepcopy(few_shot_presets()["sentiment"])
    few["examples"] = few["examples"] * 2
    few["method"] = "exact"
    work = run_work(few)
    assert work is not None
    chars = sum(len(e["input"]) + len(e["label"]) + 24 for e in few["examples"]) / 2 + 60
    flat = (2 ** 8 + 3) * len(few["queries"]) * chars / 4  # every coalition's prompt computed whole
    assert work.total < flat / 2


def test_a_bias_templates_text_before_its_first_slot_is_counted_once() -> None:
    """The prefix tree computes the text before the first slot once for the whole sweep: 2,500 words there add
    a few thousand tokens of work, the same words after the first slot add them to every prompt."""
    from core.probes.bias.data import bias_presets
    from core.runs.estimate import run_work

    base = bias_presets()["gender_occupation"]
    filler = " ".join(["filler"] * 2500)
    before, after = dict(base), dict(base)
    before["template"] = filler + " " + base["template"]
    after["template"] = base["template"].replace("{name} ", "{name} " + filler + " ", 1)
    plain, shared, unshared = (run_work(doc).total for doc in (base, before, after))
    words_tokens = len(filler) / 4
    assert shared - plain < 2 * words_tokens  # about once
    prompts = sum(len(v) for v in base["sweep"]["groups"].values())
    assert unshared - plain > prompts * words_tokens  # once per prompt at least


def test_every_kinds_example_is_estimated_with_a_measured_factor() -> None:
    """Each run kind's example names a work family whose seconds per token bench/bench_presets.py measured
    (``FAMILY_FACTORS``); a family missing there would be estimated at factor 1.0, unmeasured."""
    import json
    from pathlib import Path

    from core.probes.studies.examples import example_file
    from core.runs.estimate import FAMILY_FACTORS

    root = Path(__file__).resolve().parents[2]
    specs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((root / "examples").glob("*.json"))]
    fmt, text = example_file("pairs")
    specs.append({"kind": "study", "item_type": "pairs", "items": {"format": fmt, "text": text}, "models": ["default"]})
    specs.append({**preset("capital_ig").spec_copy()})
    families = set()
    for spec in specs:
        work = run_work(spec)
        assert work is not None and work.total > 0, spec.get("kind")
        families |= set(work.tokens)
    assert {"perturbation", "gradient", "bias", "few_shot", "documents", "study"} <= families
    assert families <= set(FAMILY_FACTORS), families - set(FAMILY_FACTORS)
