"""How long a run will take on this machine: the estimate every form shows before Run.

A run's *work* is counted from its spec alone, in tokens through the model
(:func:`run_work`): the prompts a method or probe scores (``plan_rows``,
``bias_cost``, ``few_shot_cost``, the gradient points) times their length in
tokens (characters / 4 before a tokenizer is at hand). Its *speed* is measured on this machine
and model, in seconds per token of work, from

1. runs this process finished (``core.engine.run`` calls :func:`record_run`): the
   median of the latest runs of the same family on the same model, else
2. a calibration (:func:`calibrate`: a few rows scored, about a second, done by
   the dashboard's warm-up and the preset benchmark) times the family's
   factor (:data:`FAMILY_FACTORS`, measured with ``bench/bench_presets.py``), times
   how much slower than so predicted the latest runs of other families were, else
3. a first guess (:data:`GUESS_SECONDS_PER_TOKEN`, the bundled model on two CPU cores),
   which the sentence says is one.

:func:`estimate` gives an :class:`Estimate`; its :meth:`Estimate.words` is the sentence
the forms show ("about 12 s on this machine").
"""

from __future__ import annotations

import json
import math
import re
import statistics
import string
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.attribution.perturbation import plan_rows
from core.errors import WhyLMError
from core.kinds import parse, parsed_kind
from core.probes.bias.settings import resampled_values

CHARS_PER_TOKEN = 4.0
"""Characters per token of English text with the bundled model's tokenizer (about 4.2)."""
CHAT_TOKENS = 30
"""Tokens a chat template adds around the prompt (the bundled model's system prompt and markers)."""
MODEL_CALL_TOKENS = 32
"""One more model call costs about as much as this many tokens (``BatchedScorer.call_cost_tokens`` on a CPU)."""
BACKWARD_PER_OUTPUT = 2.0
"""A gradient point's backward pass for one output token costs about this many forwards of the point
(``GradientEngine`` runs one backward per output token over each chunk's graph)."""
CONTEXT_TOKENS = 12000.0
"""A token computed after this many tokens of context costs twice one at the start (attention reads the
context). Set from ``bench/bench_presets.py``: on a CPU, 3,000 words (about 4,000 tokens) cost little more per
token than short prompts (3,000 here overestimated that case 3x in CPU time); attention's share grows past that."""
PROMPT_ROW_TOKENS = 8.0
"""Reading a prompt's candidates at its end costs about this many tokens (bias sweeps; fitted with
``bench/bench_presets.py`` on the bias presets, with :data:`CANDIDATE_ROW_TOKENS`)."""
CANDIDATE_ROW_TOKENS = 10.0
"""A candidate of more than one token is a row of its own after its prompt: this many tokens besides its own."""
SHORT_WORD_CHARS = 10
"""Without the model's tokenizer, a one-word candidate this short or shorter counts as one token."""
TOKENIZERS: dict[str, Any] = {}
"""The tokenizer of each calibrated model (by :func:`model_key`): candidates' lengths are counted with it."""
STATS_VALUES_PER_TOKEN = 500_000.0
"""Resampled scores the bias statistics read in the time of one token of work (about 6 ns each)."""
FAMILIES = ("perturbation", "gradient", "bias", "few_shot")
FAMILY_FACTORS = {"perturbation": 1.2, "gradient": 0.6, "bias": 0.6, "few_shot": 1.5}
"""A run's seconds per token of work over the calibration's, per family, as ``bench/bench_presets.py``
measured them on two idle CPU cores (2026-12-07, calibration 0.77 ms per token; each preset's measured over
calibration in wall time): perturbation 0.86 to 1.66 (six presets and a 3,000-word prompt), gradient 0.57 to
0.68, bias 0.54 and 0.68, few-shot 1.17 to 1.86. Each factor sits in the middle of its family's range, so
every preset's estimate is within 2x. A busier machine moves them (finished runs correct them)."""
GUESS_SECONDS_PER_TOKEN = 4e-3
"""The guess before a calibration: the bundled model on two CPU cores (2.5 to 4.2 ms per token; 15 to 24 on busy ones)."""
KEPT_RUNS = 8
"""Latest runs per family and model whose speed is kept (their median is used)."""


