"""Gradient attribution: parity with Captum, completeness, mechanics and bad inputs.

Captum (a test-only oracle) attributes one output token at a time with
``LLMGradientAttribution`` over ``TextTokenInput``; ours does one forward over
prompt + target per chunk of points. Prompts, targets and step counts are small
so the file stays fast on a CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from captum.attr import (
    LayerGradientXActivation,
    LayerIntegratedGradients,
    LLMGradientAttribution,
    TextTokenInput,
)
from captum.attr._utils.approximation_methods import approximation_parameters

from core.attribution.gradient import EmbeddingGradients
from core.attribution.gradient_rules import RULES, quadrature
from core.attribution.result import RunResult
from core.attribution.scorer import BatchedScorer
from core.engine import run
from core.errors import Cancelled, SpecError
from core.models.output_head import OutputHead

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Dave lives in Palm Coast. He likes"
TARGET = " golf and"


def _spec(method: dict, prompt: dict | None = None, target: dict | None = None, **kw) -> dict:
    spec = {
        "model": "default",
        "prompt": prompt or {"text": PROMPT, "granularity": "token"},
        "target": target or {"text": TARGET},
        "score": "log_prob",
        "method": method,
    }
    spec.update(kw)
    return spec


def _captum(lm, cls, baseline_id: int, **kwargs):
    attr_method = (
        cls(lm.model, lm.model.model.embed_tokens)
    )
    llm_attr = LLMGradientAttribution(attr_method, lm.tokenizer)
    inp = TextTokenInput(PROMPT, lm.tokenizer, baselines=baseline_id)
    res = llm_attr.attribute(inp, target=TARGET, **kwargs)
    return res.seq_attr.detach().numpy(), res.token_attr.detach().numpy()


def _assert_parity(result: RunResult, seq: np.ndarray, tok: np.ndarray) -> None:
    ours_tok, ours_seq = np.array(result.token_attr), np.array(result.seq_attr)
    assert ours_tok.shape == tok.shape
    scale = np.abs(tok).max()
    assert scale > 1e-3  # the attributions are not all zero: the test could fail
    np.testing.assert_allclose(ours_tok, tok, atol=1e-3 * scale, rtol=0)
    np.testing.assert_allclose(ours_seq, seq, atol=1e-3 * np.abs(seq).max(), rtol=0)


# ---------------------------------------------------------------- parity


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("steps", [2, 7, 16])
def test_quadrature_is_captums(rule, steps):
    step_sizes, alphas = approximation_parameters(rule)
    ours_alphas, ours_weights = quadrature(rule, steps)
    np.testing.assert_allclose(ours_alphas, alphas(steps), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours_weights, step_sizes(steps), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("rule", "baseline", "baseline_id"),
    [("gausslegendre", 0, 0), ("riemann_trapezoid", "pad", 2)],
)
@pytest.mark.slow
def test_integrated_gradients_match_captum(lm, rule, baseline, baseline_id):
    assert lm.tokenizer.pad_token_id == 2
    seq, tok = _captum(lm, LayerIntegratedGradients, baseline_id, n_steps=8, method=rule)
    result = run(
        _spec({"name": "integrated_gradients", "steps": 8, "rule": rule, "baseline": baseline}),
        lm=lm,
    )
    assert result.extra["baseline_token_id"] == baseline_id
    assert result.extra["steps"] == 8 and result.extra["rule"] == rule
    _assert_parity(result, seq, tok)
    # one forward over prompt + full target per chunk, not one per output token
    assert result.meta["model_calls"] < len(result.output_tokens) + 1


def test_input_x_gradient_matches_captum(lm):
    seq, tok = _captum(lm, LayerGradientXActivation, 0)
    result = run(_spec({"name": "input_x_gradient"}), lm=lm)
    _assert_parity(result, seq, tok)


# ---------------------------------------------------------------- properties


# The path from a baseline to the input is rugged for this model (the
# log-probability has sharp steps, checked against finite differences), most
# of all when the first token (the attention sink) moves: in non-chat mode
# every token moves. These cases converge within ~50 Gauss-Legendre steps.
@pytest.mark.parametrize(
    ("score", "chat", "target", "baseline", "steps"),
    [("log_prob", True, "Paris", "pad", 48), ("prob", False, " Paris", 216, 64)],
    ids=["log_prob-chat", "prob-plain"],
)
@pytest.mark.slow
def test_completeness_with_gauss_legendre(lm, score, chat, target, baseline, steps):
    method = {"name": "integrated_gradients", "steps": steps, "rule": "gausslegendre", "baseline": baseline}
    prompt = {"text": "The capital of France is", "granularity": "token"}
    result = run(_spec(method, prompt=prompt, target={"text": target}, score=score, chat=chat), lm=lm)
    gap = result.extra["completeness"]
    difference = result.score_all - result.score_none
    assert abs(difference) > 1e-3
    assert gap["sequence"]["difference"] == pytest.approx(difference)
    assert gap["sequence"]["gap"] == pytest.approx(sum(result.seq_attr) - difference)
    assert abs(sum(result.seq_attr) - difference) < 0.01 * abs(difference)
    assert gap["sequence"]["relative"] < 0.01
    tokens = np.array(result.token_attr).sum(axis=1)
    differences = np.array(result.token_score_all) - np.array(result.token_score_none)
    assert np.all(np.abs(tokens - differences) <= 0.01 * np.abs(differences))


def test_few_steps_report_their_gap(lm):
    method = {"name": "integrated_gradients", "steps": 2, "rule": "riemann_right"}
    result = run(_spec(method), lm=lm)
    gap = result.extra["completeness"]
    # two points cannot follow the rugged path: the gap is there, and reported
    assert gap["max_relative"] > 0.01
    sums = np.array(result.token_attr).sum(axis=1)
    np.testing.assert_allclose(gap["tokens"]["sum"], sums, atol=1e-9)
    np.testing.assert_allclose(
        gap["tokens"]["gap"],
        sums - (np.array(result.token_score_all) - np.array(result.token_score_none)),
        atol=1e-9,
    )
    np.testing.assert_allclose(result.seq_attr, np.array(result.token_attr).sum(axis=0), atol=1e-9)


@pytest.mark.slow
def test_contrast_rows_are_the_alternative_negated(lm):
    method = {"name": "integrated_gradients", "steps": 4}
    both = run(_spec(method, target={"text": TARGET, "contrast": " tennis"}), lm=lm)
    alone = run(_spec(method, target={"text": " tennis"}), lm=lm)
    n_a = len(lm.tokenizer(TARGET, add_special_tokens=False)["input_ids"])
    rows = np.array(both.token_attr)
    # the two runs batch their points in other shapes, so float32 sums run in another order: 1e-4 relative
    # (measured: up to 7e-5 on a busy two-core machine, the same at the commit before the methods became modules)
    np.testing.assert_allclose(rows[n_a:], -np.array(alone.token_attr), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(both.seq_attr, rows.sum(axis=0), atol=1e-9)
    assert both.score_all == pytest.approx(
        sum(both.token_score_all[:n_a]) + sum(both.token_score_all[n_a:])
    )


def test_saliency_is_the_gradient_of_the_token_log_prob(lm):
    signed = run(_spec({"name": "saliency", "signed": True}), lm=lm)
    norm = run(_spec({"name": "saliency"}), lm=lm)
    # independent computation: full model forward over the embeddings, one token
    ids = lm.tokenizer(PROMPT + TARGET)["input_ids"]
    n_prompt = len(lm.tokenizer(PROMPT)["input_ids"])
    embeds = lm.model.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
    logits = lm.model(inputs_embeds=embeds).logits[0, n_prompt]
    logp = torch.log_softmax(logits, -1)[ids[n_prompt + 1]]
    (grad,) = torch.autograd.grad(logp, embeds)
    grad = grad[0, :n_prompt].double().numpy()
    # float32 sums in a different order: agree within 1e-3 of the largest value
    expected_sum, expected_norm = grad.sum(-1), np.linalg.norm(grad, axis=-1)
    tol = 1e-3 * np.abs(expected_norm).max()
    np.testing.assert_allclose(signed.token_attr[1], expected_sum, atol=tol, rtol=0)
    np.testing.assert_allclose(norm.token_attr[1], expected_norm, atol=tol, rtol=0)
    assert np.all(np.array(norm.seq_attr) >= 0)


def test_gradient_shap_is_seeded(lm):
    method = {"name": "gradient_shap", "n_samples": 2, "stdev": 0.01}
    short = {"prompt": {"text": "Dave likes", "granularity": "token"}, "target": {"text": " golf"}}
    first, again = run(_spec(method, seed=1, **short), lm=lm), run(_spec(method, seed=1, **short), lm=lm)
    other = run(_spec(method, seed=2, **short), lm=lm)
    assert first.token_attr == again.token_attr
    assert first.token_attr != other.token_attr
    assert first.extra["n_samples"] == 2


@pytest.mark.slow
def test_gradient_shap_reports_a_standard_error_that_shrinks_with_its_samples(lm):
    """Gradient SHAP averages random points: its standard error is their spread over root n, per token
    and per slot, and four times the points roughly halve it."""
    prompt = {"template": "{name} lives in {city}. He likes", "values": {"name": "Dave", "city": "Palm Coast"}}
    errors = {}
    for n in (8, 32):
        result = run(_spec({"name": "gradient_shap", "n_samples": n, "stdev": 0.05}, prompt=prompt), lm=lm)
        assert len(result.seq_stderr) == len(result.seq_attr)
        assert len(result.token_stderr) == len(result.token_attr)
        errors[n] = float(np.mean(result.seq_stderr))
    assert 0.15 < errors[32] / errors[8] < 0.85  # 1 / sqrt(4) = 0.5; the spread of 8 points is itself noisy
    slots = run(_spec({"name": "gradient_shap", "n_samples": 8, "stdev": 0.05, "aggregate": "feature"},
                      prompt=prompt), lm=lm)
    assert slots.features == ["name", "city"] and len(slots.seq_stderr) == 2
    assert all(e > 0 for e in slots.seq_stderr)
    single = run(_spec({"name": "gradient_shap", "n_samples": 1}, prompt=prompt), lm=lm)
    assert single.seq_stderr is None  # one point has no spread
    assert run(_spec({"name": "integrated_gradients", "steps": 4}, prompt=prompt), lm=lm).seq_stderr is None


def test_feature_aggregate_sums_tokens_over_slots(lm):
    prompt = {"template": "{name} lives in {city}. He likes", "values": {"name": "Dave", "city": "Palm Coast"}}
    method = {"name": "integrated_gradients", "steps": 4}
    tokens = run(_spec(method, prompt=prompt), lm=lm)
    features = run(_spec({**method, "aggregate": "feature"}, prompt=prompt), lm=lm)
    assert features.features == ["name", "city"]
    level = features.extra["token_level"]
    assert level["token_attr"] == tokens.token_attr
    assert level["tokens"] == [tokens.prompt_tokens[i] for i in level["token_indices"]]
    assert len(tokens.features) == len(tokens.prompt_tokens)
    by_index = dict(zip(level["token_indices"], np.array(level["token_attr"]).T))
    for column, cover in enumerate(features.feature_tokens):
        assert cover  # every slot covers some tokens
        expected = sum(by_index[t] for t in cover)
        np.testing.assert_allclose(np.array(features.token_attr)[:, column], expected, atol=1e-9)


@pytest.mark.slow
def test_chat_template_tokens_keep_their_embeddings(lm):
    spec = _spec({"name": "integrated_gradients", "steps": 2, "baseline": "unk"}, chat=True)
    result = run(spec, lm=lm)
    user = result.extra["token_level"]["token_indices"]
    assert 0 < len(user) < len(result.prompt_tokens)
    assert "".join(result.prompt_tokens[i] for i in user).strip() == PROMPT
    # score_none: user tokens replaced by the baseline token, template tokens kept
    ids = lm.tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True
    )
    prompt_ids = list(lm.tokenizer(ids, add_special_tokens=False)["input_ids"])
    baseline_ids = [lm.tokenizer.unk_token_id if i in user else t for i, t in enumerate(prompt_ids)]
    target_ids = result.target["ids"]
    logp = BatchedScorer(lm).log_probs([(baseline_ids, target_ids)])[0]
    assert result.score_none == pytest.approx(float(logp.sum()), abs=1e-4)


def test_one_token_target_is_explained(lm):
    result = run(_spec({"name": "integrated_gradients", "steps": 4}, target={"text": " golf"}), lm=lm)
    assert len(result.output_tokens) == 1
    np.testing.assert_allclose(result.seq_attr, result.token_attr[0], atol=1e-12)


# ---------------------------------------------------------------- mechanics


def _tiny_lm():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
    )
    model = LlamaForCausalLM(config).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return SimpleNamespace(model=model, device=torch.device("cpu"), output_head=OutputHead(model))


def test_chunking_does_not_change_the_numbers():
    lm = _tiny_lm()
    prompt, targets = [5, 9, 3, 7, 11], [[4, 8, 2], [6, 1]]
    big = EmbeddingGradients(lm, prompt, [1, 2, 3, 4], targets, memory_budget_mb=1000)
    small = EmbeddingGradients(lm, prompt, [1, 2, 3, 4], targets, memory_budget_mb=1e-6)
    assert big.plan(6) == (6, 5) and small.plan(6) == (1, 1)
    x = big.inputs
    points = torch.linspace(0.1, 1, 6)[:, None, None] * x[None]
    a, b = big.gradients(points, x), small.gradients(points, x)
    np.testing.assert_allclose(a.logp, b.logp, atol=1e-6)
    np.testing.assert_allclose(a.dots, b.dots, atol=1e-6)
    assert small.model_calls == 6 and big.model_calls == 1


def test_progress_and_cancellation():
    lm = _tiny_lm()
    calls = []
    engine = EmbeddingGradients(
        lm, [5, 9, 3], [0, 1, 2], [[4, 8]], chunk_points=2, progress=lambda d, t: calls.append((d, t))
    )
    engine.gradients(engine.inputs[None].repeat(5, 1, 1), engine.inputs)
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]
    stop = EmbeddingGradients(
        lm, [5, 9, 3], [0, 1, 2], [[4, 8]], chunk_points=2, should_stop=lambda: len(calls) > 5,
        progress=lambda d, t: calls.append((d, t)),
    )
    with pytest.raises(Cancelled):
        stop.gradients(stop.inputs[None].repeat(5, 1, 1), stop.inputs)
    assert calls[-1][0] < 5


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("method", "target", "prompt", "field", "words"),
    [
        ({"name": "integrated_gradients", "steps": 0}, None, None, "method.steps", "at least 1"),
        ({"name": "integrated_gradients", "steps": 1, "rule": "riemann_left"}, None, None, "method.steps", "at least 2 steps"),
        ({"name": "integrated_gradients", "baseline": 49152}, None, None, "method.baseline", "outside this model's vocabulary"),
        ({"name": "gradient_shap", "baseline": 10**9}, None, None, "method.baseline", "outside this model's vocabulary"),
        ({"name": "integrated_gradients"}, {"text": ""}, None, "target.text", "empty"),
        ({"name": "integrated_gradients"}, None, {"text": "", "granularity": "token"}, "prompt.text", "empty"),
    ],
    ids=["zero-steps", "riemann-one-step", "baseline-id", "shap-baseline-id", "empty-target", "empty-prompt"],
)
def test_bad_inputs_get_a_sentence(lm, method, target, prompt, field, words):
    with pytest.raises(SpecError) as err:
        run(_spec(method, prompt=prompt, target=target), lm=lm)
    assert err.value.field == field
    message = str(err.value)
    assert words in message and message.endswith(".") and "Traceback" not in message


# ---------------------------------------------------------------- the spine


@pytest.mark.slow
def test_cli_runs_integrated_gradients_and_round_trips(tmp_path):
    spec = _spec({"name": "integrated_gradients", "steps": 3, "rule": "gausslegendre"})
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, "-m", "core", "run", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    result = RunResult.from_dict(doc)
    assert result.meta["method"] == "integrated_gradients"
    assert len(result.token_attr) == len(result.output_tokens)
    assert len(result.seq_attr) == len(result.features) == len(result.feature_tokens)
    again = RunResult.from_json(result.to_json())
    assert again == result
    assert "completeness" in result.extra and "token_level" in result.extra
