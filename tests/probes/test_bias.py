"""The bias probe: numbers against a direct forward pass, attribution, results, bad inputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.attribution.features import encode_prompt
from core.engine import run as engine_run
from core.errors import Cancelled, SpecError
from core.probes.bias.data import DATA_DIR, bias_presets, sweep_from_csv
from core.probes.bias.run import BiasResult, run_bias
from core.probes.bias.spec import parse_bias_spec

ROOT = Path(__file__).resolve().parents[2]

SMALL = {
    "kind": "bias",
    "model": "default",
    "chat": False,
    "template": "{name} has worked in the same job for ten years. {pronoun} works as a",
    "sweep": {
        "slots": ["name", "pronoun"],
        "groups": {
            "female": [["Mary", "She"], ["Linda", "She"], ["Susan", "She"]],
            "male": [["John", "He"], ["James", "He"], ["Robert", "He"]],
        },
    },
    "candidates": [" nurse", " hairdresser", " carpenter"],
    "bootstrap": 500,
    "permutations": 500,
    "seed": 0,
    "attribution": False,
}


def small(**changes: object) -> dict:
    """A copy of the small spec with top-level changes."""
    doc = copy.deepcopy(SMALL)
    doc.update(changes)
    return doc


@pytest.fixture(scope="module")
def small_result(lm) -> BiasResult:
    return run_bias(small(), lm=lm)


def direct_log_prob(lm, prompt: str, candidate: str) -> float:
    """One plain forward over prompt + candidate; log-softmax; sum over the candidate's tokens."""
    prompt_ids = encode_prompt(lm.tokenizer, prompt, False)
    cand_ids = list(lm.tokenizer(candidate, add_special_tokens=False)["input_ids"])
    ids = torch.tensor([prompt_ids + cand_ids])
    with torch.inference_mode():
        logits = lm.model(ids).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids)
    return float(sum(logp[start + k - 1, t] for k, t in enumerate(cand_ids)))


# ---------------------------------------------------------------- numbers


def test_group_means_equal_a_direct_forward_per_prompt_and_candidate(lm, small_result) -> None:
    result = small_result
    assert any(len(lm.tokenizer(c, add_special_tokens=False)["input_ids"]) > 1 for c in SMALL["candidates"])
    template = SMALL["template"]
    groups = SMALL["sweep"]["groups"]
    for cand in SMALL["candidates"]:
        entry = result.candidate(cand)
        means = {}
        for group, entries in groups.items():
            direct = [direct_log_prob(lm, template.format(name=n, pronoun=p), cand) for n, p in entries]
            means[group] = np.mean(direct)
            assert entry["groups"][group]["mean"] == pytest.approx(means[group], abs=1e-4)
            lo, hi = entry["groups"][group]["ci"]
            assert lo <= entry["groups"][group]["mean"] <= hi
        assert entry["gap"] == pytest.approx(means["female"] - means["male"], abs=1e-4)


def test_renormalised_probabilities_and_ratio(small_result) -> None:
    result = small_result
    probs = np.array([[c["renorm_probs"][i] for c in result.candidates] for i in range(6)])
    assert np.allclose(probs.sum(axis=1), 1.0)
    logp = np.array([[c["log_probs"][i] for c in result.candidates] for i in range(6)])
    assert np.allclose(probs, np.exp(logp) / np.exp(logp).sum(axis=1, keepdims=True))
    female = [i for i, p in enumerate(result.prompts) if p["group"] == "female"]
    male = [i for i, p in enumerate(result.prompts) if p["group"] == "male"]
    for c, entry in enumerate(result.candidates):
        ratio = probs[female, c].mean() / probs[male, c].mean()
        assert entry["prob_ratio"] == pytest.approx(ratio)
        lo, hi = entry["prob_ratio_ci"]
        assert lo <= ratio <= hi
        # 3 vs 3 units: the exact permutation test cannot go below 2/20.
        assert entry["p_value"] >= 0.1 - 1e-12


def test_candidates_are_ranked_by_gap_and_summarised(small_result) -> None:
    gaps = [abs(c["gap"]) for c in small_result.candidates]
    assert gaps == sorted(gaps, reverse=True)
    assert [c["rank"] for c in small_result.candidates] == [1, 2, 3]
    top = small_result.candidates[0]
    # 3 names per group: no p-value falls below 0.1, so nothing is a finding and the summary says so first
    assert small_result.summary[0].startswith("No finding")
    assert any("fewer than 10 names per group" in s for s in small_result.summary)
    # 3 names per group: the smallest p is 2/20, so the design's floor is said (issue 22)
    assert any(s.startswith("With 3 names per group and 3 candidates") for s in small_result.summary)
    rest = " ".join(s for s in small_result.summary if s.startswith(("No evidence:", "Likely, add values:")))
    assert "\u2018" + top["text"].strip() + "\u2019" in rest
    assert not any("times the probability" in s for s in small_result.summary)  # no ratio stated as a finding


