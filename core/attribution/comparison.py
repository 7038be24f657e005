"""Compare methods on one prompt: the ``compare`` run kind (spec, runner, result).

A compare spec is an attribution spec with ``methods`` (a list of method objects,
as an attribution spec's ``method``) instead of ``method``::

    {"kind": "compare", "model": "default", "prompt": {...}, "target": {...},
     "methods": [{"name": "feature_ablation"}, {"name": "shapley"},
                 {"name": "kernel_shap", "n_samples": 64}, {"name": "integrated_gradients"}]}

Every method explains the same prompt and target. The perturbation methods share
one ``PromptValues``, so a prompt two methods need (and their faithfulness curves
need) is scored once; gradient methods attribute to the same features
(``aggregate: feature``). Each method's faithfulness is checked; the result is a
table (method, seconds, forward passes, deletion and insertion AOPC, rank agreement
with exact Shapley when it is among the methods) and a sentence naming the most
faithful method.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from scipy.stats import kendalltau, spearmanr

from core.attribution.engine import prepare, run_perturbation
from core.attribution.gradient import run_gradient
from core.attribution.methods import METHODS
from core.attribution.prompt_values import PromptValues
from core.attribution.scorer import Progress, ShouldStop
from core.attribution.spec import RunSpec, parse_spec
from core.errors import SpecError
from core.models.loading import LoadedModel, load_model
from core.result_json import JsonResult
from core.runs.meta import RunClock, run_meta

DEFAULT_METHODS = ("feature_ablation", "shapley", "shapley_sampling", "kernel_shap", "lime", "input_x_gradient")
"""Compared when a spec names none (integrated gradients is left out: 50 steps take minutes on a CPU)."""
MAX_METHODS = 12
REFERENCE = "shapley"
"""Rank agreement is measured against this method (exact Shapley values) when it is compared."""


@dataclass
class CompareSpec:
    """A validated compare spec: one attribution ``RunSpec`` per method, and the document as run."""

    runs: list[RunSpec]
    labels: list[str]
    raw: dict[str, Any]


def _label(method: dict[str, Any], seen: dict[str, int]) -> str:
    name = method["name"]
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name} #{seen[name]}"


def parse_compare_spec(doc: Any) -> CompareSpec:
    """Validate a compare spec: each method as an attribution spec over the same prompt (``SpecError`` names the field)."""
    if not isinstance(doc, dict):
        raise SpecError("", "the spec must be a JSON object.")
    methods = doc.get("methods", list(DEFAULT_METHODS))
    if not isinstance(methods, list) or not methods:
        raise SpecError("methods", 'give a list of methods, e.g. ["feature_ablation", {"name": "shapley"}].')
    if len(methods) > MAX_METHODS:
        raise SpecError("methods", f"compare at most {MAX_METHODS} methods at once (there are {len(methods)}).")
    if "method" in doc:
        raise SpecError("method", "a compare spec lists its methods in methods, not method.")
    base = {k: v for k, v in doc.items() if k not in ("methods", "kind")}
    base["faithfulness"] = True
    runs: list[RunSpec] = []
    normal: list[dict[str, Any]] = []
    for i, method in enumerate(methods):
        method = {"name": method} if isinstance(method, str) else method
        if not isinstance(method, dict):
            raise SpecError(f"methods[{i}]", 'give a method name or an object like {"name": "lime"}.')
        method = dict(method)
        info = METHODS.get(method.get("name"))  # type: ignore[arg-type]
        if info is not None and info.family == "gradient":
            if method.get("aggregate", "feature") != "feature":
                raise SpecError(f"methods[{i}].aggregate", "compared gradient methods attribute to features.")
            method["aggregate"] = "feature"
        try:
            run = parse_spec({**copy.deepcopy(base), "method": method})
        except SpecError as exc:
            where = exc.field if not exc.field.startswith("method") else f"methods[{i}]{exc.field[6:]}"
            raise SpecError(where, exc.sentence) from None
        runs.append(run)
        normal.append(run.raw["method"])
    if len({repr(sorted(m.items())) for m in normal}) != len(normal):
        raise SpecError("methods", "a method is listed twice with the same settings; list each once.")
    raw = {k: v for k, v in runs[0].raw.items() if k not in ("method", "faithfulness")}
    raw = {"kind": "compare", **{k: v for k, v in raw.items() if k != "kind"}, "methods": normal}
    seen: dict[str, int] = {}
    return CompareSpec(runs, [_label(m, seen) for m in normal], raw)


def rank_agreement(a: list[float], b: list[float]) -> tuple[float | None, float | None]:
    """Spearman's and Kendall's rank correlation of two attributions (None where undefined)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    rho = float(spearmanr(a, b).statistic)
    tau = float(kendalltau(a, b).statistic)
    return (rho if np.isfinite(rho) else None), (tau if np.isfinite(tau) else None)


