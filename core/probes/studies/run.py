"""Running a bias study: every item scored by each model (one to four), then the tables and the comparisons.

The first model is the baseline: every other model is compared with it item by item
(``core.probes.studies.analysis.paired_table``). Scores of finished batches are stored as they finish
(``core.probes.studies.checkpoint``), so running a stopped study again scores only what it had not; once a
finished study is saved, its batches are removed (:func:`forget_study_batches`, the kind's ``after_save``).
Progress counts items over all models (:func:`study_progress_words` says it in words).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.errors import SpecError, WhyLMError
from core.models.loading import load_model
from core.probes.studies.analysis import model_table, outcomes, paired_table
from core.probes.studies.checkpoint import Checkpoint
from core.probes.studies.items import BadRow, Item
from core.probes.studies.reading import comparison_sentence, summary_lines
from core.probes.studies.scoring import ModelScores, item_keys, score_items
from core.probes.studies.spec import StudySpec, parse_study_spec
from core.result_json import JsonResult
from core.runs.meta import RunClock, check_same_model, run_meta

__all__ = ["StudyResult", "forget_study_batches", "run_study", "study_progress_words"]

log = logging.getLogger("whylm.studies")


@dataclass
class StudyResult(JsonResult):
    """The result of a bias study.

    Attributes:
        kind: "study".
        spec: the spec as run (``parse_study_spec(doc).raw``).
        item_type: pairs, questions or templates.
        models: per model: its spec value, display name, revision and ``checkpoint`` (its key in the stored
            batches) (the first is the baseline).
        items: per item: row, category, kind, options (texts), contexts (a pair's) or prompt (a question's),
            targets, biased, unknown, ambiguous, direction.
        scores: per model: ``sums`` and ``tokens`` (per item, per option).
        tables: per model: its rows (each category, then all items) of metrics, intervals and tests.
        comparisons: per model after the first: its paired table against the first, and its regressions.
        bad_rows: the rows left out, each a sentence naming its row and column.
        summary: plain-words sentences.
        meta: model, time, items scored now and taken from stored batches, ...
    """

    result_kind: ClassVar[str] = "study"
    document_name: ClassVar[str] = "WhyLM study result"

    spec: dict[str, Any]
    item_type: str
    models: list[dict[str, Any]]
    items: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    tables: list[list[dict[str, Any]]]
    comparisons: list[dict[str, Any]]
    bad_rows: list[str]
    summary: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def spec_document(cls, doc: Any) -> dict[str, Any]:
        """The study spec as run; ``SpecError`` if it cannot run."""
        return parse_study_spec(doc).raw

    def check(self) -> None:
        """Refuse a result whose scores or tables do not match its models and items."""
        if len(self.scores) != len(self.models) or len(self.tables) != len(self.models):
            raise self.refuse("its scores or tables do not match its models")
        for k, entry in enumerate(self.scores):
            if len(entry.get("sums", [])) != len(self.items):
                raise self.refuse(f"its scores[{k}] do not match its items")


def item_entry(item: Item) -> dict[str, Any]:
    """An item as the result keeps it (option texts as written, without the space put before an answer)."""
    entry: dict[str, Any] = {
        "row": item.row,
        "category": item.category,
        "kind": item.kind,
        "options": [
            o.continuation[1:] if o.context and o.continuation.startswith(" ") else o.continuation
            for o in item.options
        ],
        "targets": list(item.targets),
        "biased": list(item.biased),
        "unknown": list(item.unknown),
        "ambiguous": item.ambiguous,
        "direction": item.direction,
    }
    if item.kind == "question":
        entry["prompt"] = item.options[0].context
    else:
        entry["contexts"] = [o.context for o in item.options]
    return entry


def _model(spec_value: Any, lm: Any, loader: Any, clock: RunClock) -> Any:
    if lm is not None:
        try:
            check_same_model(spec_value, lm)
            return lm
        except SpecError:
            pass
    return clock.load(spec_value, None, loader)


def analyse(
    item_type: str,
    items: list[dict[str, Any]],
    names: list[str],
    scores: list[dict[str, Any]],
    normalise: str,
    bootstrap: int,
    level: float,
    seed: int,
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]], list[str]]:
    """The tables, comparisons against the first model and summary of scored items (a run's or saved runs')."""
    outs = [outcomes(items, s["sums"], s["tokens"], normalise) for s in scores]
    tables = [model_table(items, out, bootstrap, level, seed) for out in outs]
    comparisons = []
    summary = summary_lines(item_type, names, tables, level)
    for k in range(1, len(outs)):
        paired = paired_table(items, outs[0], outs[k], bootstrap, level, seed)
        comparisons.append({"model": k, **paired})
        summary.append(comparison_sentence(names[0], names[k], paired["categories"][-1], level))
    return tables, comparisons, summary


def run_study(
    spec_doc: dict[str, Any] | StudySpec,
    progress: Any = None,
    should_stop: Any = None,
    lm: Any = None,
    loader: Any = load_model,
) -> StudyResult:
    """Run a study spec and return its result.

    Args:
        spec_doc: the spec document (``core.probes.studies.spec``) or its parsed spec.
        progress: called with (items scored, items in all) over all models, at each model's start and after
            each batch: with two models of 40 items, 40 of 80 is the first model done.
        should_stop: polled between batches; True stops the run (``Cancelled``); finished batches stay stored.
        lm: an already loaded model, used for the spec's first model when it has the same name (the
            dashboard's sidebar model); the others are loaded (one of the same name may differ in precision).
        loader: loads the other models by name.
    """
    clock = RunClock()
    spec = spec_doc if isinstance(spec_doc, StudySpec) else parse_study_spec(spec_doc)
    items = list(spec.items)
    per_model = len(items)
    total = per_model * len(spec.models)
    models, results, first_lm = [], [], None
    for k, value in enumerate(spec.models):
        model = _model(value, lm if k == 0 else None, loader, clock)
        first_lm = first_lm or model
        offset = k * per_model

        def step(done: int, _total: int, offset: int = offset) -> None:
            """This model's progress as the whole study's (the models before it done)."""
            if progress is not None:
                progress(offset + done, total)

        with model.lock.job():
            scored: ModelScores = score_items(model, items, step, should_stop)
        models.append(
            {
                "model": value,
                "name": model.display_name,
                "revision": model.revision,
                "checkpoint": scored.checkpoint,
            }
        )
        results.append(scored)
    unscorable = {b.row: b for r in results for b in r.bad}
    bad: list[BadRow] = list(spec.bad) + sorted(unscorable.values(), key=lambda b: b.row)
    if unscorable and not spec.raw["skip_bad_rows"]:
        first = next(iter(sorted(unscorable.values(), key=lambda b: b.row)))
        raise SpecError("items", f"{first.words()} Fix it, or skip bad rows.")
    keep = [i for i, item in enumerate(items) if item.row not in unscorable]
    entries = [item_entry(items[i]) for i in keep]
    scores = [{"sums": [r.sums[i] for i in keep], "tokens": [r.tokens[i] for i in keep]} for r in results]
    names = [m["name"] for m in models]
    tables, comparisons, summary = analyse(
        spec.item_type, entries, names, scores, spec.normalise, spec.bootstrap, spec.level, spec.seed
    )
    return StudyResult(
        kind="study",
        spec=spec.raw,
        item_type=spec.item_type,
        models=models,
        items=entries,
        scores=scores,
        tables=tables,
        comparisons=comparisons,
        bad_rows=[b.words() for b in bad],
        summary=summary,
        meta=run_meta(
            first_lm,
            spec.models[0],
            "study",
            clock,
            n_items=len(entries),
            n_models=len(models),
            items_scored_now=[r.scored_now for r in results],
            items_from_stored_batches=[len(items) - r.scored_now for r in results],
            scoring_seconds=[round(r.seconds, 3) for r in results],
        ),
    )


def study_progress_words(spec: dict[str, Any], done: int, total: int) -> str:
    """A running study's progress in words, from what :func:`run_study` reports (items over all models).

    "12 of 40 items scored (model 1 of 2)"; with one model, "12 of 40 items scored".
    """
    given = spec.get("models") if isinstance(spec, dict) else None
    n_models = len(given) if isinstance(given, list) and given else 1
    per_model = max(total // n_models, 1)
    model = min(done // per_model, n_models - 1)
    scored = min(done - model * per_model, per_model)
    which = f" (model {model + 1} of {n_models})" if n_models > 1 else ""
    return f"{scored:,} of {per_model:,} items scored{which}"


def forget_study_batches(result: dict[str, Any]) -> int:
    """Once a finished study is saved: remove its items' stored batches, model by model; how many were removed.

    A stopped or unfinished study keeps them (it continues where it stopped); a finished one is in the
    run store, so they are no longer needed. The file stays usable if this fails (it is logged).
    """
    models = result.get("models") if isinstance(result, dict) else None
    keys = [m["checkpoint"] for m in models or [] if isinstance(m, dict) and m.get("checkpoint")]
    if not keys:
        return 0
    try:
        spec = parse_study_spec(result["spec"])
        items = item_keys(list(spec.items))
        return sum(Checkpoint(key).forget(items) for key in keys)
    except (WhyLMError, KeyError, OSError, sqlite3.Error) as exc:
        log.warning("a finished study's stored batches were not removed: %s", exc)
        return 0
