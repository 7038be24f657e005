"""CUDA path check, run on a machine with a GPU (not part of the test suite).

The bundled model (98 MB GGUF, 540 MB converted) is too large to carry to the
lent GPU machine, so this check uses a small random Llama with the bundled
model's real tokenizer, saved as an ordinary model folder:

    python bench/cuda_check.py make FOLDER     # here: write the folder
    python bench/cuda_check.py check FOLDER    # on the GPU machine

``check`` loads the folder through ``core.models.loading.load_model`` on CUDA and on
the CPU, then runs the same specs on both devices and compares: the batched
scorer against a plain forward, exact Shapley (with the shared-prefix cache in
chat mode), Kernel SHAP, and the gradient methods. It prints one line per check
and exits non-zero if any check fails.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make(folder: Path) -> None:
    """A small random Llama with the bundled tokenizer, saved with save_pretrained."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from core.models.loading import bundled_cache_folder, load_model

    load_model("default", device="cpu")
    cached = bundled_cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (cached / name).exists():
            shutil.copy(cached / name, folder / name)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder)
    print(f"wrote {folder} ({sum(f.stat().st_size for f in folder.iterdir()) / 2**20:.1f} MiB)")


def make_full(folder: Path, small: Path) -> None:
    """SmolLM2-135M's architecture (its config) with random weights, built where it runs.

    The real weights are too large to carry to the GPU machine; timings and
    agreement with Captum depend on the architecture, not on the weights.
    """
    import json

    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (small / name).exists():
            shutil.copy(small / name, folder / name)
    cfg = json.loads((small / "full_config.json").read_text())
    cfg.pop("quantization_config", None)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version")}))
    model.save_pretrained(folder)
    print(f"wrote {folder}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, random weights")


SPECS = {
    "shapley": {
        "prompt": {"template": "{} lives in {}, {} and is a {}. {} personal interests include",
                   "values": ["Dave", "Palm Coast", "FL", "lawyer", "His"]},
        "target": {"text": " playing golf, hiking, and cooking."},
        "method": {"name": "shapley"},
    },
    "chat_kernel_shap": {
        "prompt": {"text": "Dave lives in Palm Coast. He is a lawyer. What does he like?", "granularity": "word"},
        "chat": True,
        "target": {"text": "He likes golf.", "contrast": "He likes chess."},
        "method": {"name": "kernel_shap", "n_samples": 64},
        "seed": 1,
    },
    "integrated_gradients": {
        "prompt": {"text": "The capital of France is", "granularity": "word"},
        "target": {"text": " Paris, a big city."},
        "method": {"name": "integrated_gradients", "steps": 32},
    },
    "gradient_shap": {
        "prompt": {"text": "The capital of France is", "granularity": "word"},
        "target": {"text": " Paris"},
        "method": {"name": "gradient_shap", "n_samples": 8, "stdev": 0.01},
        "seed": 3,
    },
}


def check(folder: Path) -> int:
    """Run the same specs on CUDA and CPU; compare."""
    from core.attribution.scorer import BatchedScorer
    from core.engine import run
    from core.models.loading import load_model

    print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
    if not torch.cuda.is_available():
        print("FAIL: no CUDA device")
        return 1
    print(f"device: {torch.cuda.get_device_name(0)}")
    gpu = load_model(str(folder))
    cpu = load_model(str(folder), device="cpu")
    failures = 0

    def report(name: str, ok: bool, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    report("default device", gpu.device.type == "cuda", str(gpu.device))
    tok = gpu.tokenizer
    rng = np.random.default_rng(0)
    base = tok("Dave lives in Palm Coast, FL and is a lawyer. His personal interests include")["input_ids"]
    rows = []
    for _ in range(200):
        cut = int(rng.integers(1, len(base)))
        rows.append((base[:cut] + rng.integers(3, 49000, size=int(rng.integers(1, 8))).tolist(),
                     rng.integers(3, 49000, size=int(rng.integers(1, 6))).tolist()))
    scorer = BatchedScorer(gpu)
    scorer.call_cost_tokens = 1
    start = time.perf_counter()
    got = scorer.log_probs(rows)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    worst = 0.0
    with torch.no_grad():
        for (p, t), g in zip(rows, got):
            logits = gpu.model(torch.tensor([p + t], device="cuda")).logits[0].float()
            lp = torch.log_softmax(logits, -1)
            ref = np.array([lp[len(p) - 1 + j, x].item() for j, x in enumerate(t)])
            worst = max(worst, float(np.abs(ref - g).max()))
    report("scorer vs plain forward on cuda", worst < 1e-3,
           f"max |diff| {worst:.2e}, 200 rows in {elapsed:.3f} s, {scorer.model_calls} model calls")
    for name, spec in SPECS.items():
        try:
            a = run(dict(spec, model=str(folder)), lm=gpu)
            b = run(dict(spec, model=str(folder)), lm=cpu)
        except Exception as exc:  # noqa: BLE001
            report(name, False, f"{type(exc).__name__}: {exc}")
            continue
        diff = float(np.abs(np.array(a.seq_attr) - np.array(b.seq_attr)).max())
        scale = float(np.abs(np.array(b.seq_attr)).max()) or 1.0
        tok_diff = float(np.abs(np.array(a.token_attr) - np.array(b.token_attr)).max())
        ok = diff <= 1e-3 * max(scale, 1.0) and tok_diff <= 1e-3 * max(scale, 1.0)
        report(name, ok, f"cuda vs cpu max |diff| seq {diff:.2e} token {tok_diff:.2e} (scale {scale:.3f}); "
               f"cuda {a.meta['seconds']:.3f} s, cpu {b.meta['seconds']:.3f} s, device {a.meta['device']}")
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "make-full":
        sys.exit(make_full(folder, Path(sys.argv[3])))
    sys.exit(make(folder) if command == "make" else check(folder))