def _names(rows: list[dict[str, Any]]) -> str:
    names = [str(r["method"]) for r in rows]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def most_faithful(rows: list[dict[str, Any]]) -> str:
    """One sentence naming the method whose attribution explains the model best on this prompt.

    Methods are ranked by their gain over random orders (deletion AOPC minus random plus
    insertion AOPC minus random: the same target and features for every method, so the
    gains compare directly). A method is named only when it beats random orders on both
    curves; a method worse than random on either is never recommended, and when none beats
    random the sentence says so. Rows without gains (older results) are ranked by the sum
    of the areas, as before.
    """
    gained = [r for r in rows if r.get("gain_deletion") is not None and r.get("gain_insertion") is not None]
    if not gained:
        return _most_faithful_by_area(rows)
    better = [r for r in gained if r["gain_deletion"] > 0 and r["gain_insertion"] > 0]
    worse = [r for r in gained if r not in better]
    if not better:
        return (
            f"No method beats random orders on this prompt: {_names(worse)} "
            f"{'does' if len(worse) == 1 else 'do'} no better than removing or adding the parts in a random "
            "order on deletion or insertion, so none of these pictures can be trusted to explain the model here."
        )
    ranked = sorted(better, key=lambda r: -(r["gain_deletion"] + r["gain_insertion"]))
    best = ranked[0]
    sentence = (
        f"On this prompt {best['method']} explains the model most faithfully: it beats random orders by "
        f"{best['gain_deletion']:.3g} on deletion and {best['gain_insertion']:.3g} on insertion (AOPC minus random)."
    )
    if len(ranked) > 1:
        sentence += f" Next: {_names(ranked[1:])}."
    if worse:
        verb = "does" if len(worse) == 1 else "do"
        them = "it" if len(worse) == 1 else "them"
        sentence += f" {_names(worse)} {verb} worse than random orders on deletion or insertion; do not rely on {them} here."
    return sentence


def _most_faithful_by_area(rows: list[dict[str, Any]]) -> str:
    """The sentence of a result without gains over random: the largest sum of deletion and insertion AOPC."""
    scored = [r for r in rows if r.get("aopc_deletion") is not None and r.get("aopc_insertion") is not None]
    if not scored:
        return "No method's faithfulness could be checked."
    best = max(scored, key=lambda r: r["aopc_deletion"] + r["aopc_insertion"])
    return (
        f"On this prompt {best['method']} has the largest deletion and insertion areas ({best['aopc_deletion']:.3g} "
        f"and {best['aopc_insertion']:.3g}); this run did not record how random orders do, so it cannot say "
        "whether any method beats them."
    )


@dataclass
class CompareResult(JsonResult):
    """Several methods on one prompt (``JsonResult`` gives ``kind``, ``format`` and the JSON round trip).

    Attributes:
        spec: the compare spec as run (defaults filled in).
        features / output_tokens / target: as an attribution result's (shared by every method).
        rows: one per method: method, name, seconds, forward_passes (new prompts this method added to
            the shared scorer, faithfulness included), alone_passes (what it would score on its own),
            aopc_deletion, aopc_insertion, ratio_deletion, ratio_insertion, spearman, kendall.
        results: each method's attribution result (``RunResult.to_dict()``), in the order of ``rows``.
        forward_passes_shared / forward_passes_alone: all methods together, shared and one by one.
        sentence: names the most faithful method.
        meta: model, forward passes, seconds, version.
    """

    result_kind: ClassVar[str] = "compare"
    document_name: ClassVar[str] = "WhyLM method comparison"

    spec: dict[str, Any]
    features: list[str]
    output_tokens: list[str]
    target: dict[str, Any]
    rows: list[dict[str, Any]]
    results: list[dict[str, Any]]
    forward_passes_shared: int
    forward_passes_alone: int
    sentence: str
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def spec_document(cls, doc: Any) -> dict[str, Any]:
        """The compare spec as the engine runs it; ``SpecError`` if it cannot run."""
        return parse_compare_spec(doc).raw

    def check(self) -> None:
        """Refuse a comparison whose rows, results and features do not agree."""
        if len(self.rows) != len(self.results):
            raise self.refuse(f"it has {len(self.rows)} rows for {len(self.results)} results")
        for i, res in enumerate(self.results):
            if len(res.get("seq_attr") or []) != len(self.features):
                raise self.refuse(f"its results[{i}] has not one number per feature")