@dataclass(frozen=True)
class Work:
    """A run's work in tokens through the model, per family (a compare run has two)."""

    tokens: dict[str, float]

    @property
    def total(self) -> float:
        """Tokens of work over all families."""
        return sum(self.tokens.values())


@dataclass(frozen=True)
class Estimate:
    """A run's estimated time and what it rests on.

    Attributes:
        seconds: estimated seconds for the run (model loading apart).
        basis: "runs" (measured from finished runs), "calibration" or "guess".
        runs: how many finished runs the speed comes from (0 unless basis is "runs").
    """

    seconds: float
    basis: str
    runs: int = 0

    def words(self) -> str:
        """The sentence a form shows before Run: "Estimated time: about 12 s on this machine ..."."""
        when = format_seconds(self.seconds) if self.seconds < 1 else f"about {format_seconds(self.seconds)}"
        if self.basis == "runs":
            said = "run" if self.runs == 1 else f"{self.runs} runs"
            return f"Estimated time: {when} on this machine (from the speed of the last {said} like it)."
        if self.basis == "calibration":
            return f"Estimated time: {when} on this machine (from its measured speed with this model)."
        return f"Estimated time: {when} (a first guess; this machine's speed is measured once the model has loaded)."


def format_seconds(seconds: float) -> str:
    """Seconds in words a reader takes in at a glance: "under 1 s", "12 s", "2 min 05 s"."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min {rest:02d} s"


# ---------------------------------------------------------------- work, from the spec


def _tokens(text: str) -> float:
    """Tokens of a text, from its characters (at least one)."""
    return max(len(text) / CHARS_PER_TOKEN, 1.0)


def context_work(tokens: float, context: float) -> float:
    """Work of ``tokens`` computed after ``context`` tokens: each costs more the more it attends to."""
    return tokens * (1.0 + (context + tokens / 2) / CONTEXT_TOKENS)


def prefix_tree_work(segments: list[float], distinct: Callable[[int], float], rows: float, suffix: float) -> float:
    """Tokens through the model of ``rows`` prompts scored by a prefix-sharing scorer, with their context.

    The prompts are ``segments`` (token lengths, in order, each kept or swapped per prompt);
    ``distinct(k)`` says how many distinct prefixes the prompts have over the first ``k``
    segments: each distinct prefix is computed once, and every prompt computes its own
    ``suffix`` (the target, or a query and its labels) after the whole prompt.
    This is the one place to switch to the scorer's own count of computed tokens.
    """
    rows = float(min(rows, 1e300))  # 2**n prompts of a huge n: an estimate past any limit, not an overflow
    work, context = 0.0, 0.0
    for k, length in enumerate(segments):
        work += min(distinct(k + 1), rows) * context_work(length, context)
        context += length
    return work + rows * context_work(suffix, context)


def _ablation_prefixes(k: int) -> float:
    """Distinct prefixes over k features of feature ablation's prompts: all kept, or one of them removed."""
    return k + 1.0


def _random_prefixes(k: int) -> float:
    """Distinct prefixes over k features of prompts with random coalitions (each feature in or out)."""
    return 2.0 ** min(k, 60)


def _text_features(text: str, granularity: str) -> int:
    """About how many features a plain-text prompt is cut into."""
    if granularity == "token":
        return math.ceil(_tokens(text))
    if granularity == "word":
        return len(re.findall(r"\S+", text))
    if granularity == "sentence":
        return len([s for s in re.split(r"(?<=[.!?。])\s*", text) if s.strip()])
    if granularity == "line":
        return len([s for s in text.splitlines() if s.strip()])
    return len([s for s in re.split(r"\n\s*\n", text) if s.strip()])