def test_result_round_trips_through_json_and_the_store(small_result, tmp_path) -> None:
    doc = json.loads(small_result.to_json())
    again = BiasResult.from_dict(doc)
    assert again.to_dict() == doc
    assert again.kind == "bias"
    for key in ("forward_passes", "seconds", "model_name", "model_revision"):
        assert key in doc["meta"]
    assert doc["meta"]["forward_passes"] == 6 * 3
    from core.runs.saved import save_run
    from core.store import RunRepository

    repo = RunRepository(f"sqlite:///{tmp_path / 'runs.db'}")
    run_id = save_run(repo, small_result.spec, doc, title="bias test")
    record = repo.get_run(run_id)
    assert record.kind == "bias" and record.result == doc


def test_engine_dispatches_bias_and_passes_progress_and_cancellation(lm) -> None:
    seen: list[tuple[int, int]] = []
    result = engine_run(
        small(candidates=[" nurse", " teacher"]), progress=lambda d, t: seen.append((d, t)), lm=lm
    )
    assert result.kind == "bias"
    assert seen and seen[-1][0] == seen[-1][1] == 12
    with pytest.raises(Cancelled):
        engine_run(small(), should_stop=lambda: True, lm=lm)


def test_shapley_shares_of_the_gap_add_up_to_the_gap(lm) -> None:
    """Counterfactual baselines: with every other-group value swapped in, Shapley is efficient."""
    doc = small(
        template="{name} said that {pronoun} is a",
        candidates=[" nurse", " doctor"],
        attribution={"method": "shapley", "trials": 10, "prompts": 6},
    )
    result = run_bias(doc, lm=lm)
    assert result.attribution["features"] == ["name", "pronoun"]
    assert sorted(result.attribution["prompts"]) == list(range(6))
    for entry in result.candidates:
        attr = entry["attribution"]
        assert sum(attr["gap"]) == pytest.approx(entry["gap"], abs=1e-6)
        assert sum(attr["female"]) == pytest.approx(entry["gap"], abs=1e-6)
        assert sum(attr["male"]) == pytest.approx(-entry["gap"], abs=1e-6)


# ---------------------------------------------------------------- presets and lists


def test_presets_parse_and_the_example_is_the_gender_preset() -> None:
    presets = bias_presets()
    assert {"gender_occupation", "region_adjectives"} <= set(presets)
    for doc in presets.values():
        spec = parse_bias_spec(doc)
        assert all(len(v) >= 10 for v in spec.groups.values())
    gender = parse_bias_spec(presets["gender_occupation"])
    assert [len(v) for v in gender.groups.values()] == [20, 20] and len(gender.candidates) == 8
    example = json.loads((ROOT / "examples" / "bias_gender_occupation.json").read_text())
    assert example == presets["gender_occupation"]
    readme = (DATA_DIR / "README.md").read_text()
    for path in DATA_DIR.glob("*.csv"):
        assert path.name in readme


def test_user_csv_becomes_a_sweep() -> None:
    sweep = sweep_from_csv("group,name,pronoun\nf,Mary,She\nf,Ann,She\nm,John,He\nm,Tom,He\n")
    assert sweep == {
        "slots": ["name", "pronoun"],
        "groups": {"f": [["Mary", "She"], ["Ann", "She"]], "m": [["John", "He"], ["Tom", "He"]]},
    }
    one = sweep_from_csv("group,value\na,x\na,y\nb,z\nb,w\n", slots=["country"])
    assert one["slots"] == ["country"] and one["groups"]["b"] == ["z", "w"]


# ---------------------------------------------------------------- bad inputs


def _error(doc: dict) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_bias_spec(doc)
    return info.value


def test_a_group_with_one_value_is_refused() -> None:
    doc = small()
    doc["sweep"]["groups"]["male"] = [["John", "He"]]
    err = _error(doc)
    assert err.field == "sweep.groups.male" and "at least two" in str(err)


