"""A bias study's specification: the item file, its type and column mapping, the models, the scoring options.

::

    {
      "kind": "study",
      "item_type": "pairs",                      # pairs, questions or templates (core.probes.studies.items)
      "items": {"format": "csv", "text": "sent_more,sent_less,...\\n..."},
      "columns": {"more": "sent_more"},          # field -> column, over the defaults
      "models": ["default", "HuggingFaceTB/SmolLM2-360M-Instruct"],   # one to four; the first is the baseline
      "normalise": "sum",                        # sum (lm-eval's), per_token or per_char
      "unknown_answers": "lm_eval",              # questions: lm-eval's ten "can't tell" answers, or as_given
      "skip_bad_rows": false,                    # true: run the valid rows and list the others
      "bootstrap": 1000, "level": 0.95, "seed": 0
    }

The file travels inside the spec (an upload is data, never a path), so a saved study can be run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import SpecError
from core.models.request import parse_model
from core.probes.studies.items import ITEM_TYPES, BadRow, Item, read_items, with_unknown_answers
from core.probes.studies.metrics import NORMALISATIONS
from core.text import check_document

FIELDS = {
    "kind",
    "item_type",
    "items",
    "columns",
    "model",
    "models",
    "normalise",
    "unknown_answers",
    "skip_bad_rows",
    "bootstrap",
    "level",
    "seed",
}
MAX_MODELS = 4
BAD_ROWS_SHOWN = 5


@dataclass(frozen=True)
class StudySpec:
    """A parsed study spec.

    Attributes:
        raw: the spec document with its defaults filled in.
        item_type: pairs, questions or templates.
        items: the valid items (questions with lm-eval's unknown answers when asked).
        bad: the rows left out, each naming its row and column.
        models: the models' spec values (the first is the baseline the others are compared with).
        normalise: sum, per_token or per_char.
        bootstrap, level, seed: the statistics' resamples, interval level and random seed.
    """

    raw: dict[str, Any]
    item_type: str
    items: tuple[Item, ...]
    bad: tuple[BadRow, ...]
    models: tuple[Any, ...]
    normalise: str
    bootstrap: int
    level: float
    seed: int


def _int(doc: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(key, f"give a whole number from {low:,} to {high:,}.")
    return value


def _models(doc: dict[str, Any]) -> list[Any]:
    given = doc.get("models")
    if given is None:
        given = [doc.get("model", "default")]
    if not isinstance(given, list) or not 1 <= len(given) <= MAX_MODELS:
        raise SpecError("models", f"give one to {MAX_MODELS} models in a list.")
    models = [parse_model(m, "models").document() for m in given]
    seen = [str(m) for m in models]
    if len(set(seen)) < len(seen):
        raise SpecError("models", "a model is listed twice; list each model once.")
    return models


def parse_study_spec(doc: Any) -> StudySpec:
    """Validate a study spec, read its item file and fill in defaults.

    Raises:
        SpecError: a field that cannot run, or (without ``skip_bad_rows``) a bad row, named by row and column.
    """
    if not isinstance(doc, dict):
        raise SpecError("", "the spec must be a JSON object.")
    check_document(doc)
    for key in doc:
        if key not in FIELDS:
            raise SpecError(key, f"unknown field; a study spec takes {', '.join(sorted(FIELDS))}.")
    if doc.get("kind") != "study":
        raise SpecError("kind", "a study spec has kind study.")
    item_type = doc.get("item_type", "pairs")
    if item_type not in ITEM_TYPES:
        raise SpecError("item_type", f"{item_type!r} is not an item type; use pairs, questions or templates.")
    source = doc.get("items")
    if not isinstance(source, dict) or not isinstance(source.get("text"), str):
        raise SpecError("items", 'give the item file as {"format": "csv" or "jsonl", "text": its content}.')
    fmt = source.get("format", "csv")
    columns = doc.get("columns") or {}
    if not isinstance(columns, dict):
        raise SpecError("columns", "give the columns as an object: field -> column name.")
    normalise = doc.get("normalise", "sum")
    if normalise not in NORMALISATIONS:
        raise SpecError("normalise", f"{normalise!r} is not a normalisation; use sum, per_token or per_char.")
    unknown = doc.get("unknown_answers", "lm_eval")
    if unknown not in ("lm_eval", "as_given"):
        raise SpecError(
            "unknown_answers", "use lm_eval (the ten unknown answers lm-eval offers) or as_given."
        )
    skip = doc.get("skip_bad_rows", False)
    if not isinstance(skip, bool):
        raise SpecError("skip_bad_rows", "give true or false.")
    level = doc.get("level", 0.95)
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.5 <= level < 1:
        raise SpecError("level", "give the interval level as a number from 0.5 to 0.999.")
    bootstrap = _int(doc, "bootstrap", 1000, 100, 20_000)
    seed = _int(doc, "seed", 0, 0, 2**31 - 1)
    models = _models(doc)
    read = read_items(source["text"], fmt, item_type, columns)
    if read.bad and not skip:
        shown = "; ".join(b.words() for b in read.bad[:BAD_ROWS_SHOWN])
        more = f" (and {len(read.bad) - BAD_ROWS_SHOWN} more)" if len(read.bad) > BAD_ROWS_SHOWN else ""
        raise SpecError(
            "items",
            f"{len(read.bad)} row{'s' if len(read.bad) != 1 else ''} cannot be read: {shown}{more}. Fix them, "
            f"or skip bad rows to run the {len(read.items)} valid ones.",
        )
    if not read.items:
        raise SpecError("items", "no row of the file is a valid item.")
    items = read.items
    if unknown == "lm_eval":
        items = [with_unknown_answers(item) for item in items]
    raw = {
        "kind": "study",
        "item_type": item_type,
        "items": {"format": fmt, "text": source["text"]},
        "columns": dict(columns),
        "model": models[0],
        "models": models,
        "normalise": normalise,
        "unknown_answers": unknown,
        "skip_bad_rows": skip,
        "bootstrap": bootstrap,
        "level": float(level),
        "seed": seed,
    }
    return StudySpec(
        raw, item_type, tuple(items), tuple(read.bad), tuple(models), normalise, bootstrap, float(level), seed
    )