def _template_text(prompt: dict[str, Any]) -> tuple[str, int]:
    """A template prompt filled with its values, and its number of features (slots, groups as one)."""
    template = str(prompt.get("template", ""))
    values = prompt.get("values") or {}
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    slots = list(dict.fromkeys(fields)) if not isinstance(values, list) else list(range(len(values)))
    grouped = sum(max(len(members) - 1, 0) for members in (prompt.get("groups") or {}).values())
    filled = template
    for value in values.values() if isinstance(values, dict) else values:
        filled += str(value)
    return filled, max(len(slots) - grouped, 1)


def _prompt_segments(prompt: dict[str, Any]) -> list[float]:
    """A prompt's features as token lengths in order (the text between them spread over them)."""
    if "template" in prompt:
        text, n = _template_text(prompt)
    else:
        text = str(prompt.get("text", ""))
        n = _text_features(text, prompt["granularity"])
    n = max(n, 1)
    return [_tokens(text) / n] * n


def _attribution_work(spec: Any) -> tuple[str, float]:
    """(family, tokens) of one parsed attribution ``RunSpec``: tokens through the model with their context."""
    prompt = spec.prompt
    segments = _prompt_segments(prompt)
    if spec.chat:
        segments[0] += CHAT_TOKENS
    n = len(segments)
    prompt_tokens = sum(segments)
    target = spec.target
    generate = target.get("generate")
    if generate is not None:
        target_tokens = float(generate.get("max_new_tokens", 25))
        extra = target_tokens * MODEL_CALL_TOKENS + prompt_tokens  # generating it, token by token
    else:
        target_tokens = _tokens(str(target.get("text", "")))
        extra = 0.0
    targets = 2 if target.get("contrast") is not None else 1
    if targets == 2:
        target_tokens = (target_tokens + _tokens(str(target["contrast"]))) / 2
    if spec.method.family == "gradient":
        params = spec.params
        points = int(params.get("steps", params.get("n_samples", 1)) or 1)
        # each point: a forward over prompt + target, and a backward per output token (no prefix shared)
        per_point = context_work(prompt_tokens + target_tokens, 0.0) * (1 + BACKWARD_PER_OUTPUT * target_tokens)
        return "gradient", extra + (points + 2) * targets * per_point
    rows = plan_rows(spec.method_name, n, spec.params) * spec.trials
    bases = prompt.get("baselines") or {}
    per_slot = bases.values() if isinstance(bases, dict) else bases  # by slot name, or positional
    if "template" not in prompt or not any(isinstance(b, list) for b in per_slot):
        rows = min(rows, 2**n) if n < 40 else rows  # the same prompts in every trial are scored once
    one_change = spec.method_name == "feature_ablation" and rows <= n + 1
    suffix = target_tokens + MODEL_CALL_TOKENS / 8
    work = prefix_tree_work(segments, _ablation_prefixes if one_change else _random_prefixes, rows, suffix)
    if spec.faithfulness:  # deletion and insertion curves: random-looking coalitions
        work += prefix_tree_work(segments, _random_prefixes, 2 * n, suffix)
    return "perturbation", extra + work * targets


def _candidate_tokens(text: str, tokenizer: Any | None) -> float:
    """A candidate's length in tokens: by the model's tokenizer when calibrated, else from its characters."""
    if tokenizer is not None:
        return float(max(len(tokenizer(text, add_special_tokens=False)["input_ids"]), 1))
    if len(text) <= SHORT_WORD_CHARS and len(text.split()) == 1:
        return 1.0
    return _tokens(text)