def test_an_empty_candidate_list_is_refused() -> None:
    err = _error(small(candidates=[]))
    assert err.field == "candidates" and "empty" in str(err)


def test_a_slot_not_in_the_template_is_refused() -> None:
    doc = small()
    doc["sweep"]["slots"] = ["name", "pronom"]
    err = _error(doc)
    assert err.field == "sweep.slots" and "{pronom}" in str(err) and "name, pronoun" in str(err)
    err = _error(small(values={"city": "Paris"}))
    assert err.field == "values.city"


def test_duplicate_values_and_candidates_are_refused() -> None:
    doc = small()
    doc["sweep"]["groups"]["male"].append(["Mary", "She"])
    err = _error(doc)
    assert "also in the group 'female'" in str(err)
    doc = small()
    doc["sweep"]["groups"]["female"].append(["Linda", "She"])
    assert "twice in this group" in str(_error(doc))
    assert "listed twice" in str(_error(small(candidates=[" nurse", " nurse"])))


def test_other_bad_specs_are_sentences() -> None:
    assert _error(small(template="No slots here.")).field == "template"
    doc = small()
    doc["sweep"]["groups"]["female"][0] = ["Mary"]
    assert "one per swept slot" in str(_error(doc))
    assert _error(small(compare=["female", "other"])).field == "compare"
    assert _error(small(score="prob")).field == "score"
    assert _error(small(bootstrap=5)).field == "bootstrap"
    assert _error(small(attribution={"method": "integrated_gradients"})).field == "attribution.method"


@pytest.mark.parametrize(
    "text",
    [
        "name,pronoun\nMary,She\nJohn,He\n",  # no group column
        "group\nf\nm\n",  # no value column
        "group,name,pronoun\nf,Mary\n",  # short row
        "group,name,pronoun\nf,Mary,She\nf,Ann,She\n",  # one group
        "",
    ],
)
def test_a_csv_with_the_wrong_columns_is_refused(text: str) -> None:
    with pytest.raises(SpecError) as info:
        sweep_from_csv(text)
    assert info.value.field == "csv"


def test_csv_columns_must_match_the_swept_slots() -> None:
    with pytest.raises(SpecError, match="this template sweeps name, pronoun"):
        sweep_from_csv("group,first_name,pronoun\nf,Mary,She\nm,John,He\n", slots=["name", "pronoun"])


# ---------------------------------------------------------------- the candidates' place in the template


MIDDLE = "{name} has worked in the same job for ten years. {pronoun} works as a {candidate} at the hospital."


def test_a_candidate_placed_mid_template_is_scored_with_the_text_after_it(lm) -> None:
    """``{candidate}`` in the template: each prompt is the text before it, and the text after it is scored after
    each candidate: the numbers of a direct forward over prompt + candidate + the rest."""
    spec = parse_bias_spec(small(template=MIDDLE, candidates=[" nurse", " carpenter"]))
    assert spec.slots == ["name", "pronoun"]
    assert spec.scored_candidates() == [" nurse at the hospital.", " carpenter at the hospital."]
    assert parse_bias_spec(spec.raw).raw == spec.raw  # the document keeps {candidate}: parsing it again changes nothing
    assert spec.raw["template"] == MIDDLE
    result = run_bias(spec.raw, lm=lm)
    prefix = MIDDLE.split("{candidate}")[0]
    for cand in (" nurse", " carpenter"):
        entry = result.candidate(cand)
        for group, entries in SMALL["sweep"]["groups"].items():
            direct = [direct_log_prob(lm, prefix.format(name=n, pronoun=p), cand + " at the hospital.") for n, p in entries]
            assert entry["groups"][group]["mean"] == pytest.approx(np.mean(direct), abs=1e-4)
    # the text after {candidate} counts: the gaps differ from the candidates scored alone after the same prompt
    alone = run_bias(small(template=prefix.rstrip(), candidates=[" nurse", " carpenter"]), lm=lm)
    assert result.candidate(" nurse")["gap"] != pytest.approx(alone.candidate(" nurse")["gap"], abs=1e-3)


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{name} is a {candidate} and {candidate}.", "more than once"),
        ("{name} is a {candidate}, says {pronoun}.", "the slot {pronoun} comes after {candidate}"),
        ("{candidate} is {name}'s job. {pronoun}", "the slot {name} comes after {candidate}"),
    ],
)
def test_a_misplaced_candidate_mark_is_refused_with_a_sentence(template: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_bias_spec(small(template=template))
    assert info.value.field == "template"
    assert words in info.value.sentence
