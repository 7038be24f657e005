"""Issue 15, defect 9: the models a shared server may load, and no hub connection unless allowed.

The sidebar offers the bundled model and ``WHYLM_MODELS`` by name; any other
name is refused before the server looks at it. A hub id is fetched only with
``WHYLM_ALLOW_HUB=1``; otherwise nothing connects out.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import ModelLoadError, WhyLMError
from core.models.catalog import BUNDLED_LABEL, ModelChoice, offered_models, parse_models
from core.models.loading import load_model
from tests.attribution.test_hostile_inputs import readable
from tests.page_support import APP, no_exception
from ui.shared.model import MODEL_CHOICE_KEY, MODEL_NAME_KEY, OTHER_CHOICE

TIMEOUT = 120


# ---------------------------------------------------------------- WHYLM_MODELS


def test_models_setting_is_read_by_name() -> None:
    assert parse_models(" Team Llama=/models/llama-1b, Qwen/Qwen2.5-0.5B-Instruct ,,") == [
        ModelChoice("Team Llama", "/models/llama-1b"),
        ModelChoice("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"),
    ]
    offered, problem = offered_models({"WHYLM_MODELS": "Tiny=/m/tiny"})
    assert problem is None and [m.label for m in offered] == [BUNDLED_LABEL, "Tiny"]
    assert offered[0].source == "default"


@pytest.mark.parametrize(
    ("text", "words"),
    [("=/m/x", "has no name"), ("Tiny=", "no folder or model id"), ("A=/m/a, A=/m/b", "used twice")],
)
def test_a_wrong_models_setting_is_a_sentence(text: str, words: str) -> None:
    with pytest.raises(WhyLMError, match=words):
        parse_models(text)
    offered, problem = offered_models({"WHYLM_MODELS": text})
    assert [m.label for m in offered] == [BUNDLED_LABEL] and problem and problem.startswith("WHYLM_MODELS:")


# ---------------------------------------------------------------- no connection to the hub


@pytest.fixture()
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every attempt to resolve a host name or open a connection, refused and recorded."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("the test allows no network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_an_unknown_hub_id_makes_no_connection(monkeypatch, connections) -> None:
    monkeypatch.delenv("WHYLM_ALLOW_HUB", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(ModelLoadError) as info:
        load_model("whylm-test-owner/no-such-model")
    assert connections == []
    assert "WHYLM_ALLOW_HUB=1" in str(info.value)


@pytest.mark.parametrize(("allow", "local_only"), [("1", False), ("", True)])
def test_hub_downloads_follow_the_setting(monkeypatch, allow: str, local_only: bool) -> None:
    import transformers

    calls: list[dict[str, Any]] = []

    def config(source: str, **kwargs: Any) -> Any:
        calls.append(kwargs)
        raise OSError("not found")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", config)
    monkeypatch.setenv("WHYLM_ALLOW_HUB", allow)
    with pytest.raises(ModelLoadError):
        load_model("whylm-test-owner/no-such-model")
    assert calls and calls[0].get("local_files_only") is local_only


# ---------------------------------------------------------------- the sidebar


def _app(session: dict[str, str]) -> AppTest:
    # AppTest (streamlit 1.67) drops the sidebar on reruns under st.navigation: state is set before the first run.
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def _sidebar_errors(at: AppTest) -> list[str]:
    return [readable(e.value) for e in at.sidebar.error]


def test_sidebar_offers_the_listed_models_by_name(data_dir, monkeypatch, loads, tmp_path: Path) -> None:
    folder = tmp_path / "team-model"
    monkeypatch.setenv("WHYLM_MODELS", f"Team model={folder}")
    monkeypatch.delenv("WHYLM_ANY_MODEL", raising=False)
    at = _app({MODEL_CHOICE_KEY: "Team model"})
    no_exception(at)
    assert at.sidebar.radio[0].options == [BUNDLED_LABEL, "Team model"]
    assert not at.sidebar.text_input, "no free-text model box on a team server"
    assert loads == [str(folder)]
    assert not _sidebar_errors(at)


@pytest.mark.parametrize(
    "session",
    [
        {MODEL_CHOICE_KEY: OTHER_CHOICE, MODEL_NAME_KEY: "/etc/shadow"},
        {MODEL_CHOICE_KEY: "/etc/shadow"},
    ],
)
def test_a_name_not_offered_is_refused_unseen(data_dir, monkeypatch, loads, session) -> None:
    monkeypatch.delenv("WHYLM_MODELS", raising=False)
    monkeypatch.delenv("WHYLM_ANY_MODEL", raising=False)
    at = _app(session)
    no_exception(at)
    errors = _sidebar_errors(at)
    assert any("'/etc/shadow' is not one of the models this server offers" in e for e in errors), errors
    assert not any("is a file" in e for e in errors)
    assert "/etc/shadow" not in loads and loads == ["default"]  # the bundled model is used instead
    assert at.sidebar.radio[0].options == [BUNDLED_LABEL]


def test_any_model_only_when_the_server_allows_it(data_dir, monkeypatch, loads, tmp_path: Path) -> None:
    monkeypatch.setenv("WHYLM_ANY_MODEL", "1")
    folder = str(tmp_path / "my-model")
    at = _app({MODEL_CHOICE_KEY: OTHER_CHOICE, MODEL_NAME_KEY: folder})
    no_exception(at)
    assert OTHER_CHOICE in at.sidebar.radio[0].options
    assert loads == [folder]


def test_a_wrong_models_setting_is_shown_in_the_sidebar(data_dir, monkeypatch, loads) -> None:
    monkeypatch.setenv("WHYLM_MODELS", "Tiny=")
    at = _app({})
    no_exception(at)
    assert any(e.startswith("WHYLM_MODELS: the entry 'Tiny=' has no folder") for e in _sidebar_errors(at))
    assert at.sidebar.radio[0].options == [BUNDLED_LABEL]
