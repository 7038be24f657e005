"""The spec's model object (name, revision, dtype, device_map), on every kind and the command line,
and honest numbers in reduced precision on the bundled model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from core.__main__ import _with_model_options
from core.engine import run, validate
from core.errors import ModelLoadError, SpecError
from core.models.loading import load_model
from core.models.request import ModelRequest, parse_model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (ROOT / "examples").glob("*.json")}
TUTORIAL = {
    "prompt": {"template": "{} lives in {}, {} and is a {}. {} personal interests include",
               "values": ["Dave", "Palm Coast", "FL", "lawyer", "His"]},
    "target": {"text": " playing golf, hiking, and cooking."},
    "method": {"name": "feature_ablation"},
}


def test_a_name_stays_a_name_and_an_object_is_read_field_by_field() -> None:
    assert parse_model("default").document() == "default"
    assert parse_model({"name": "default"}).document() == "default"
    request = parse_model({"name": "org/model", "revision": " abc123 ", "dtype": "bfloat16", "device_map": "auto"})
    assert request == ModelRequest("org/model", "abc123", "bfloat16", "auto")
    assert request.document() == {"name": "org/model", "revision": "abc123", "dtype": "bfloat16", "device_map": "auto"}


@pytest.mark.parametrize(
    "value, field, words",
    [
        ({"name": "default", "dtype": "int8"}, "model.dtype", "choose one of float32, bfloat16, float16"),
        ({"name": "default", "device_map": "gpu0"}, "model.device_map", '"auto"'),
        ({"name": "default", "precision": "half"}, "model", "unknown model field precision"),
        ({"name": ""}, "model.name", "give a model name"),
        ({"name": "x", "revision": 3}, "model.revision", "commit, branch or tag"),
        (["default"], "model", "give a model name"),
    ],
)
def test_a_wrong_model_object_gets_a_sentence_naming_the_field(value, field: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_model(value)
    assert info.value.field == field and words in str(info.value)


@pytest.mark.parametrize("kind", ["attribution", "bias", "few_shot"])
def test_every_kind_takes_the_model_object(kind: str) -> None:
    doc = copy.deepcopy(
        TUTORIAL if kind == "attribution" else EXAMPLES["bias_gender_occupation" if kind == "bias" else "few_shot_sentiment"]
    )
    doc["model"] = {"name": "default", "dtype": "bfloat16"}
    assert validate(doc).model == {"name": "default", "dtype": "bfloat16"}
    doc["model"] = {"name": "default", "dtype": "half"}
    with pytest.raises(SpecError, match="choose one of"):
        validate(doc)


def test_the_command_line_options_go_into_the_specs_model() -> None:
    doc = {"model": {"name": "default", "revision": "r1"}, "prompt": {"text": "Hi"}}
    assert _with_model_options(doc, "float16", None)["model"] == {"name": "default", "revision": "r1", "dtype": "float16"}
    assert _with_model_options(doc, None, None) is doc
    assert _with_model_options({"prompt": {"text": "Hi"}}, None, "auto")["model"] == {"name": "default", "device_map": "auto"}


def test_a_revision_for_a_model_that_has_none_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="no revisions to pin"):
        load_model({"name": "default", "revision": "main"})


# Largest difference from float32, as a share of the largest attribution (measured: bfloat16 25%, float16 about 2%).
# bfloat16 keeps 8 bits of mantissa: on this small model it can swap features of similar size.
WITHIN = {"bfloat16": 0.5, "float16": 0.05}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", list(WITHIN))
def test_reduced_precision_attributions_are_measured_and_say_so(dtype: str, lm) -> None:
    """The tutorial with feature ablation in lower precision: the result says so; its numbers stay near float32's."""
    full = run(TUTORIAL, lm=lm)
    reduced = run({**TUTORIAL, "model": {"name": "default", "dtype": dtype}})
    assert full.meta["model_dtype"] == "float32" and reduced.meta["model_dtype"] == dtype
    assert "reduced precision" in reduced.meta["model_name"] and "reduced precision" not in full.meta["model_name"]
    a, b = np.array(full.seq_attr), np.array(reduced.seq_attr)
    gap = float(np.abs(a - b).max() / np.abs(a).max())
    print(f"\n{dtype} vs float32, tutorial feature ablation: largest difference {gap:.1%} of the largest attribution")
    assert 0 < gap < WITHIN[dtype], gap  # the lower precision is used (the numbers move), and they stay near
    if dtype == "float16":
        assert list(np.argsort(a)) == list(np.argsort(b))  # the same order of features


def test_the_sidebar_precision_starts_at_the_machines_default_and_loads_the_chosen_one(data_dir) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.page_support import APP, no_exception
    from ui.shared.model import MACHINE_DEFAULT, PRECISION_KEY

    at = AppTest.from_file(APP, default_timeout=180).run()
    no_exception(at)
    [box] = [b for b in at.sidebar.selectbox if b.key == PRECISION_KEY]
    assert box.value == MACHINE_DEFAULT  # a chosen value, not an empty box
    # AppTest drops the sidebar on reruns under st.navigation: the choice is set before the first run
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[PRECISION_KEY] = "float16"
    at.run()
    no_exception(at)
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "float16, reduced precision" in captions, captions