def _bias_work(spec: Any) -> float:
    """Tokens of work of a parsed ``BiasSpec``: the sweep, its attribution and its statistics.

    The sweep's prompts go through the prefix tree: the template's text before its first
    slot once, the rest per prompt. A prompt's next-token distribution scores every
    one-token candidate at once; a longer candidate is a row of its own after its prompt.
    The attribution's prompts are counted at half: about half of them are sweep prompts
    again (a slot swapped for the other group's value), scored once.
    """
    prompts = sum(len(values) for values in spec.groups.values())
    for options in spec.vary.values():
        prompts *= len(options)
    first = next(iter(spec.groups.values()))[0]
    filled = spec.prompt_template + "".join(spec.values.values()) + " ".join(first)
    prompt_tokens = _tokens(filled) + (CHAT_TOKENS if spec.chat else 0)
    head = "".join(part.text for part in spec.parts[: next((i for i, p in enumerate(spec.parts) if p.slot), 0)])
    shared = _tokens(head) if head and not spec.chat else 0.0
    tokenizer = TOKENIZERS.get(model_key(spec.model))
    lengths = [_candidate_tokens(c, tokenizer) for c in spec.scored_candidates()]
    per_prompt = PROMPT_ROW_TOKENS + sum(n - 1 + CANDIDATE_ROW_TOKENS for n in lengths if n > 1)
    one_prompt = context_work(prompt_tokens - shared + per_prompt, shared)
    tokens = context_work(shared, 0.0) + prompts * one_prompt
    settings = spec.attribution
    if settings.enabled:
        n = max(len(spec.slots) - sum(max(len(m) - 1, 0) for m in settings.groups.values()), 1)
        attributed = min(settings.prompts, prompts)
        rows = plan_rows(settings.method, n, settings.params) * settings.trials
        tokens += 0.5 * attributed * rows * one_prompt
    sizes = {name: len(values) for name, values in spec.groups.items()}
    resampled = resampled_values(sizes, spec.compare, len(spec.candidates), spec.bootstrap, spec.permutations)
    return tokens + resampled / STATS_VALUES_PER_TOKEN


def _few_shot_work(spec: Any) -> float:
    """Tokens of work of a parsed ``FewShotSpec``: the tokens its prefix tree runs (each shared prefix once)."""
    from core.probes.few_shot.run import computed_tokens_estimate
    from core.probes.few_shot.settings import few_shot_cost

    cost = few_shot_cost(
        spec.n_features, len(spec.queries), len(spec.labels), spec.method, spec.max_exact, spec.n_samples,
        spec.order_trials,
    )
    chat = (CHAT_TOKENS + cost.prompts * CHAT_TOKENS / 6) if spec.chat else 0.0  # the system prompt once, the turn's end per prompt
    return computed_tokens_estimate(spec, _tokens) + chat + cost.prompts * MODEL_CALL_TOKENS / 32


def run_work(spec_doc: Any) -> Work | None:
    """The work of a spec, in tokens through the model per family; None when the spec cannot run as it is."""
    try:
        parsed = parse(spec_doc)
    except (WhyLMError, ValueError, TypeError, KeyError):
        return None
    kind = parsed_kind(parsed).name
    if kind == "bias":
        return Work({"bias": _bias_work(parsed)})
    if kind == "few_shot":
        return Work({"few_shot": _few_shot_work(parsed)})
    runs = parsed.runs if kind == "compare" else [parsed]
    tokens: dict[str, float] = {}
    for run in runs:
        family, work = _attribution_work(run)
        tokens[family] = tokens.get(family, 0.0) + work
    return Work(tokens)


# ---------------------------------------------------------------- speed, measured here


def model_key(model: Any) -> str:
    """The key speeds are kept under: the spec's model field ("default", or its object as JSON)."""
    if isinstance(model, dict):
        return json.dumps(model, sort_keys=True)
    return str(model or "default")


