"""Issue 15, defect 8: messages that leak or mislead, and `runs show 1 | head -3`.

Each test feeds the input the issue names and checks the sentence people read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.attribution.features import layout_from_template, parse_template
from core.attribution.spec import parse_spec
from core.errors import ModelLoadError, SpecError
from core.models.loading import load_model
from core.probes.bias.data import sweep_from_csv
from core.probes.bias.spec import parse_bias_spec
from core.store import RunRepository
from core.store.database import dispose_engines
from core.text import counted, first_line
from tests.attribution.test_hostile_inputs import readable
from tests.page_support import ROOT, main_errors, no_exception, open_page
from ui.shared.markdown import WORD_JOINER, escape_markdown


def _tiny_llama_config() -> dict:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
    ).to_dict()


# ---------------------------------------------------------------- model folders


def test_a_file_and_a_missing_path_get_the_same_sentence(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:x:0:0\n")
    messages = []
    for name in (str(secret), str(tmp_path / "no-such-file")):
        with pytest.raises(ModelLoadError) as info:
            load_model(name)
        messages.append(str(info.value).replace(name, "NAME"))
    assert messages[0] == messages[1], "the sentence tells whether the path exists"
    assert "is a file" not in messages[0] and "root:x" not in messages[0]


def test_a_folder_with_custom_code_is_called_so(tmp_path: Path) -> None:
    config = {"model_type": "whylm_own", "architectures": ["OwnForCausalLM"],
              "auto_map": {"AutoConfig": "configuration_own.OwnConfig",
                           "AutoModelForCausalLM": "modeling_own.OwnForCausalLM"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(b"\0")
    with pytest.raises(ModelLoadError) as info:
        load_model(str(tmp_path))
    message = str(info.value)
    assert "not a folder on this machine" not in message
    assert "its own Python code" in message and "never runs" in message


def test_torch_colour_codes_never_reach_the_message(tmp_path: Path) -> None:
    """A .bin checkpoint holding an object torch refuses: torch's message carries ESC[1m ... ESC[0m."""
    import argparse

    import torch

    (tmp_path / "config.json").write_text(json.dumps(_tiny_llama_config()))
    torch.save({"model.embed_tokens.weight": torch.zeros(64, 16), "x": argparse.Namespace(a=1)},
               tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError) as info:
        load_model(str(tmp_path))
    message = str(info.value)
    assert "Weights only load failed" in message, message  # torch's own sentence, the one with the codes
    assert "\x1b" not in message and "[1m" not in message


def test_first_line_drops_terminal_codes() -> None:
    exc = RuntimeError("Load failed, \x1b[1mdo this only if you trust it\x1b[0m.\nmore")
    assert first_line(exc) == "Load failed, do this only if you trust it."


# ---------------------------------------------------------------- spec sentences


def test_unbalanced_braces_say_two_braces_not_four() -> None:
    with pytest.raises(SpecError) as info:
        parse_template("Hello {name")
    message = str(info.value)
    assert "{{ or }}" in message and "{{{{" not in message and "}}}}" not in message


def test_a_number_as_target_text_is_not_called_empty() -> None:
    doc = {"kind": "attribution", "model": "default", "prompt": {"text": "Hi there", "granularity": "word"},
           "target": {"text": 42}, "method": {"name": "feature_ablation"}}
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    assert info.value.field == "target.text"
    assert "empty" not in str(info.value) and "text in quotes" in str(info.value)


def test_counts_agree_with_their_nouns() -> None:
    assert [counted(n, "slot") for n in (0, 1, 2)] == ["0 slots", "1 slot", "2 slots"]
    with pytest.raises(SpecError) as info:
        layout_from_template("{} and", ["a", "b"])
    assert "2 entries given but the template has 1 slot;" in str(info.value)
    spec = {"kind": "bias", "template": "{name} works as a", "sweep": {"slots": ["name"],
            "groups": {"a": [], "b": ["Ann", "Bo"]}}, "candidates": [" nurse", " pilot"]}
    with pytest.raises(SpecError) as info:
        parse_bias_spec(spec)
    assert "has 0 values;" in str(info.value) and "0 value;" not in str(info.value)
    spec["sweep"]["groups"]["a"] = ["Cy"]
    with pytest.raises(SpecError) as info:
        parse_bias_spec(spec)
    assert "has 1 value;" in str(info.value)
    with pytest.raises(SpecError) as info:
        sweep_from_csv("group,name,pronoun\nf\nm,Bo,He\n")
    assert "line 2 has 1 cell but" in str(info.value)


# ---------------------------------------------------------------- emoji codes in error boxes


def test_escaped_text_keeps_emoji_codes_as_text() -> None:
    escaped = escape_markdown("label :x: and :material/home: and :-1:")
    assert ":x:" not in escaped.replace("\\", "")  # Streamlit's emoji pass sees no ":x:" ...
    assert escaped.replace("\\", "").replace(WORD_JOINER, "") == "label :x: and :material/home: and :-1:"
    assert escape_markdown("Row 2: fine") == "Row 2\\: fine"  # a colon before a space is left alone


def _few_shot_label_error() -> None:
    import streamlit as st

    from ui.shared.page_parts import list_message

    st.session_state["t_error"] = "Examples, row 1: ':x:' is not in the label set (a, b)."
    list_message("t_error", "t_note")


def test_an_error_box_shows_emoji_codes_as_typed() -> None:
    at = AppTest.from_function(_few_shot_label_error, default_timeout=30).run()
    assert not at.exception
    shown = at.error[0].value
    assert ":x:" not in shown.replace("\\", "")
    assert shown.replace("\\", "").replace(WORD_JOINER, "") == "Examples, row 1: ':x:' is not in the label set (a, b)."


# ---------------------------------------------------------------- runs show | head


def test_runs_show_into_head_exits_quietly(tmp_path: Path) -> None:
    """The reader stops after three lines of a long run (longer than the pipe's buffer)."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    repo = RunRepository(url)
    spec = {"model": "default", "prompt": {"text": "word " * 40_000}, "method": {"name": "lime"}}
    run_id = repo.save_run("attribution", "long", spec, {"x": 1})
    dispose_engines()
    env = {**os.environ, "WHYLM_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "runs", "show", str(run_id)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()
    code = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert lines[0].startswith(b"Run 1: long")
    assert err == "", err
    assert code == 0


class _ClosedPipe:
    """A stdout whose reader has gone away: every write and flush raises BrokenPipeError."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise ValueError("no file descriptor")


@pytest.mark.parametrize("command", ["methods", "run"])
def test_run_and_methods_into_a_closed_pipe_exit_quietly(
    command: str, lm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`python -m core run spec.json | head` ends with status 0 and no error, as `runs show` does."""
    from core.__main__ import main as cli_main

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"prompt": {"text": "Dave lives in Palm Coast."}, "target": {"text": " He"}}))
    argv = ["methods"] if command == "methods" else ["run", str(spec), "--quiet"]
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert cli_main(argv) == 0
    assert capsys.readouterr().err == ""


def test_a_run_check_shows_emoji_codes_as_typed(data_dir) -> None:
    """The sentence Run shows (here: a label outside the label set) keeps ":x:" as text."""
    at = open_page("pages/few_shot.py", 120)
    at.text_area(key="fs_ex_paste").input("input,label\nA warm film.,:x:\n").run()
    at.button(key="fs_ex_paste_apply").click().run()
    at.button(key="fs_run").click().run()
    no_exception(at)
    errors = main_errors(at)
    assert any("':x:' is not in the label set" in readable(e) for e in errors), errors
    assert not any(":x:" in e.replace("\\", "") for e in errors), errors
