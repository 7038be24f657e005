"""Small text rules shared by the whole package: unique labels, counted nouns, the first line of an error,
and the check every spec parser makes first (texts that UTF-8 can hold, nesting that is not absurd)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from core.errors import SpecError

# Terminal control sequences (colours, bold: ESC [ ... m; titles: ESC ] ... BEL) and other control characters.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.?|[\x00-\x08\x0b-\x1f\x7f]")


def unique_labels(labels: Iterable[str], blank: Callable[[str], str] | None = None) -> list[str]:
    """Labels made unique: a repeated label says which occurrence it is, "the (2nd)", "the (3rd)".

    Args:
        labels: the labels, in order.
        blank: how a label that would show as nothing is written instead (for
            example ``"(empty)"``); called on every label, it returns the label
            itself when the label is fine. None keeps labels as they are.
    """
    counts: dict[str, int] = {}
    out = []
    for label in labels:
        base = blank(label) if blank else label
        counts[base] = counts.get(base, 0) + 1
        out.append(base if counts[base] == 1 else f"{base} ({ordinal(counts[base])})")
    return out


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def plain_text(text: str) -> str:
    """Text without terminal colour codes or other control characters (tabs and new lines are kept)."""
    return _CONTROL.sub("", text)


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (for a sentence), or its type name when it has none.

    Terminal colour codes (torch writes some) are removed, so the line reads the same in a browser.
    """
    lines = plain_text(str(getattr(exc, "orig", None) or exc)).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A number with its noun in the right number: "1 slot", "2 slots", "0 slots" (``plural`` if not noun + s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


MAX_SPEC_NESTING = 32
"""The most levels of lists and objects a spec document may nest (a real spec uses about 5)."""


# Characters that break a line or do not print (C0 and C1 controls, line and paragraph separators).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_FIELD_NAME = 200
"""The longest field name (a key: a setting, slot, group or label name) a spec may use."""
MAX_SPEC_WHOLE = 2**64
"""Whole numbers in a spec beyond this size are refused (no setting is that large)."""


def document_problem(doc: Any, max_depth: int = MAX_SPEC_NESTING) -> SpecError | None:
    """The first value of a spec document that no JSON file or database can hold, as a SpecError naming its field.

    Every key and value of ``doc`` is checked without recursion, so a document nested
    100,000 levels deep gets a sentence, not a ``RecursionError``. Refused: a text with
    a lone surrogate such as ``"\\ud800"`` (JSON may spell one, UTF-8 cannot hold it),
    NaN or infinity (which JSON lacks), a whole number beyond :data:`MAX_SPEC_WHOLE`,
    and nesting deeper than ``max_depth``.

    Returns None when the document is fine.
    """
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if not _encodes(value):
                return SpecError(where, "this text holds a character that cannot be written as UTF-8 "
                                        "(a lone surrogate such as \\ud800); remove it.")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            name = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
            return SpecError(where, f"{name} is not a number a spec may hold; give a finite number.")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SPEC_WHOLE:
            return SpecError(where, "this number is too large to use; give a smaller one.")
        if not isinstance(value, (dict, list, tuple)):
            continue
        if depth >= max_depth:
            top = where.split(".", 1)[0]  # the field it starts in: the full path would be max_depth names long
            return SpecError(top, f"this field nests lists and objects more than {max_depth} levels deep; "
                                  "flatten it.")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and not _encodes(key):
                return SpecError(where, "a field name holds a character that cannot be written as UTF-8 "
                                        "(a lone surrogate such as \\ud800); remove it.")
            if isinstance(key, str) and (len(key) > MAX_FIELD_NAME or _UNPRINTABLE.search(key)):
                return SpecError(where, f"the field name {shown(key)} is not a name; keep names to one line "
                                        f"of at most {MAX_FIELD_NAME} characters.")
            name = _safe(str(key))
            stack.append((item, f"{where}.{name}" if where else name, depth + 1))
    return None


def check_document(doc: Any) -> None:
    """Raise :func:`document_problem`'s SpecError when a spec document has one (the spec parsers call this first)."""
    problem = document_problem(doc)
    if problem is not None:
        raise problem


def _encodes(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (it has no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def visible(name: str) -> str:
    """A name with its invisible characters written as escapes: ``fe\\u200bmale`` does not read as ``female``.

    Format characters (zero-width spaces and joiners, direction marks), controls and
    spaces other than the plain one become ``\\uXXXX``, so two names that differ
    only there look different in a sentence.
    """
    out = []
    for ch in name:
        category = unicodedata.category(ch)
        if category in ("Cf", "Cc", "Co", "Cn", "Zl", "Zp") or (category == "Zs" and ch != " "):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def id_list(ids: Sequence[int], shown_at_most: int = 3) -> str:
    """Ids for a sentence, the list cut short: "1, 2, 3" or "1, 2, 3 ... and 9,997 more"."""
    head = ", ".join(str(i) for i in ids[:shown_at_most])
    rest = len(ids) - shown_at_most
    return f"{head} ... and {rest:,} more" if rest > 0 else head


def _safe(name: str, limit: int = 60) -> str:
    """A name or text fit for a sentence: short, on one line, and with any unwritable character replaced."""
    name = name.encode("utf-8", "replace").decode("utf-8")
    name = _UNPRINTABLE.sub(" ", name)
    return name if len(name) <= limit else name[: limit - 3] + "..."


def shown(value: Any, limit: int = 60) -> str:
    """Any JSON value in words for a sentence: a text quoted (and shortened), a number, or its kind.

    Safe for every value: a whole number too long to print (Python refuses more
    than 4,300 digits) is written in short form, and a text that UTF-8 cannot hold
    has the offending characters replaced.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = _safe(value, limit)
        return f"'{text}'"
    if isinstance(value, int):
        if abs(value) < 10**15:
            return f"{value:,}"
        return f"{float(value):.3g}" if abs(value) < 10**308 else "a number too large to use"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"
