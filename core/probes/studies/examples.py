"""The example item sets shipped with WhyLM (CC0, ``data/``), and the columns of an item file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
EXAMPLES = {
    "pairs": ("csv", "pairs.csv"),
    "questions": ("jsonl", "questions.jsonl"),
    "templates": ("csv", "templates.csv"),
}


def example_file(item_type: str) -> tuple[str, str]:
    """(format, text) of the example set of an item type."""
    fmt, name = EXAMPLES[item_type]
    return fmt, (DATA / name).read_text(encoding="utf-8")


def file_columns(text: str, fmt: str) -> list[str]:
    """The column names of an item file: a CSV's header, or the keys of the first JSON lines (in order)."""
    if fmt == "csv":
        header = next(csv.reader(io.StringIO(text)), [])
        return [c.strip() for c in header if c.strip()]
    columns: list[str] = []
    for line in text.splitlines()[:50]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            columns += [k for k in record if k not in columns]
    return columns
