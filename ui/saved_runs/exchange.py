"""Saved runs: export (JSON, CSV, HTML report), import of a JSON export, and the store-error box.

The builders (:func:`export_json_text`, :func:`export_csv_text`, :func:`import_bytes`) are
plain functions so tests can check exactly what the page offers for download and imports.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import streamlit as st

from core.errors import WhyLMError
from core.present.compare import ComparedRun
from core.present.export import runs_csv
from core.present.report import report_html
from core.runs.saved import import_runs
from core.store import RunRecord, RunRepository
from core.store.database import UPGRADE_COMMAND
from core.store.exchange import export_document, load_export
from core.text import first_line, id_list
from ui.shared.errors import show_error

IMPORT_FILE_KEY = "sr_import_file"
FLASH_KEY = "sr_flash"
PICK_KEY = "sr_pick"


def export_json_text(records: Sequence[RunRecord]) -> str:
    """The export document of ``records`` as JSON text (what `python -m core runs export` writes)."""
    return json.dumps(export_document(list(records)), indent=1, ensure_ascii=False)


def export_csv_text(records: Sequence[RunRecord]) -> str:
    """CSV of each run's main table (``core.present.export.runs_csv``): features, candidates and groups, examples."""
    return runs_csv([ComparedRun(r.id, r.title, r.result or {}) for r in records])


def import_bytes(repo: RunRepository, data: bytes) -> list[int]:
    """Import the runs of a JSON export given as file bytes; raise WhyLMError with a sentence.

    The file is read as ``python -m core runs import`` reads one (``core.store.exchange.load_export``:
    at most ``WHYLM_IMPORT_MAX_MB``, JSON that is not nested too deeply) and each result is
    checked as strictly as a computed one. The repository imports all runs in one
    transaction, so a bad file adds nothing and changes nothing already saved; each run is
    saved as every path saves it (``core.runs.saved``: the normalised spec, the result in
    its current format).
    """
    return import_runs(repo, load_export(data, "This file"))


def file_stem(records: Sequence[RunRecord]) -> str:
    """A download file name stem: whylm-run-7 or whylm-runs-3-5-7."""
    ids = [str(r.id) for r in records]
    if len(ids) == 1:
        return f"whylm-run-{ids[0]}"
    return "whylm-runs-" + "-".join(ids[:6]) + ("-and-more" if len(ids) > 6 else "")


def export_section(records: Sequence[RunRecord]) -> None:
    """Download buttons for the picked runs: JSON (re-importable), CSV and an HTML report."""
    if not records:
        return
    count = "this run" if len(records) == 1 else f"these {len(records)} runs"
    st.markdown(f"**Export {count}**")
    stem = file_stem(records)
    cols = st.columns(3)
    cols[0].download_button(
        "JSON (can be imported again)",
        data=export_json_text(records),
        file_name=f"{stem}.json",
        mime="application/json",
        key="sr_dl_json",
        on_click="ignore",
        help="Everything about the runs: spec, result, tags and notes. Import it here or with "
        "`python -m core runs import`.",
    )
    cols[1].download_button(
        "CSV (each run's main table)",
        data=export_csv_text(records),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key="sr_dl_csv",
        on_click="ignore",
        help="For spreadsheets: run_id, title and kind, then each run's main table: an attribution's "
        "features, a bias run's candidates and groups (gap, interval, p, corrected p, verdict), a few-shot "
        "run's examples and accuracies.",
    )
    cols[2].download_button(
        "HTML report with charts",
        data=lambda: report_html(list(records), title=_report_title(records)),
        file_name=f"{stem}.html",
        mime="text/html",
        key="sr_dl_html",
        on_click="ignore",
        help="One file that opens in any browser, offline: charts, numbers, notes and specs.",
    )


def _report_title(records: Sequence[RunRecord]) -> str:
    """The report's heading."""
    if len(records) == 1:
        return f"WhyLM run {records[0].id}: {records[0].title}"
    return f"WhyLM report: {len(records)} runs"


def _on_import() -> None:
    """Import button callback: import the uploaded file, pick the new runs, leave a message."""
    from ui.shared.store import open_store

    upload = st.session_state.get(IMPORT_FILE_KEY)
    if upload is None:
        st.session_state[FLASH_KEY] = ("error", "Choose a JSON file to import first.")
        return
    repo, error = open_store()
    if repo is None:
        st.session_state[FLASH_KEY] = ("error", error or "The run database cannot be opened.")
        return
    try:
        ids = import_bytes(repo, upload.getvalue())
    except WhyLMError as exc:
        st.session_state[FLASH_KEY] = ("error", f"Nothing was imported: {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - a sentence, never a traceback
        st.session_state[FLASH_KEY] = ("error", f"Nothing was imported ({type(exc).__name__}: {first_line(exc)}).")
        return
    if not ids:
        st.session_state[FLASH_KEY] = ("info", "The file holds no runs; nothing was imported.")
        return
    st.session_state[PICK_KEY] = ids[:4]
    st.session_state[FLASH_KEY] = ("success", f"Imported {len(ids):,} run(s) as run {id_list(ids)}.")


def import_section() -> None:
    """Upload a JSON export and import its runs (all or none; nothing saved is touched)."""
    with st.expander("Import runs from a JSON export"):
        st.file_uploader(
            "JSON export file",
            type=["json"],
            key=IMPORT_FILE_KEY,
            help="A file made by the JSON export above or by `python -m core runs export`.",
        )
        st.button("Import", key="sr_import", on_click=_on_import, help="Adds the file's runs as new runs.")


def show_store_error(message: str | None) -> None:
    """The store cannot open: its sentence and the command that fixes it (no traceback)."""
    message = message or "The run database cannot be opened."
    show_error(message)
    if "db upgrade" in message or "older WhyLM" in message:
        st.markdown("Bring the database up to date (a backup of a SQLite file is taken first), then reload:")
        st.code(UPGRADE_COMMAND, language="bash")
    else:
        st.markdown(
            "Move the file named above away, or start WhyLM with another data folder "
            "(a new, empty database is created there), then reload:"
        )
        st.code("WHYLM_DATA_DIR=/path/to/another/folder streamlit run app.py", language="bash")
    st.caption("Check which revision a database is at with `python -m core db current`.")
