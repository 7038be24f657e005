"""Loading the bundled model, its on-disk cache, and clear sentences for bad names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ModelLoadError
from core.models.loading import bundled_cache_folder, load_model

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_model_is_a_real_instruction_model(lm):
    assert lm.n_parameters > 100_000_000
    assert lm.tokenizer.chat_template
    assert (bundled_cache_folder() / "model.safetensors").is_file()
    assert lm.device.type in ("cpu", "cuda")


@pytest.mark.slow
def test_a_second_load_reads_the_cache_not_the_gguf(lm):
    """Once converted, the bundled model loads from its safetensors cache: a fresh process that cannot
    convert the GGUF (conversion made to fail) still loads it, to the same weights. (How long that takes is
    measured by bench/bench_startup.py, not timed here.)"""
    assert (bundled_cache_folder() / "model.safetensors").is_file()
    code = (
        "import core.models.loading as l\n"
        "def refuse(target): raise SystemExit('the GGUF was converted again')\n"
        "l._convert_bundled = refuse\n"
        "lm = l.load_model('default')\n"
        "print(float(next(lm.model.parameters()).double().sum()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    first = float(next(lm.model.parameters()).double().sum())
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(first, rel=1e-12)


def test_missing_folder_or_name(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load_model(str(tmp_path / "nope" / "deeper" / "x y"))
    assert "model" in str(err.value)


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelLoadError) as err:
        load_model(str(tmp_path))
    assert "config.json and weights" in str(err.value)  # worded as a missing folder (issue 23, point 12)


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load_model(str(tmp_path))
    assert "config.json" in str(err.value)


def test_not_a_causal_lm(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError) as err:
        load_model(str(tmp_path))
    assert "not a causal" in str(err.value)


def test_unknown_hub_name_is_a_sentence(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load_model("no-such-owner/no-such-model-whylm")
    assert "Could not find a model" in str(err.value)