class _Recorder:
    """A ``PromptValues`` seen by one method: passes every call on, and records the texts asked for."""

    def __init__(self, shared: PromptValues) -> None:
        self.shared = shared
        self.asked: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shared, name)

    def __contains__(self, text: str) -> bool:
        return text in self.shared

    def values(self, texts: list[str], poll: Any) -> np.ndarray:
        self.asked.update(texts)
        return self.shared.values(texts, poll)


def _row(label: str, run: RunSpec, out: dict[str, Any], seconds: float, passes: int, alone: int) -> dict[str, Any]:
    seq = (out.get("faithfulness") or {}).get("sequence") or {}
    return {
        "method": label,
        "name": run.method_name,
        "seconds": round(seconds, 4),
        "forward_passes": passes,
        "alone_passes": alone,
        "aopc_deletion": seq.get("aopc_deletion"),
        "aopc_insertion": seq.get("aopc_insertion"),
        "ratio_deletion": seq.get("ratio_deletion"),
        "ratio_insertion": seq.get("ratio_insertion"),
        "gain_deletion": seq.get("gain_deletion"),
        "gain_insertion": seq.get("gain_insertion"),
        "spearman": None,
        "kendall": None,
    }


def run_compare(
    spec_doc: dict[str, Any] | CompareSpec,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    lm: LoadedModel | None = None,
    loader: Callable[[str], LoadedModel] = load_model,
) -> CompareResult:
    """Run every method of a compare spec on one prompt, sharing one scorer cache; the comparison.

    Args:
        spec_doc: the compare spec document (or a parsed ``CompareSpec``).
        progress / should_stop: as ``core.engine.run``.
        lm / loader: an already loaded model, or how to load one by name.
    """
    from core.attribution.result import RunResult

    clock = RunClock()
    spec = spec_doc if isinstance(spec_doc, CompareSpec) else parse_compare_spec(spec_doc)
    first = spec.runs[0]
    lm = clock.load(first.model, lm, loader)
    rows: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    with lm.lock.job():
        ctx = prepare(first, lm, progress, should_stop)
        shared = PromptValues(lm, ctx.layout.chat, ctx.target, first.score, progress, should_stop)
        per_prompt = 2 if ctx.target.contrast_ids else 1
        for label, run in zip(spec.labels, spec.runs):
            started = time.perf_counter()
            method_ctx = replace(ctx, spec=run)
            if run.method.family == "gradient":
                out = run_gradient(method_ctx)
                extra = (out.get("faithfulness") or {}).get("extra_prompts", 0) * per_prompt
                passes = alone = int(out["forward_passes"]) + extra
            else:
                before = shared.forward_passes
                recorder = _Recorder(shared)
                out = run_perturbation(method_ctx, recorder)  # type: ignore[arg-type]
                passes = shared.forward_passes - before
                alone = len(recorder.asked) * per_prompt
            seconds = time.perf_counter() - started
            features = out.pop("features", ctx.layout.labels)
            feature_tokens = out.pop("feature_tokens", ctx.feature_tokens)
            meta = {"method": run.method_name, "forward_passes": out.pop("forward_passes"),
                    "model_calls": out.pop("model_calls", None), "seconds": round(seconds, 4),
                    **{key: out.pop(key) for key in ("tokens_processed", "tokens_whole") if key in out}}
            result = RunResult(
                kind="attribution", spec=run.raw, features=features, output_tokens=ctx.target.output_tokens,
                prompt_tokens=ctx.prompt_tokens, feature_tokens=feature_tokens, target=ctx.target.to_dict(),
                meta=meta, **out,
            )
            rows.append(_row(label, run, out, seconds, passes, alone))
            results.append(result.to_dict())
    reference = next((r for r, row in zip(results, rows) if row["name"] == REFERENCE), None)
    if reference is not None:
        for row, res in zip(rows, results):
            row["spearman"], row["kendall"] = rank_agreement(res["seq_attr"], reference["seq_attr"])
    shared_total = sum(r["forward_passes"] for r in rows)
    alone_total = sum(r["alone_passes"] for r in rows)
    meta = run_meta(
        lm, first.model, "compare", clock, n_features=len(ctx.layout.labels), trials=first.trials,
        forward_passes=shared_total, methods=len(rows),
    )
    return CompareResult(
        kind="compare",
        spec=spec.raw,
        features=list(ctx.layout.labels),
        output_tokens=ctx.target.output_tokens,
        target=ctx.target.to_dict(),
        rows=rows,
        results=results,
        forward_passes_shared=shared_total,
        forward_passes_alone=alone_total,
        sentence=most_faithful(rows),
        meta=meta,
    )
