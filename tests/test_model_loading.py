"""Loading the bundled model, its on-disk cache, and clear sentences for bad names."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from core.errors import ModelLoadError
from core.models.loading import bundled_cache_folder, load_model


def test_bundled_model_is_a_real_instruction_model(lm):
    assert lm.n_parameters > 100_000_000
    assert lm.tokenizer.chat_template
    assert (bundled_cache_folder() / "model.safetensors").is_file()
    assert lm.device.type in ("cpu", "cuda")


def test_second_load_from_cache_is_fast(lm):
    code = (
        "import time; t = time.perf_counter();"
        "from core.models.loading import load_model; load_model('default');"
        "print(time.perf_counter() - t)"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    load_seconds = float(out.stdout.strip().splitlines()[-1])
    # loading (imports of torch/transformers included) from the safetensors cache
    assert load_seconds < 10, (load_seconds, time.perf_counter() - start)


def test_missing_folder_or_name(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load_model(str(tmp_path / "nope" / "deeper" / "x y"))
    assert "model" in str(err.value)


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelLoadError) as err:
        load_model(str(tmp_path))
    assert "no model weights" in str(err.value)


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
