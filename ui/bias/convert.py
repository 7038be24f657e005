"""Between the bias form and a bias spec: the group table, the candidate box and pasted lists.

Pure functions (no widgets): a loaded spec and a typed one give the same
spec. ``core.probes.bias.data.sweep_from_csv`` reads the CSV itself.
"""

from __future__ import annotations

from typing import Any

from core.errors import SpecError
from core.probes.bias.data import sweep_from_csv
from ui.shared.page_parts import cell_text, spreadsheet_csv


def rows_from_sweep(sweep: dict[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    """The swept slots and the group table's rows (group, one column per slot) of a spec's sweep."""
    slots = sweep.get("slots") or []
    slots = [slots] if isinstance(slots, str) else list(slots)
    rows = []
    for group, entries in (sweep.get("groups") or {}).items():
        for entry in entries:
            values = [entry] if isinstance(entry, str) else list(entry)
            rows.append({"group": str(group), **{s: str(v) for s, v in zip(slots, values)}})
    return slots, rows


def sweep_from_rows(slots: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A spec's sweep from table rows; blank rows are skipped; raise SpecError for a row without a group."""
    groups: dict[str, list[list[str]]] = {}
    for number, row in enumerate(rows, start=1):
        group = cell_text(row.get("group"))
        values = [cell_text(row.get(s)) for s in slots]
        if not group and not any(values):
            continue
        if not group:
            raise SpecError("sweep", f"row {number} of the table has values but no group; name its group.")
        if not all(values):
            missing = ", ".join(s for s, v in zip(slots, values) if not v)
            raise SpecError(
                "sweep", f"row {number} of the table ({group}) has no {missing}; fill every cell."
            )
        groups.setdefault(group, []).append(values)
    return {"slots": list(slots), "groups": groups}


def candidates_from_text(text: str, leading_space: bool) -> list[str]:
    """One candidate per non-blank line; with ``leading_space`` each starts with exactly one space."""
    out = []
    for line in (text or "").splitlines():
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        out.append(" " + line.strip() if leading_space else line)
    return out


def text_from_candidates(candidates: list[str]) -> tuple[str, bool]:
    """The candidate text box and the leading-space box for a spec's candidates."""
    spaced = bool(candidates) and all(
        c.startswith(" ") and c[1:] == c[1:].strip() and c.strip() for c in candidates
    )
    lines = [c[1:] if spaced else c for c in candidates]
    return "\n".join(lines), spaced


def csv_text(text: str) -> str:
    """Pasted or uploaded list text as CSV: tab-separated text (from a spreadsheet) becomes commas."""
    return spreadsheet_csv(text, commas_mean_csv=True)


def sweep_from_list_text(text: str, template_slots: list[str], swept: list[str]) -> dict[str, Any]:
    """A sweep from CSV text whose header is ``group`` then swept slot names.

    The columns choose the swept slots when they all are slots of the template;
    a single ``value`` column fills the one swept slot. Otherwise the CSV
    loader's sentence says which header to use (SpecError, field "csv").
    """
    text = csv_text(text)
    sweep = sweep_from_csv(text)
    columns = sweep["slots"]
    if columns == ["value"] and len(swept) == 1:
        return sweep_from_csv(text, swept)
    if all(c in template_slots for c in columns):
        return sweep
    strangers = [c for c in columns if c not in template_slots]
    if swept:
        try:
            return sweep_from_csv(text, swept)
        except SpecError as exc:
            raise SpecError(
                "csv",
                f"the template has no slot {', '.join('{' + s + '}' for s in strangers)}; "
                + exc.sentence,
            ) from None
    raise SpecError(
        "csv",
        f"the template has no slot {', '.join('{' + s + '}' for s in strangers)}; its slots are "
        f"{', '.join(template_slots)}.",
    )
