"""Issue 23, points 6 and 12: the allowlist pins a model's name, server and revision; refusals say which.

A crafted saved run can name any hub revision (``refs/pr/666``: anyone can push
one). On a team server "Run again" runs the offered revision instead and says
so; a model or server not offered is refused by its name and its server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import streamlit as st

from core.models.catalog import ModelChoice, allowed_request, parse_models
from core.models.request import ModelRequest
from ui.shared import model as common

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
COMMIT = "7ae557604adf67be50417f59c2c2f167def9a775"


@pytest.fixture()
def pinned(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No model pinned before or after; the bare session state (no page) is enough for ``pin_model``."""
    monkeypatch.delenv("WHYLM_ANY_MODEL", raising=False)
    st.session_state.pop(common.PINNED_KEY, None)
    yield
    st.session_state.pop(common.PINNED_KEY, None)


def test_an_entry_pins_its_revision() -> None:
    [entry] = parse_models(f"Qwen=Qwen/Qwen2.5-0.5B-Instruct#{COMMIT}")
    assert entry == ModelChoice("Qwen", QWEN, None, COMMIT)
    assert entry.document() == {"name": QWEN, "revision": COMMIT}
    [served] = parse_models(f"Big=org/big#{COMMIT}@http://vllm:8000/v1")
    assert (served.source, served.revision, served.endpoint) == ("org/big", COMMIT, "http://vllm:8000/v1")


def test_a_saved_run_at_another_revision_runs_at_the_offered_one(monkeypatch, pinned) -> None:
    monkeypatch.setenv("WHYLM_MODELS", f"Qwen={QWEN}#{COMMIT}")
    said = common.pin_model({"name": QWEN, "revision": "refs/pr/666"})
    assert st.session_state[common.PINNED_KEY] == {"name": QWEN, "revision": COMMIT}
    assert "refs/pr/666" in said and COMMIT in said and "runs on that" in said
    assert common.pin_model({"name": QWEN}, recorded_revision=COMMIT) is None  # the offered revision: as saved


def test_without_a_pinned_revision_no_saved_revision_is_fetched(monkeypatch, pinned) -> None:
    monkeypatch.setenv("WHYLM_MODELS", QWEN)
    crafted = "0" * 40  # a commit the saved run claims (a pull request's, say)
    said = common.pin_model({"name": QWEN}, recorded_revision=crafted)
    assert st.session_state[common.PINNED_KEY] == QWEN and crafted in said
    request, _ = allowed_request(ModelRequest(QWEN, revision="refs/pr/666"))
    assert request == ModelRequest(QWEN)


def test_any_model_mode_runs_the_revision_asked(monkeypatch, pinned) -> None:
    monkeypatch.setenv("WHYLM_ANY_MODEL", "1")
    assert common.pin_model({"name": QWEN, "revision": "v2"}) is None
    assert st.session_state[common.PINNED_KEY] == {"name": QWEN, "revision": "v2"}


def test_a_crafted_endpoint_is_refused_by_its_server_not_as_default(pinned) -> None:
    said = common.pin_model({"name": "default", "endpoint": "http://127.0.0.1:9/v1"})
    assert "'default' at http://127.0.0.1:9/v1 is not one of the models" in said
    assert common.PINNED_KEY not in st.session_state
