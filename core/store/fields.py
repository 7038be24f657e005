"""Checking and deriving the columns of a run before it is saved."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from core.store.errors import StoreError
from core.store.models import RUN_STATUSES, VERDICTS

MAX_TAG_LENGTH = 100
MAX_TITLE_LENGTH = 500
# The widths of the text columns (``core.store.models``): an import longer than these is refused.
MAX_LENGTHS = {"model_name": 500, "model_revision": 200, "method": 100, "error": 100_000, "author": 200,
               "text": 100_000}
MAX_DOCUMENT_DEPTH = 32
"""The most levels of lists and objects in a saved document (a computed result uses about 6)."""
MAX_DOCUMENT_TEXT = 100_000
"""The most characters of any text inside a saved document."""
MAX_WHOLE_NUMBER = 2**63
"""Whole numbers beyond this size in a document cannot be a count, an index or a float."""
MAX_SECONDS = 1e9
"""The longest run time a run may state (about 30 years)."""


def clean_title(title: Any) -> str:
    """Return the title stripped; refuse an empty or overlong one."""
    if not isinstance(title, str) or not title.strip():
        raise StoreError("A run needs a title: give it a few words that say what it shows.")
    title = title.strip()
    if len(title) > MAX_TITLE_LENGTH:
        raise StoreError(f"The title is longer than {MAX_TITLE_LENGTH} characters; shorten it.")
    return title


def clean_tags(tags: Iterable[str] | str | None) -> tuple[str, ...]:
    """Return the tags stripped, without empties or repeats, in their first-seen order."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    seen: dict[str, None] = {}
    for tag in tags:
        if not isinstance(tag, str):
            raise StoreError(f"The tag {tag!r} is not text; tags are short words like 'bias'.")
        tag = tag.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise StoreError(f"The tag {tag[:20]!r}... is longer than {MAX_TAG_LENGTH} characters.")
        seen.setdefault(tag, None)
    return tuple(seen)


def clean_status(status: Any) -> str:
    """Return the status if it is one of ``RUN_STATUSES`` ("done", "failed", "stopped", "interrupted")."""
    if status not in RUN_STATUSES:
        raise StoreError(f"The status {status!r} is not one of {', '.join(RUN_STATUSES)}.")
    return status


def clean_kind(kind: Any) -> str:
    """Return the run kind (one of ``core.kinds.RUN_KINDS``: "attribution", "bias", "few_shot")."""
    if not isinstance(kind, str) or not kind.strip() or len(kind.strip()) > 32:
        raise StoreError(f"The run kind {kind!r} must be a short name such as 'attribution'.")
    return kind.strip()


def clean_verdict(verdict: Any) -> str:
    """Return the verdict if it is "ok", "concern" or "needs review"."""
    if verdict not in VERDICTS:
        raise StoreError(f"The verdict {verdict!r} is not one of: {', '.join(VERDICTS)}.")
    return verdict


def dump_document(doc: Any, what: str) -> str:
    """Return ``doc`` as JSON text; refuse anything that would not load back equal."""
    try:
        return json.dumps(doc)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"The run's {what} cannot be saved as JSON ({exc}).") from None


def _name_of(value: Any) -> str | None:
    """Return a name from a string or from a dict with "name" / "id"."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, dict):
        for key in ("name", "id", "model_name"):
            if isinstance(value.get(key), str) and value[key].strip():
                return value[key].strip()
    return None


def _meta(result: dict[str, Any] | None) -> dict[str, Any]:
    """Return the result's "meta" dict, or an empty one."""
    meta = result.get("meta") if isinstance(result, dict) else None
    return meta if isinstance(meta, dict) else {}


def derive_model_name(spec: dict[str, Any], result: dict[str, Any] | None) -> str:
    """Return the model name from the result's meta, else from the spec ("" if neither)."""
    return _name_of(_meta(result).get("model_name")) or _name_of(spec.get("model")) or ""


def derive_model_revision(spec: dict[str, Any], result: dict[str, Any] | None) -> str | None:
    """Return the model revision from the result's meta or the spec's model, if given."""
    meta = _meta(result)
    for value in (meta.get("model_revision"), meta.get("revision")):
        if isinstance(value, str) and value:
            return value[:200]
    model = spec.get("model")
    if isinstance(model, dict) and isinstance(model.get("revision"), str):
        return model["revision"][:200] or None
    return None


def derive_method(spec: dict[str, Any], result: dict[str, Any] | None) -> str | None:
    """Return the method name from the spec's method, else from the result's meta."""
    name = _name_of(spec.get("method")) or _name_of(_meta(result).get("method"))
    return name[:100] if name else None


def derive_seconds(result: dict[str, Any] | None) -> float | None:
    """Return the run's duration from the result's meta, if it is a finite number."""
    value = _meta(result).get("seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def default_title(spec: dict[str, Any], kind: str) -> str:
    """Return a title for a run saved without one: the start of its prompt, or kind + model."""
    if not isinstance(spec, dict):
        return f"{kind} run"
    prompt = spec.get("prompt")
    text = None
    if isinstance(prompt, str):
        text = prompt
    elif isinstance(prompt, dict):
        for key in ("text", "template"):
            if isinstance(prompt.get(key), str):
                text = prompt[key]
                break
    text = " ".join(text.split()) if text else ""
    if text:
        return text if len(text) <= 80 else text[:79] + "…"
    model = _name_of(spec.get("model"))
    return f"{kind} run" + (f" on {model}" if model else "")


def length_problem(value: str | None, column: str) -> str | None:
    """What is wrong with a text for ``column`` (None when it fits ``MAX_LENGTHS``), after "has"."""
    limit = MAX_LENGTHS[column]
    if value is not None and len(value) > limit:
        return f"a {column} of {len(value):,} characters, more than {limit:,}"
    return None


def seconds_problem(value: Any) -> str | None:
    """What is wrong with a run time in seconds (None when it is a number from 0 to ``MAX_SECONDS``), after "has"."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "seconds that are not a number"
    if not 0 <= value <= MAX_SECONDS:  # also nan; a huge whole number compares without overflow
        shown = "a number too large to use" if isinstance(value, int) else repr(value)
        return f"seconds of {shown}, not a time from 0 to {MAX_SECONDS:.0e}"
    return None


def document_problem(doc: Any) -> str | None:
    """What makes ``doc`` unfit to save (None when it is fine): nesting, long texts, huge numbers.

    Walks the document without recursion, so a document nested thousands of levels deep is
    refused rather than crashing the walk.
    """
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_DOCUMENT_TEXT:
                return f"holds a text of {len(value):,} characters, more than {MAX_DOCUMENT_TEXT:,}"
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_WHOLE_NUMBER:
                return "holds a number too large to use"
        elif isinstance(value, (list, dict)):
            if depth >= MAX_DOCUMENT_DEPTH:
                return f"nests lists and objects more than {MAX_DOCUMENT_DEPTH} levels deep"
            if isinstance(value, dict):
                if any(not isinstance(key, str) or len(key) > MAX_DOCUMENT_TEXT for key in value):
                    return "has a key that is not short text"
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)
        elif value is not None and not isinstance(value, (bool, float)):
            return f"holds a {type(value).__name__}, which is not JSON"
    return None
