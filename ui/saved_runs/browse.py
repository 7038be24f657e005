"""The Saved runs page's body: filter the saved runs, pick some, open or compare them, export and import.

The table comes from ``RunRepository.list_runs`` (summaries only); a run's documents are
loaded only when it is picked. Nothing here recomputes a run. A run is drawn by
``ui.saved_runs.views``; export and import are ``ui.saved_runs.exchange``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from core.errors import WhyLMError
from core.store import RunRecord, RunRepository, RunSummary
from core.store.database import describe_url
from core.store.health import damaged_sentence, unlisted_sentence
from ui.saved_runs.exchange import export_section, import_section, show_store_error
from ui.saved_runs.views import FLASH_KEY, PICK_KEY, show_comparison, show_run, when
from ui.shared.errors import show_error
from ui.shared.links import picks_from_url, url_follows_picks
from ui.shared.markdown import literal_markdown
from ui.shared.page_table import page_name
from ui.shared.store import open_store

ALL = "All"
TABLE_KEY = "sr_table"
TABLE_IDS_KEY = "sr_table_ids"
MAX_COMPARED = 4


def show_flash() -> None:
    """Show (once) the message left by the last action."""
    message = st.session_state.pop(FLASH_KEY, None)
    if not message:
        return
    kind, text = message
    {"success": st.success, "error": st.error, "warning": st.warning}.get(kind, st.info)(literal_markdown(text))


def _choices(values: list[str]) -> list[str]:
    """Filter choices: "All" then the distinct values, sorted."""
    return [ALL, *sorted({v for v in values if v})]


def filter_form(everything: list[RunSummary]) -> dict[str, Any]:
    """Filter widgets (page, model, method, tag, title text, dates); returns the chosen filters."""
    with st.container(border=True):
        cols = st.columns([1, 1, 1, 1])
        page = cols[0].selectbox("Page", _choices([page_name(r) for r in everything]), key="sr_f_page")
        model = cols[1].selectbox("Model", _choices([r.model_name for r in everything]), key="sr_f_model")
        method = cols[2].selectbox("Method", _choices([r.method or "" for r in everything]), key="sr_f_method")
        tag = cols[3].selectbox("Tag", _choices([t for r in everything for t in r.tags]), key="sr_f_tag")
        left, right = st.columns([2, 1])
        text = left.text_input("Title contains", key="sr_f_text", placeholder="words from a run's title")
        dates = right.date_input(
            "Created between",
            value=(),
            key="sr_f_dates",
            help="Pick the first and the last day (inclusive); leave empty for all days.",
        )
    since = until = None
    if isinstance(dates, (list, tuple)) and dates:
        since, until = dates[0], dates[-1]
    elif isinstance(dates, date):
        since = until = dates
    return {
        "page": None if page == ALL else page,
        "model": None if model == ALL else model,
        "method": None if method == ALL else method,
        "tag": None if tag == ALL else tag,
        "text": text.strip() or None,
        "since": since,
        "until": until,
    }


def filtered_runs(repo: RunRepository, filters: dict[str, Any]) -> list[RunSummary]:
    """The runs matching the filters (the repository filters; the page filter is applied here)."""
    runs = repo.list_runs(
        model=filters["model"],
        method=filters["method"],
        tag=filters["tag"],
        text=filters["text"],
        since=filters["since"],
        until=filters["until"],
    )
    if filters["page"]:
        runs = [r for r in runs if page_name(r) == filters["page"]]
    return runs


def table_frame(runs: list[RunSummary]) -> pd.DataFrame:
    """The runs as the table shows them."""
    return pd.DataFrame(
        [
            {
                "run": r.id,
                "created": when(r.created_at),
                "page": page_name(r),
                "title": r.title,
                "model": r.model_name,
                "method": r.method or "",
                "tags": ", ".join(r.tags),
                "status": r.status,
                "notes": r.note_count,
            }
            for r in runs
        ],
        columns=["run", "title", "tags", "status", "notes", "created", "page", "method", "model"],
    )


def _on_table_select() -> None:
    """Rows ticked in the table become the picked runs."""
    state = st.session_state.get(TABLE_KEY)
    ids = st.session_state.get(TABLE_IDS_KEY, [])
    rows = list(getattr(getattr(state, "selection", None), "rows", None) or [])
    st.session_state[PICK_KEY] = [ids[i] for i in rows if 0 <= i < len(ids)]


def runs_table(runs: list[RunSummary]) -> None:
    """The table of runs; ticking rows picks them."""
    st.session_state[TABLE_IDS_KEY] = [r.id for r in runs]
    st.dataframe(
        table_frame(runs),
        hide_index=True,
        key=TABLE_KEY,
        on_select=_on_table_select,
        selection_mode="multi-row",
        width="stretch",
        height=min(420, 38 + 35 * max(1, len(runs))),
        column_config={
            "run": st.column_config.NumberColumn("Run", format="%d", width="small"),
            "created": st.column_config.TextColumn("Created"),
            "page": st.column_config.TextColumn("Page"),
            "title": st.column_config.TextColumn("Title", width="medium"),
            "model": st.column_config.TextColumn("Model", width="small"),
            "method": st.column_config.TextColumn("Method"),
            "tags": st.column_config.TextColumn("Tags", width="small"),
            "status": st.column_config.TextColumn("Status", width="small"),
            "notes": st.column_config.NumberColumn("Notes", width="small"),
        },
    )


def pick_runs(runs: list[RunSummary], everything: dict[int, RunSummary]) -> list[int]:
    """The multiselect of picked runs (kept when a filter hides them; deleted ones dropped)."""
    picked = [i for i in st.session_state.get(PICK_KEY, []) if i in everything]
    st.session_state[PICK_KEY] = picked
    options = [r.id for r in runs] + [i for i in picked if i not in {r.id for r in runs}]
    return st.multiselect(
        "Runs to open (pick one) or compare (pick two to four)",
        options,
        key=PICK_KEY,
        format_func=lambda i: f"{i} · {everything[i].title[:60]} · {when(everything[i].created_at)}",
        placeholder="Tick rows in the table, or choose runs here",
    )


def load_records(repo: RunRepository, ids: list[int]) -> list[RunRecord]:
    """The picked runs with their documents (a run that cannot be read is a sentence)."""
    records = []
    for run_id in ids:
        try:
            records.append(repo.get_run(run_id))
        except WhyLMError as exc:
            show_error(exc)
    return records


def damage_warning(repo: RunRepository, listed: list[RunSummary]) -> None:
    """A damaged database: what SQLite found and what to do, above the runs that still read (and which do not)."""
    if not repo.damage:
        return
    said = damaged_sentence(describe_url(repo.url), repo.damage)
    unreadable = getattr(listed, "unreadable", ())
    st.warning(said + (" " + unlisted_sentence(unreadable) if unreadable else ""))


def browse_saved_runs() -> None:
    """The page below its title: filters, the runs table, the picked runs (one shown, several compared), export, import."""
    repo, error = open_store()
    if repo is None:
        show_store_error(error)
        return
    show_flash()
    try:
        everything = repo.list_runs()
    except WhyLMError as exc:
        show_store_error(str(exc))
        return
    damage_warning(repo, everything)
    if not everything:
        st.info("No runs are saved yet. Run something on “Explain a prompt” or “Token gradients”; it appears here.")
        import_section()
        return
    filters = filter_form(everything)
    try:
        runs = filtered_runs(repo, filters)
    except WhyLMError as exc:
        show_store_error(str(exc))
        return
    total = len(everything)
    st.caption(f"{len(runs)} of {total} saved runs match." if len(runs) != total else f"{total} saved runs.")
    if runs:
        runs_table(runs)
    else:
        st.info("No saved run matches these filters; set a filter back to “All”.")
    picks_from_url(PICK_KEY, {r.id for r in everything})  # a link's ?run= or ?compare=
    picked = pick_runs(runs, {r.id: r for r in everything})
    url_follows_picks(picked)
    records = load_records(repo, picked)
    if len(records) == 1:
        st.divider()
        show_run(records[0])
    elif 2 <= len(records) <= MAX_COMPARED:
        st.divider()
        show_comparison(records)
    elif len(records) > MAX_COMPARED:
        st.info(f"Pick at most {MAX_COMPARED} runs to compare; all {len(records)} can still be exported below.")
    st.divider()
    export_section(records)
    import_section()

