"""Items of a bias study, read from a CSV or JSON-lines file given as text or bytes (an upload is data, never a path).

Three item types, each with a column mapping (``FIELDS``: the field, the column it is read from by
default, whether it must be there). A spec's ``columns`` maps a field to another column name.

- ``pairs`` (minimal pairs, CrowS-Pairs's own columns): ``more`` <- ``sent_more`` (the more-stereotyped
  sentence), ``less`` <- ``sent_less``, ``category`` <- ``bias_type``, ``direction`` <- ``stereo_antistereo``.
  Each sentence is scored whole after the model's start token, as lm-eval's ``crows_pairs`` does.
- ``questions`` (BBQ-style): ``context``, ``question``, ``options`` <- ``ans0``, ``ans1``, ``ans2`` (a JSON list
  in JSON lines, or the three columns), ``label`` (the index of the right answer), ``context_condition``
  (``ambig`` or ``disambig``), ``category``, ``biased`` <- ``biased_answers`` (the biased answer's text, several
  separated by ``|``, or a JSON list). Prompt "{context}\\n\\nQ: {question}\\nA:", each option after a space (BBQ's
  task in lm-eval).
- ``templates``: ``template`` with ``{group}`` where a group goes, ``more`` / ``less`` (the stereotyped group's
  value and the other's), ``candidate`` (optional: the continuation scored after the filled template; without
  it the filled sentences are scored whole, as pairs), ``category``.

Rows are numbered from 1 (the first data row; a CSV's header is not counted). A row that cannot be read
becomes a :class:`BadRow` naming its row and column; the valid rows are kept.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from core.errors import SpecError

ITEM_TYPES = ("pairs", "questions", "templates")
MAX_ITEMS = 20_000
"""The most items one study reads (a larger file is refused with a sentence; split it)."""
MAX_BYTES = 20_000_000

FIELDS: dict[str, list[tuple[str, str, bool]]] = {
    "pairs": [
        ("more", "sent_more", True),
        ("less", "sent_less", True),
        ("category", "bias_type", False),
        ("direction", "stereo_antistereo", False),
    ],
    "questions": [
        ("context", "context", True),
        ("question", "question", True),
        ("options", "ans0,ans1,ans2", True),
        ("label", "label", True),
        ("context_condition", "context_condition", True),
        ("category", "category", False),
        ("biased", "biased_answers", True),
    ],
    "templates": [
        ("template", "template", True),
        ("more", "more", True),
        ("less", "less", True),
        ("candidate", "candidate", False),
        ("category", "category", False),
    ],
}
"""Per item type: (field, default column, required). ``options``' default is three columns, comma-separated."""

FIELD_WORDS = {
    "more": "the more-stereotyped sentence (or group)",
    "less": "the less-stereotyped sentence (or group)",
    "category": "the bias category",
    "direction": "stereotype or anti-stereotype",
    "context": "the question's context",
    "question": "the question",
    "options": "the answer options",
    "label": "the right answer's index",
    "context_condition": "ambig or disambig",
    "biased": "the biased answer",
    "template": "the template with {group}",
    "candidate": "the continuation scored",
}

UNKNOWN_RESPONSES = [
    "Unknown",
    "Cannot answer",
    "Can't be determined",
    "Cannot be determined",
    "Can't answer",
    "Not known",
    "Not enough info",
    "Not enough information",
    "Not answerable",
    "Undetermined",
]
"""The "can't tell" answers lm-eval's BBQ task offers in place of an item's own (copied from HELM)."""


@dataclass(frozen=True)
class Option:
    """One scored continuation of an item: the text before it (``context``, "" for a whole sentence) and itself."""

    context: str
    continuation: str


