"""Model families whose output is more than a linear head get right log-probabilities and gradients.

Tiny random models of each family are built here (mechanics, not proof of the
product): the scorer's log-probabilities must equal ``log_softmax`` of the
model's own ``model(...).logits``, and the gradient engine's gradients a plain
autograd computation through the model's own forward. The weights are drawn
wide enough (``initializer_range``) that a missing soft-cap or scale changes
the numbers by far more than the tolerance.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    CohereConfig,
    Gemma2Config,
    Gemma3Config,
    Gemma3TextConfig,
    GraniteConfig,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    Qwen2Config,
    SiglipVisionConfig,
)

from core.attribution.gradient import EmbeddingGradients
from core.attribution.scorer import BatchedScorer
from core.errors import ModelLoadError
from core.models.loading import LoadedModel, load_model
from core.models.output_head import OutputHead, text_body, verified_output_head

VOCAB = 96
COMMON = dict(
    vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
    num_key_value_heads=1, max_position_embeddings=64, initializer_range=0.5, pad_token_id=0,
    bos_token_id=1, eos_token_id=2,
)
FAMILIES = {
    "llama": lambda: LlamaConfig(**COMMON),
    "gemma2": lambda: Gemma2Config(**COMMON, head_dim=8, final_logit_softcapping=3.0),
    "gemma3": lambda: Gemma3TextConfig(**COMMON, head_dim=8, final_logit_softcapping=3.0),
    "granite": lambda: GraniteConfig(**COMMON, logits_scaling=8.0),
    "cohere": lambda: CohereConfig(**COMMON, logit_scale=0.25),
    "qwen2": lambda: Qwen2Config(**COMMON),
    "mistral": lambda: MistralConfig(**COMMON),
    "phi3": lambda: Phi3Config(**COMMON),
}
# rows that share prefixes (the scorer's key/value cache) and differ in length (its padding)
ROWS = [([1, 5, 9, 3], [7, 11]), ([1, 5, 9, 4, 8], [7]), ([1, 5, 2], [30, 31, 32]), ([6], [9, 9])]


def _model(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(FAMILIES[family]()).eval()


def _loaded(model: torch.nn.Module) -> LoadedModel:
    return LoadedModel("tiny", "tiny", "test", model, None, torch.device("cpu"))


def _reference_log_probs(model: torch.nn.Module, prompt: list[int], target: list[int]) -> torch.Tensor:
    """Target-token log-probabilities from the model's own forward over the whole sequence."""
    ids = torch.tensor([prompt + target])
    logits = model(input_ids=ids, use_cache=False).logits[0].float()
    rows = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(target))
    return torch.log_softmax(logits[rows], dim=-1)[torch.arange(len(target)), torch.tensor(target)]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_scorer_log_probs_equal_the_models_own_forward(family: str) -> None:
    model = _model(family)
    got = BatchedScorer(_loaded(model)).log_probs(ROWS)
    with torch.no_grad():
        for (prompt, target), values in zip(ROWS, got):
            expected = _reference_log_probs(model, prompt, target).double().numpy()
            assert values == pytest.approx(expected, abs=1e-5), family
    if family in ("gemma2", "gemma3", "granite", "cohere"):
        # the plain linear head would be wrong here: the test could fail
        plain = model.get_output_embeddings()
        with torch.no_grad():
            hidden = text_body(model)(input_ids=torch.tensor([ROWS[0][0]])).last_hidden_state
            assert not torch.allclose(plain(hidden).float(), OutputHead(model)(hidden), atol=1e-2)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_gradients_equal_plain_autograd_through_the_models_forward(family: str) -> None:
    model = _model(family)
    prompt, attributed, targets = [1, 5, 9, 3, 8], [1, 2, 4], [[7, 11], [30]]
    engine = EmbeddingGradients(_loaded(model), prompt, attributed, targets)
    got = engine.gradients(engine.inputs[None], None, keep_full=True)
    embedding = model.get_input_embeddings()
    row = 0
    for target in targets:
        for t in range(len(target)):
            embeds = embedding(torch.tensor(prompt + target[:-1] if len(target) > 1 else prompt)).detach()
            embeds.requires_grad_(True)
            logits = model(inputs_embeds=embeds[None], use_cache=False).logits[0].float()
            logp = torch.log_softmax(logits[len(prompt) - 1 + t], dim=-1)[target[t]]
            (grad,) = torch.autograd.grad(logp, embeds)
            assert got.logp[0, row] == pytest.approx(float(logp.detach()), abs=1e-5), family
            torch.testing.assert_close(torch.from_numpy(got.grads[0, row]), grad[attributed], atol=1e-5, rtol=1e-4)
            row += 1


