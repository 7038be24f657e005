"""The attribution run: an attribution spec in, a ``RunResult`` out.

``run_attribution(spec)`` validates the spec, loads the model, lays the prompt
out into features, resolves the target, and runs the method: perturbation
methods evaluate every distinct perturbed prompt once through the batched
scorer; gradient methods go through ``core.attribution.gradient``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.attribution.faithfulness import faithfulness
from core.attribution.features import (
    PromptLayout,
    apply_chat,
    encode_prompt,
    layout_from_template,
    layout_from_text,
    prompt_tokens_and_coverage,
)
from core.attribution.gradient import run_gradient
from core.attribution.methods import METHODS
from core.attribution.perturbation import StopPoll, mask_codes, polled
from core.attribution.planning import method_stderr, plan_problem
from core.attribution.prompt_length import check_prompt_length
from core.attribution.prompt_values import LayoutCoalitions, PromptValues
from core.attribution.result import RunResult
from core.attribution.scorer import Progress, ShouldStop
from core.attribution.spec import RunSpec, parse_spec
from core.attribution.targets import TargetPlan, resolve_target
from core.attribution.uncertainty import trials_stderr
from core.errors import SpecError
from core.models.loading import LoadedModel, load_model
from core.runs.meta import RunClock, run_meta


@dataclass
class RunContext:
    """Everything a method needs: the spec, the model, the prompt layout and the target."""

    spec: RunSpec
    lm: LoadedModel
    layout: PromptLayout
    prompt_ids: list[int]
    target: TargetPlan
    prompt_tokens: list[str]
    feature_tokens: list[list[int]]
    user_token_idx: list[int]
    progress: Progress | None
    should_stop: ShouldStop | None


def build_layout(spec: RunSpec, tokenizer: Any) -> PromptLayout:
    """The prompt of a spec laid out into features (chat-wrapped when asked)."""
    prompt = spec.prompt
    if "template" in prompt:
        layout = layout_from_template(
            prompt["template"],
            prompt.get("values"),
            prompt.get("baselines"),
            prompt.get("groups"),
            prompt.get("paired"),
        )
    else:
        layout = layout_from_text(
            prompt["text"], prompt["granularity"], tokenizer, prompt.get("baseline", "")
        )
    if not layout.features:
        raise SpecError("prompt", "the prompt has no features to attribute to; add some text.")
    if spec.chat:
        apply_chat(layout, tokenizer)
    return layout


def prepare(
    spec: RunSpec,
    lm: LoadedModel,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> RunContext:
    """Lay out the prompt, tokenize it, check its length and resolve the target.

    The length is checked in characters, then in bounded chunks of tokens
    (``core.attribution.prompt_length``), before a long text is cut into features or tokenized whole.
    """
    if "text" in spec.prompt:
        check_prompt_length(spec.prompt["text"], lm)
    for field in ("text", "contrast"):
        if isinstance(spec.target.get(field), str):
            check_prompt_length(spec.target[field], lm, f"target.{field}", "the target")
    layout = build_layout(spec, lm.tokenizer)
    user_text = layout.render([True] * len(layout.features), {})
    check_prompt_length(layout.full_prompt(user_text), lm)
    prompt_ids = encode_prompt(lm.tokenizer, layout.full_prompt(user_text), layout.chat)
    if not prompt_ids:
        raise SpecError("prompt", "the prompt is empty; write the text to explain.")
    if len(prompt_ids) >= lm.max_context:
        raise SpecError(
            "prompt",
            f"the prompt is {len(prompt_ids)} tokens, longer than this model's context of "
            f"{lm.max_context} tokens; shorten it.",
        )
    target = resolve_target(lm, spec.target, prompt_ids)
    longest = len(prompt_ids) + max(len(target.ids), len(target.contrast_ids or []))
    if longest > lm.max_context:
        raise SpecError(
            "target",
            f"the prompt and target together are {longest} tokens, longer than this model's "
            f"context of {lm.max_context} tokens; shorten the prompt or the target.",
        )
    tokens, coverage, user_idx = prompt_tokens_and_coverage(layout, lm.tokenizer)
    return RunContext(
        spec, lm, layout, prompt_ids, target, tokens, coverage, user_idx, progress, should_stop
    )


def run_perturbation(ctx: RunContext, values: PromptValues | None = None) -> dict[str, Any]:
    """Run a perturbation method; return the result's attribution fields.

    ``values`` scores the prompts (a fresh ``PromptValues`` when None); several methods
    on one prompt share one, so a prompt two of them need is scored once. Forward
    passes and model calls count only what this run added to it.
    """
    spec, layout, lm = ctx.spec, ctx.layout, ctx.lm
    n = len(layout.features)
    method = METHODS[spec.method_name]
    full_chars = len(layout.full_prompt(layout.render([True] * n, {})))
    problem = plan_problem(
        spec.method_name, n, spec.params, spec.trials, full_chars, same_prompts=not layout.has_sampled_baselines
    )
    if problem:
        raise SpecError("method", problem)
    poll = StopPoll(ctx.should_stop)  # planning hears Stop too, not only the scorer
    rng = np.random.default_rng(spec.seed)
    if values is None:
        values = PromptValues(lm, layout.chat, ctx.target, spec.score, ctx.progress, ctx.should_stop)
    passes_before, calls_before, empty_before = values.forward_passes, values.model_calls, values.empty_prompts
    tokens_before = values.tokens
    texts: dict[str, int] = {}

    def text_index(mask: np.ndarray, baselines: dict[str, str]) -> int:
        text = layout.full_prompt(layout.render(mask, baselines))
        return texts.setdefault(text, len(texts))

    all_index = text_index(np.ones(n, bool), {})
    trials = []
    for _ in range(spec.trials):
        baselines = (
            layout.sample_baselines(rng) if layout.has_sampled_baselines else layout.fixed_baselines()
        )
        plan = method.plan(n, spec.params, rng, poll=poll)
        codes = mask_codes(plan.masks)
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        rows = np.array([text_index(plan.masks[i], baselines) for i in polled(first, poll)])
        none_index = text_index(np.zeros(n, bool), baselines)
        trials.append((plan, rows[inverse.reshape(-1)], none_index, baselines))

    prompt_texts = list(texts)
    scores = values.values(prompt_texts, poll)
    method_passes = values.forward_passes - passes_before
    method_calls = values.model_calls - calls_before
    tokens_after = values.tokens
    attrs, errors = [], []
    noise_rng = np.random.default_rng([spec.seed, 11])
    none_values = np.zeros(scores.shape[1])
    for plan, rows, none_index, _ in trials:
        attrs.append(method.combine(plan, scores[rows], spec.params))
        errors.append(method_stderr(spec.method_name, plan, scores[rows], spec.params, noise_rng))
        none_values += scores[none_index]
    attr = np.mean(attrs, axis=0)
    none_values /= spec.trials
    all_values = scores[all_index]
    stderr = trials_stderr(attrs) if layout.has_sampled_baselines else None
    if stderr is None and errors[0] is not None:
        # independent trials of one sampling method: the mean's error from each trial's
        stderr = np.sqrt(sum(e**2 for e in errors if e is not None)) / len(errors)
    out: dict[str, Any] = {
        "seq_attr": attr[0].tolist(),
        "token_attr": attr[1:].tolist(),
        "score_all": float(all_values[0]),
        "score_none": float(none_values[0]),
        "token_score_all": all_values[1:].tolist(),
        "token_score_none": none_values[1:].tolist(),
        "extra": {"distinct_prompts": len(prompt_texts), "empty_prompts": values.empty_prompts - empty_before},
        "forward_passes": method_passes,
        "model_calls": method_calls,
        # the prefix tree's tokens through the model, and scoring each prompt whole
        "tokens_processed": tokens_after[0] - tokens_before[0],
        "tokens_whole": tokens_after[1] - tokens_before[1],
    }
    if stderr is not None:
        out["seq_stderr"] = stderr[0].tolist()
        out["token_stderr"] = stderr[1:].tolist()
    if spec.faithfulness:
        coalitions = LayoutCoalitions(values, layout, trials[0][3], poll)
        perms = trials[0][0].extra.get("perms")
        # Shapley sampling scored each ordering's prefixes: the deletion chain of the reversed ordering
        orders = perms[:, ::-1] if perms is not None else None
        out["faithfulness"] = faithfulness(coalitions, attr[0], attr[1:], spec.seed, orders=orders)
    return out


def run_attribution(
    spec_doc: dict[str, Any] | RunSpec,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    lm: LoadedModel | None = None,
    loader: Callable[[str], LoadedModel] = load_model,
) -> RunResult:
    """Run an attribution spec (perturbation or gradient method) and return its result.

    Args:
        spec_doc: the spec document (or an already parsed RunSpec).
        progress: called with (forward passes done, total).
        should_stop: polled between batches; True stops the run (``Cancelled``).
        lm: an already loaded model (otherwise loaded by ``loader(spec.model)``).
        loader: loads a model by name.
    """
    clock = RunClock()
    spec = spec_doc if isinstance(spec_doc, RunSpec) else parse_spec(spec_doc)
    lm = clock.load(spec.model, lm, loader)
    with lm.lock.job():  # the model is taken batch by batch (core.models.sharing)
        ctx = prepare(spec, lm, progress, should_stop)
        out = run_gradient(ctx) if spec.method.family == "gradient" else run_perturbation(ctx)
    features = out.pop("features", ctx.layout.labels)
    feature_tokens = out.pop("feature_tokens", ctx.feature_tokens)
    meta = run_meta(
        lm,
        spec.model,
        spec.method_name,
        clock,
        n_features=len(features),
        trials=spec.trials,
        forward_passes=out.pop("forward_passes"),
        model_calls=out.pop("model_calls", None),
        **{key: out.pop(key) for key in ("tokens_processed", "tokens_whole") if key in out},
    )
    return RunResult(
        kind=spec.kind,
        spec=spec.raw,
        features=features,
        output_tokens=ctx.target.output_tokens,
        prompt_tokens=ctx.prompt_tokens,
        feature_tokens=feature_tokens,
        target=ctx.target.to_dict(),
        meta=meta,
        **out,
    )