class SpeedLog:
    """Seconds per token of work measured in this process, per model (and family for finished runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], deque[float]] = {}
        self._calibration: dict[str, float] = {}

    def add_run(self, model: str, family: str, seconds_per_token: float) -> None:
        """Keep a finished run's speed (the latest :data:`KEPT_RUNS` per model and family)."""
        with self._lock:
            self._runs.setdefault((model, family), deque(maxlen=KEPT_RUNS)).append(seconds_per_token)

    def set_calibration(self, model: str, seconds_per_token: float) -> None:
        """Keep the calibration's speed for a model."""
        with self._lock:
            self._calibration[model] = seconds_per_token

    def runs(self, model: str, family: str) -> list[float]:
        """Speeds of the kept runs of this model and family."""
        with self._lock:
            return list(self._runs.get((model, family), ()))

    def slowdown(self, model: str) -> float:
        """How much slower than the calibration predicted the latest runs of this model were (any family; 1.0 when none).

        The median, over the kept runs, of each run's speed over its family's predicted one
        (calibration x :data:`FAMILY_FACTORS`): a machine busier now than at its calibration
        shows in every family's estimate, not only in the families already run.
        """
        with self._lock:
            calibration = self._calibration.get(model)
            if not calibration:
                return 1.0
            ratios = [
                speed / (calibration * FAMILY_FACTORS[family])
                for (key, family), kept in self._runs.items()
                if key == model
                for speed in kept
            ]
        return statistics.median(ratios) if ratios else 1.0

    def calibration(self, model: str) -> float | None:
        """The calibration's seconds per token for this model, or None."""
        with self._lock:
            return self._calibration.get(model)

    def clear(self) -> None:
        """Forget every speed (for tests)."""
        with self._lock:
            self._runs.clear()
            self._calibration.clear()


SPEEDS = SpeedLog()
"""This process's measured speeds."""


def record_run(spec_doc: Any, seconds: float, speeds: SpeedLog = SPEEDS) -> None:
    """Keep a finished run's speed (its seconds over its work), per family of its work.

    A compare run with methods of both families gives each family its overall speed.
    """
    work = run_work(spec_doc)
    if work is None or work.total <= 0 or seconds <= 0:
        return
    key = model_key(spec_doc.get("model") if isinstance(spec_doc, dict) else getattr(spec_doc, "model", None))
    for family, tokens in work.tokens.items():
        if tokens > 0:
            speeds.add_run(key, family, seconds / work.total)


def calibrate(
    lm: Any, model: Any = "default", speeds: SpeedLog = SPEEDS, rows: int = 8, length: int = 48, repeats: int = 3
) -> float:
    """Measure this machine's speed with a loaded model: score ``rows`` rows of ``length`` tokens.

    The rows are distinct (no prefix to share); after one warm-up call they are scored
    ``repeats`` times and the fastest counts (a busy machine only ever slows a timing down).
    Returns (and keeps under ``model``) the seconds per token.
    """
    from core.attribution.scorer import BatchedScorer

    vocab = max(int(getattr(lm.tokenizer, "vocab_size", 1000) or 1000), 1000)
    scored = [([(7919 * (r + 1) * (t + 3)) % (vocab - 100) + 50 for t in range(length)], [100 + r]) for r in range(rows)]
    BatchedScorer(lm).log_probs(scored[:2])
    fastest = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        BatchedScorer(lm).log_probs(scored)
        fastest = min(fastest, time.perf_counter() - began)
    per_token = fastest / (rows * (length + 1) + MODEL_CALL_TOKENS)
    speeds.set_calibration(model_key(model), per_token)
    TOKENIZERS[model_key(model)] = lm.tokenizer
    return per_token


def estimate(spec_doc: Any, speeds: SpeedLog = SPEEDS) -> Estimate | None:
    """How long ``spec_doc`` will take on this machine; None when the spec cannot run as it is."""
    work = run_work(spec_doc)
    if work is None:
        return None
    key = model_key(spec_doc.get("model") if isinstance(spec_doc, dict) else None)
    calibration = speeds.calibration(key)
    seconds, counted, bases = 0.0, 0, set()
    for family, tokens in work.tokens.items():
        measured = speeds.runs(key, family)
        if measured:
            seconds += tokens * statistics.median(measured)
            counted = max(counted, len(measured))
            bases.add("runs")
        elif calibration is not None:
            seconds += tokens * calibration * FAMILY_FACTORS[family] * speeds.slowdown(key)
            bases.add("calibration")
        else:
            seconds += tokens * GUESS_SECONDS_PER_TOKEN * FAMILY_FACTORS[family]
            bases.add("guess")
    basis = "guess" if "guess" in bases else "calibration" if "calibration" in bases else "runs"
    return Estimate(seconds=seconds, basis=basis, runs=counted if basis == "runs" else 0)