class _RescaledLlama(torch.nn.Module):
    """A model whose forward does something after its head that WhyLM does not know of."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config
        self.base_model = inner.base_model

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.inner.get_output_embeddings()

    def forward(self, **kwargs):  # noqa: ANN003, ANN201 - mirrors a transformers forward
        out = self.inner(**kwargs)
        out.logits = out.logits * 3.0
        return out


def test_the_checked_head_keeps_a_familys_steps() -> None:
    assert verified_output_head(_model("gemma2"), "tiny-gemma2", torch.device("cpu")).softcap == 3.0
    assert verified_output_head(_model("granite"), "tiny-granite", torch.device("cpu")).divide == 8.0


def test_a_model_whose_output_is_not_reproduced_is_refused_with_a_sentence() -> None:
    model = _model("llama")
    assert verified_output_head(model, "tiny-llama", torch.device("cpu")).describe() == ""  # reproduced
    with pytest.raises(ModelLoadError, match="does not reproduce"):
        verified_output_head(_RescaledLlama(model), "tiny-odd", torch.device("cpu"))


def test_gemma3_saved_for_conditional_generation_loads_and_says_which_part(lm, tmp_path: Path) -> None:
    """Gemma 3 4B and larger are saved as Gemma3ForConditionalGeneration; the text part is used."""
    text = Gemma3TextConfig(**COMMON, head_dim=8, final_logit_softcapping=3.0)
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=28, patch_size=14)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, image_token_index=95,
                          boi_token_index=93, eoi_token_index=94)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"
    folder = tmp_path / "tiny-gemma3"
    model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    loaded = load_model(str(folder))
    assert "text part of Gemma3ForConditionalGeneration" in loaded.display_name
    assert loaded.output_head.softcap is None  # this class's forward leaves the text config's soft-cap out
    got = BatchedScorer(loaded).log_probs(ROWS)
    with torch.no_grad():
        for (prompt, target), values in zip(ROWS, got):
            expected = _reference_log_probs(loaded.model, prompt, target).double().numpy()
            assert values == pytest.approx(expected, abs=1e-5)


def test_memory_estimates_follow_the_dtype() -> None:
    """In bfloat16 a batch's activations take half the bytes, so the scorer and the gradient engine fit more in."""
    full = _model("llama")
    half = AutoModelForCausalLM.from_config(FAMILIES["llama"]()).eval().to(torch.bfloat16)
    rows = [BatchedScorer(_loaded(m))._row_bytes(suffix_len=60, prefix_len=0, target_len=1) for m in (full, half)]
    assert rows[1] < 0.6 * rows[0], rows
    prompt, attributed, targets = list(range(3, 63)), list(range(60)), [[7, 11]]
    sizes = [EmbeddingGradients(_loaded(m), prompt, attributed, targets) for m in (full, half)]
    graph = [g._point_bytes(with_graph=True) for g in sizes]
    assert graph[1] < 0.6 * graph[0] and sizes[1]._backward_bytes() < 0.6 * sizes[0]._backward_bytes()
    # one budget, about twice the points of a path per chunk in bfloat16
    budget_mb = 20 * (graph[0] + 2 * sizes[0]._backward_bytes()) / 2**20
    chunks = [EmbeddingGradients(_loaded(m), prompt, attributed, targets, memory_budget_mb=budget_mb).plan(1000)[0]
              for m in (full, half)]
    assert chunks[0] == 20 and chunks[1] >= 36, chunks
