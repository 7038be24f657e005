"""Templates, segmentation, baselines, groups, chat wrapping and token coverage."""

from __future__ import annotations

import numpy as np
import pytest

from core.attribution.features import (
    apply_chat,
    layout_from_template,
    layout_from_text,
    parse_template,
    prompt_tokens_and_coverage,
)
from core.errors import SpecError

TUTORIAL = "{} lives in {}, {} and is a {}. {} personal interests include"
VALUES = ["Dave", "Palm Coast", "FL", "lawyer", "His"]


def test_positional_template_renders_like_str_format():
    layout = layout_from_template(TUTORIAL, VALUES)
    assert layout.labels == VALUES
    assert layout.render([True] * 5, {}) == TUTORIAL.format(*VALUES)
    baselines = layout.fixed_baselines()
    assert layout.render([False, True, True, True, False], baselines) == TUTORIAL.format(
        "", "Palm Coast", "FL", "lawyer", ""
    )


def test_named_slots_with_replacement_and_repeated_slot():
    layout = layout_from_template(
        "{name} met {friend}. {name} smiled.", {"name": "Ann", "friend": "Bo"}, {"name": "Cy"}
    )
    assert layout.labels == ["name", "friend"]
    assert layout.render([False, True], layout.fixed_baselines()) == "Cy met Bo. Cy smiled."


def test_literal_braces_are_kept():
    layout = layout_from_template("{{json}} {x}", {"x": "y"})
    assert layout.render([True], {}) == "{json} y"


def test_groups_share_one_feature_and_perturb_together():
    layout = layout_from_template(
        TUTORIAL, VALUES, ["Sarah", "", "", "", "Her"], groups={"person": ["0", "4"]}
    )
    assert layout.labels == ["person", "Palm Coast", "FL", "lawyer"]
    text = layout.render([False, True, True, True], layout.fixed_baselines())
    assert text.startswith("Sarah lives") and "Her personal" in text


def test_paired_alternatives_are_sampled_together():
    layout = layout_from_template(
        "{name} said {pronoun} was late.",
        {"name": "Dave", "pronoun": "he"},
        {"name": ["Sarah", "Tom", "Ana"], "pronoun": ["she", "he", "she"]},
        paired=[["name", "pronoun"]],
    )
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        b = layout.sample_baselines(rng)
        seen.add((b["name"], b["pronoun"]))
    assert seen <= {("Sarah", "she"), ("Tom", "he"), ("Ana", "she")}
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("template", "values", "field"),
    [
        ("{name lives", {"name": "x"}, "prompt.template"),
        ("name} lives", {"name": "x"}, "prompt.template"),
        ("{name} lives", {}, "prompt.values.name"),
        ("   ", {}, "prompt.template"),
        ("no slots here", {}, "prompt.template"),
        ("{a:>10}", {"a": "x"}, "prompt.template"),
        ("{} and {0}", ["a", "b"], "prompt.template"),
    ],
)
def test_bad_templates_name_the_field(template, values, field):
    with pytest.raises(SpecError) as err:
        layout_from_template(template, values)
    assert err.value.field == field
    assert str(err.value).endswith(".")


def test_baseline_for_unknown_slot_is_refused():
    with pytest.raises(SpecError) as err:
        layout_from_template("{a} b", {"a": "x"}, {"zz": "y"})
    assert err.value.field == "prompt.baselines.zz"
    assert "no slot" in str(err.value)


def test_group_with_unknown_slot_is_refused():
    with pytest.raises(SpecError) as err:
        layout_from_template("{a} {b}", {"a": "x", "b": "y"}, groups={"g": ["a", "c"]})
    assert err.value.field == "prompt.groups.g"


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [
        ("word", ["Hello", ",", "world", "!", "How", "are", "you", "?", "Fine", "thanks", "."]),
        ("sentence", ["Hello, world!", "How are you?", "Fine thanks."]),
        ("line", ["Hello, world! How are you?", "Fine thanks."]),
        ("paragraph", ["Hello, world! How are you?\nFine thanks."]),
    ],
)
def test_segmentation(granularity, expected):
    text = "Hello, world! How are you?\nFine thanks."
    layout = layout_from_text(text, granularity)
    assert [f.label for f in layout.features] == expected
    assert layout.render([True] * len(expected), {}) == text


def test_paragraphs_split_on_blank_lines_and_removal_drops_leading_space():
    text = "First para.\n\nSecond para here.\n\nThird."
    layout = layout_from_text(text, "paragraph")
    assert layout.labels == ["First para.", "Second para here.", "Third."]
    assert layout.render([True, False, True], layout.fixed_baselines()) == "First para.\n\nThird."
    words = layout_from_text("Dave lives here", "word", baseline="Bob")
    assert words.render([False, True, True], words.fixed_baselines()) == "Bob lives here"
    assert words.render([True, False, True], {"s0": "", "s1": "", "s2": ""}) == "Dave here"


def test_token_segmentation_and_coverage(lm):
    layout = layout_from_text("Dave lives in Palm Coast", "token", lm.tokenizer)
    tokens, coverage, user = prompt_tokens_and_coverage(layout, lm.tokenizer)
    assert "".join(tokens) == "Dave lives in Palm Coast"
    assert coverage == [[i] for i in range(len(tokens))]
    assert user == list(range(len(tokens)))


def test_chat_mode_template_tokens_are_context(lm):
    layout = layout_from_template("{name} is a {job}.", {"name": "Ann", "job": "pilot"})
    apply_chat(layout, lm.tokenizer)
    tokens, coverage, user = prompt_tokens_and_coverage(layout, lm.tokenizer)
    full = layout.full_prompt(layout.render([True, True], {}))
    assert full.startswith(layout.chat_prefix) and "<|im_start|>user" in layout.chat_prefix
    assert "".join(tokens[i] for i in coverage[0]).strip() == "Ann"
    assert "".join(tokens[i] for i in coverage[1]).strip() == "pilot"
    # template tokens (system prompt, role markers) are never covered by a feature
    covered = {i for c in coverage for i in c}
    assert covered <= set(user)
    assert len(user) < len(tokens) - 5


def test_parse_template_reports_slot_order():
    parts, order = parse_template("{b} then {a} then {b}")
    assert order == ["b", "a"]
    assert sum(p.slot is not None for p in parts) == 3
