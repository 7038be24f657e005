"""The model's own output layer: hidden states to logits, as the model's forward computes them.

The scorer and the gradient engine run the model's body (``text_body``) and then
the output layer themselves, on the few positions they need, instead of the
whole forward (which would compute logits at every position). Some families do
more than a linear head after the body, and those steps are applied here, in
float32:

- Gemma 2, 3 and 4 (and PaliGemma, nanochat): ``final_logit_softcapping``,
  ``tanh(logits / cap) * cap``;
- Granite (dense, MoE, shared MoE): ``logits / logits_scaling``; HyperCLOVA X
  multiplies by its ``logits_scaling`` instead;
- Cohere and Cohere 2: ``logits * logit_scale``.

Whatever the family, :func:`check_output_head` compares the result with the
model's own forward on a few tokens when the model is loaded, and a model
whose output WhyLM does not reproduce is refused with a sentence.
"""

from __future__ import annotations

from typing import Any

import torch

from core.errors import ModelLoadError

# model types whose ``logits_scaling`` multiplies the logits (Granite's divides them)
MULTIPLIED_LOGITS_SCALING = frozenset({"hyperclovax", "hyperclovax_vision_v2"})
CHECK_TOKENS = 6


def text_config(model: torch.nn.Module) -> Any:
    """The configuration of the model's text part (the model's own for a text-only model)."""
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def text_body(model: torch.nn.Module) -> torch.nn.Module:
    """The model without its output layer: token ids or embeddings in, last hidden states out."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model.base_model


class OutputHead:
    """Hidden states to float32 logits, with the steps the model's forward takes after its linear head.

    Args:
        model: a causal language model (``transformers``).
    """

    def __init__(self, model: torch.nn.Module, plain: bool = False) -> None:
        self.linear = model.get_output_embeddings()
        cfg = text_config(model)
        kind = str(getattr(model.config, "model_type", ""))
        self.multiply = 1.0
        self.divide = 1.0
        self.softcap: float | None = None
        if plain:  # the linear head alone (some classes leave their config's steps out of their forward)
            return
        scaling = getattr(cfg, "logits_scaling", None)
        if scaling is not None:
            if kind in MULTIPLIED_LOGITS_SCALING or str(getattr(cfg, "model_type", "")) in MULTIPLIED_LOGITS_SCALING:
                self.multiply *= float(scaling)
            else:
                self.divide = float(scaling)
        scale = getattr(cfg, "logit_scale", None)
        if isinstance(scale, (int, float)) and not isinstance(scale, bool):
            self.multiply *= float(scale)
        cap = getattr(cfg, "final_logit_softcapping", None)
        if cap:
            self.softcap = float(cap)

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits (float32) for last hidden states of any leading shape."""
        logits = self.linear(hidden).float()
        if self.multiply != 1.0:
            logits = logits * self.multiply
        if self.divide != 1.0:
            logits = logits / self.divide
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def describe(self) -> str:
        """The steps after the linear head, in words ("" when there are none)."""
        steps = []
        if self.multiply != 1.0:
            steps.append(f"times {self.multiply:g}")
        if self.divide != 1.0:
            steps.append(f"divided by {self.divide:g}")
        if self.softcap is not None:
            steps.append(f"soft-capped at {self.softcap:g}")
        return ", ".join(steps)


def verified_output_head(model: torch.nn.Module, name: str, device: torch.device) -> OutputHead:
    """The :class:`OutputHead` that reproduces the model's own logits; ModelLoadError when none does.

    Runs the model's own forward and the body plus the head on a few tokens and
    compares the logits (to 1e-4 of their range in float32, 2e-2 in lower
    precision): first with the steps the configuration declares, then with the
    linear head alone (Gemma3ForConditionalGeneration, for one, leaves its text
    configuration's soft-cap out of its forward).
    """
    vocab = int(getattr(text_config(model), "vocab_size", 0) or 0)
    if vocab < 2:
        return OutputHead(model)
    ids = torch.tensor([[(7 * i + 1) % vocab for i in range(CHECK_TOKENS)]], dtype=torch.long, device=device)
    with torch.no_grad():
        theirs = model(input_ids=ids, use_cache=False).logits.float()
        hidden = text_body(model)(input_ids=ids, use_cache=False).last_hidden_state
        dtype = next(model.parameters()).dtype
        tolerance = (1e-4 if dtype == torch.float32 else 2e-2) * max(1.0, float(theirs.abs().max()))
        for head in (OutputHead(model), OutputHead(model, plain=True)):
            ours = head(hidden)
            if ours.shape == theirs.shape and torch.allclose(ours, theirs, rtol=0.0, atol=tolerance):
                return head
    raise _unlike(model, name)


def _unlike(model: torch.nn.Module, name: str) -> ModelLoadError:
    kind = getattr(model.config, "model_type", "this")
    return ModelLoadError(
        f"The model '{name}' is a {kind} model whose forward computes its output in a way WhyLM does not "
        "reproduce, so its log-probabilities would be wrong; pick a model of another family."
    )