@dataclass(frozen=True)
class Item:
    """One study item.

    Attributes:
        row: its row in the file (from 1).
        kind: "pair" (pairs and templates) or "question".
        category: its bias category ("all" when the file has none).
        options: the continuations scored. A pair's first is the more-stereotyped, its second the less.
        targets: a question's right options (indices into ``options``; several when the right answer is
            "can't tell" and the item offers lm-eval's unknown answers), empty for a pair.
        biased: a question's biased options (indices), empty for a pair.
        unknown: a question's "can't tell" options (indices).
        ambiguous: a question's context is ambiguous (False for a pair).
        direction: a pair's "stereo" / "antistereo" ("" when not given).
    """

    row: int
    kind: str
    category: str
    options: tuple[Option, ...]
    targets: tuple[int, ...] = ()
    biased: tuple[int, ...] = ()
    unknown: tuple[int, ...] = ()
    ambiguous: bool = False
    direction: str = ""

    def key(self) -> str:
        """What makes the item itself (its scored texts): two rows with the same key are a duplicate."""
        return json.dumps([[o.context, o.continuation] for o in self.options])


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read: its row number, the column at fault and what is wrong, in a sentence."""

    row: int
    column: str
    sentence: str

    def words(self) -> str:
        """The problem in one sentence naming row and column."""
        where = f"row {self.row}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.sentence}"


@dataclass
class ItemSet:
    """The items read from a file and the rows left out."""

    items: list[Item] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading the file


def decode(data: str | bytes) -> str:
    """The file's text: UTF-8 (a byte-order mark is dropped); other bytes are refused naming the row.

    Raises:
        SpecError: the bytes are not UTF-8 (the row of the first bad byte is named).
    """
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if len(data) > MAX_BYTES:
        raise SpecError(
            "items", f"the file is {len(data) / 1e6:.0f} MB; at most {MAX_BYTES // 1_000_000} MB are read."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(
            "items",
            f"line {line} of the file is not UTF-8 text (byte 0x{data[exc.start]:02x}); the file is in another "
            "encoding (Windows-1252 or Latin-1, perhaps): save it as UTF-8 and upload it again.",
        ) from None


def read_rows(text: str, fmt: str) -> tuple[list[dict[str, Any]], list[BadRow], list[str]]:
    """The file's rows as dicts, the lines that could not be read, and the column names.

    Args:
        text: the file's text.
        fmt: "csv" or "jsonl".
    """
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        columns = [c.strip() for c in (reader.fieldnames or [])]
        rows = []
        for record in reader:
            rows.append({(k or "").strip(): v for k, v in record.items() if k is not None})
            if len(rows) > MAX_ITEMS:
                break
        return rows, [], columns
    if fmt != "jsonl":
        raise SpecError("format", f"{fmt!r} is not a file format; use csv or jsonl.")
    rows, bad, columns = [], [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(BadRow(n, "", f"is not JSON ({exc.msg} at character {exc.colno})."))
            rows.append({})
            continue
        if not isinstance(record, dict):
            bad.append(BadRow(n, "", "is not a JSON object."))
            rows.append({})
            continue
        for key in record:
            if key not in columns:
                columns.append(key)
        rows.append(record)
        if len(rows) > MAX_ITEMS:
            break
    return rows, bad, columns


# ---------------------------------------------------------------- columns


def column_map(item_type: str, given: dict[str, Any] | None) -> dict[str, str]:
    """Field -> column name: the defaults of ``FIELDS`` with the spec's ``columns`` over them.

    Raises:
        SpecError: an unknown item type, or a mapping entry that is not a field of the type.
    """
    if item_type not in FIELDS:
        raise SpecError("item_type", f"{item_type!r} is not an item type; use pairs, questions or templates.")
    out = {name: default for name, default, _ in FIELDS[item_type]}
    for key, value in (given or {}).items():
        if key not in out:
            raise SpecError(
                "columns", f"{key!r} is not a field of {item_type}; the fields are {', '.join(out)}."
            )
        if not isinstance(value, str) or not value.strip():
            raise SpecError("columns", f"the column for {key!r} must be a column name.")
        out[key] = value.strip()
    return out


def check_columns(item_type: str, mapping: dict[str, str], columns: list[str]) -> None:
    """Refuse a file that lacks a required column, naming it and the columns the file has.

    Raises:
        SpecError: a required field's column is not in the file.
    """
    for name, _default, required in FIELDS[item_type]:
        wanted = [c.strip() for c in mapping[name].split(",")] if name == "options" else [mapping[name]]
        if name == "options" and mapping[name] in columns:
            continue  # JSON lines: the options as one list
        missing = [c for c in wanted if c not in columns]
        if missing and required:
            raise SpecError(
                "columns",
                f"the file has no column {missing[0]!r} ({FIELD_WORDS[name]}); its columns are "
                f"{', '.join(repr(c) for c in columns) or 'none'}: map {name!r} to one of them.",
            )


# ---------------------------------------------------------------- rows to items


class _RowError(Exception):
    def __init__(self, column: str, sentence: str) -> None:
        super().__init__(sentence)
        self.column = column
        self.sentence = sentence


def _cell(row: dict[str, Any], column: str, required: bool = True) -> str:
    value = row.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _RowError(column, "the cell is empty.")
        return ""
    if not isinstance(value, str | int | float):
        raise _RowError(column, "the cell is not text.")
    return str(value).strip()


def _pair_item(n: int, row: dict[str, Any], cols: dict[str, str]) -> Item:
    more, less = _cell(row, cols["more"]), _cell(row, cols["less"])
    if more == less:
        raise _RowError(cols["less"], "the two sentences are the same; a pair needs two different sentences.")
    return Item(
        n,
        "pair",
        _cell(row, cols["category"], False) or "all",
        (Option("", more), Option("", less)),
        direction=_cell(row, cols["direction"], False),
    )


def _fill(template: str, value: str, column: str) -> str:
    if "{group}" not in template:
        raise _RowError(column, "the template has no {group} where the group goes.")
    return template.replace("{group}", value)


def _template_item(n: int, row: dict[str, Any], cols: dict[str, str]) -> Item:
    template = _cell(row, cols["template"])
    more, less = _cell(row, cols["more"]), _cell(row, cols["less"])
    if more == less:
        raise _RowError(cols["less"], "the two groups are the same value.")
    candidate = _cell(row, cols["candidate"], False)
    filled = (_fill(template, more, cols["template"]), _fill(template, less, cols["template"]))
    if candidate:
        options = tuple(Option(text, " " + candidate) for text in filled)
    else:
        options = tuple(Option("", text) for text in filled)
    return Item(n, "pair", _cell(row, cols["category"], False) or "all", options)


def _options(row: dict[str, Any], spec: str) -> tuple[list[str], str]:
    if spec in row and isinstance(row[spec], list):
        values = row[spec]
        for v in values:
            if not isinstance(v, str) or not v.strip():
                raise _RowError(spec, "an option is empty or not text.")
        return [v.strip() for v in values], spec
    columns = [c.strip() for c in spec.split(",")]
    return [_cell(row, c) for c in columns], columns[0]


def _answer_list(value: Any, column: str) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                raise _RowError(column, "the cell starts with [ but is not a JSON list.") from None
            return _answer_list(parsed, column)
        return [part.strip() for part in text.split("|") if part.strip()]
    if value is None:
        return []
    return [str(value)]


def _question_item(n: int, row: dict[str, Any], cols: dict[str, str]) -> Item:
    context, question = _cell(row, cols["context"]), _cell(row, cols["question"])
    options, options_col = _options(row, cols["options"])
    if len(options) < 2:
        raise _RowError(options_col, "a question needs at least two options.")
    if len(set(options)) < len(options):
        raise _RowError(options_col, "two options are the same text.")
    label_text = _cell(row, cols["label"])
    try:
        label = int(float(label_text))
    except ValueError:
        raise _RowError(
            cols["label"], f"{label_text!r} is not an option's index (0 to {len(options) - 1})."
        ) from None
    if not 0 <= label < len(options):
        raise _RowError(cols["label"], f"{label} is not an option's index (0 to {len(options) - 1}).")
    condition = _cell(row, cols["context_condition"]).lower()
    if condition not in ("ambig", "disambig"):
        raise _RowError(cols["context_condition"], f"{condition!r} is neither ambig nor disambig.")
    biased_texts = _answer_list(row.get(cols["biased"]), cols["biased"])
    biased = []
    for text in biased_texts:
        if text in options:
            biased.append(options.index(text))
        elif text.isdigit() and int(text) < len(options):
            biased.append(int(text))
        else:
            raise _RowError(cols["biased"], f"{text!r} is not one of the options.")
    unknown = tuple(i for i, o in enumerate(options) if o in UNKNOWN_RESPONSES)
    prompt = f"{context}\n\nQ: {question}\nA:"
    return Item(
        n,
        "question",
        _cell(row, cols["category"], False) or "all",
        tuple(Option(prompt, " " + o) for o in options),
        targets=(label,),
        biased=tuple(sorted(set(biased))),
        unknown=unknown,
        ambiguous=condition == "ambig",
    )


_MAKERS = {"pairs": _pair_item, "questions": _question_item, "templates": _template_item}


def read_items(data: str | bytes, fmt: str, item_type: str, columns: dict[str, Any] | None = None) -> ItemSet:
    """Read a study's items: every valid row an :class:`Item`, every other a :class:`BadRow`.

    Args:
        data: the file's content (text, or bytes as uploaded).
        fmt: "csv" or "jsonl".
        item_type: "pairs", "questions" or "templates".
        columns: field -> column name, over the defaults (``FIELDS``).

    Raises:
        SpecError: the file as a whole cannot be read (encoding, format, a missing column, too many rows).
    """
    mapping = column_map(item_type, columns)
    rows, bad, names = read_rows(decode(data), fmt)
    if len(rows) > MAX_ITEMS:
        raise SpecError(
            "items",
            f"the file has more than {MAX_ITEMS:,} rows; a study reads at most {MAX_ITEMS:,} items: split the "
            "file and run each part (two saved studies of the same model compare on Saved runs).",
        )
    if not rows:
        raise SpecError("items", "the file has no rows.")
    check_columns(item_type, mapping, names)
    out = ItemSet(bad=bad, columns=names)
    seen: dict[str, int] = {}
    broken = {b.row for b in bad}
    for n, row in enumerate(rows, start=1):
        if n in broken:
            continue
        try:
            item = _MAKERS[item_type](n, row, mapping)
        except _RowError as exc:
            out.bad.append(BadRow(n, exc.column, exc.sentence))
            continue
        key = item.key()
        if key in seen:
            out.bad.append(
                BadRow(n, "", f"repeats row {seen[key]} (the same texts); a duplicated item is read once.")
            )
            continue
        seen[key] = n
        out.items.append(item)
    out.bad.sort(key=lambda b: b.row)
    return out


def with_unknown_answers(item: Item) -> Item:
    """A question with lm-eval's BBQ choices: its own "can't tell" answer replaced by HELM's ten.

    The other options keep their order, the ten unknown answers follow (``UNKNOWN_RESPONSES``); when the
    right answer was the item's unknown one, every unknown answer is right. A pair, or a question without
    exactly one unknown answer, is returned as it is.
    """
    if item.kind != "question" or len(item.unknown) != 1:
        return item
    own = item.unknown[0]
    prompt = item.options[0].context
    kept = [i for i in range(len(item.options)) if i != own]
    options = tuple(item.options[i] for i in kept) + tuple(Option(prompt, " " + u) for u in UNKNOWN_RESPONSES)
    unknown = tuple(range(len(kept), len(options)))
    targets = unknown if item.targets[0] == own else (kept.index(item.targets[0]),)
    biased = tuple(kept.index(b) for b in item.biased if b != own)
    return Item(
        item.row, item.kind, item.category, options, targets, biased, unknown, item.ambiguous, item.direction
    )
