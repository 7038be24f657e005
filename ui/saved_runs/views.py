"""Saved runs: one opened run (its charts, notes, rename/tag/delete) and a comparison of 2–4 runs.

Everything is drawn from the stored documents; nothing is recomputed. Actions that
change the store (note, rename, tags, delete) run in widget callbacks, so the page
drawn right after shows the change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from core.errors import WhyLMError
from core.present.compare import (
    ComparedRun,
    agreement_sentence,
    compare_runs,
    difference_chart,
    grouped_bar_chart,
    rank_agreement,
    small_multiples,
)
from core.present.trust import faithfulness_cells
from core.store import RunRecord
from core.store.models import VERDICTS
from core.text import first_line
from ui.shared.kind_views import show_kind_result
from ui.shared.links import remember_run_shown, run_links
from ui.shared.markdown import escape_markdown
from ui.shared.page_table import page_name, page_of
from ui.shared.probe_compare_view import show_probe_comparison
from ui.shared.store import open_store

FLASH_KEY = "sr_flash"
PICK_KEY = "sr_pick"

def when(moment: datetime) -> str:
    """A creation time as people read it, in UTC: "2025-01-31 14:05 UTC"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def flash(kind: str, text: str) -> None:
    """Leave a message for the next drawing of the page ("success", "error", "info", "warning")."""
    st.session_state[FLASH_KEY] = (kind, text)


def _store_action(action: Callable[[Any], str]) -> None:
    """Run ``action(repo)`` in a callback; its sentence (or the error's) becomes the page's message."""
    repo, error = open_store()
    if repo is None:
        flash("error", error or "The run database cannot be opened.")
        return
    try:
        flash("success", action(repo))
    except WhyLMError as exc:
        flash("error", str(exc))
    except Exception as exc:  # noqa: BLE001 - a sentence, never a traceback
        flash("error", f"That did not work ({type(exc).__name__}: {first_line(exc)}); try again.")


# ---------------------------------------------------------------- callbacks


def _add_note(run_id: int) -> None:
    author = (st.session_state.get(f"sr_note_author_{run_id}") or "").strip()
    verdict = st.session_state.get(f"sr_note_verdict_{run_id}") or VERDICTS[0]
    text = (st.session_state.get(f"sr_note_text_{run_id}") or "").strip()
    if not text:
        flash("error", "Write the note's text first.")
        return

    def act(repo: Any) -> str:
        repo.add_note(run_id, author, verdict, text)
        st.session_state[f"sr_note_text_{run_id}"] = ""
        st.session_state["sr_last_author"] = author
        return f"Note added to run {run_id}."

    _store_action(act)


def _keep_manage_open(run_id: int) -> None:
    """After an action in the manage panel: draw it open again, so the next action needs no extra click."""
    st.session_state[f"sr_manage_open_{run_id}"] = True


def _rename(run_id: int) -> None:
    _keep_manage_open(run_id)
    title = st.session_state.get(f"sr_title_{run_id}") or ""

    def act(repo: Any) -> str:
        repo.rename(run_id, title)
        return f"Run {run_id} renamed."

    _store_action(act)


def _set_tags(run_id: int) -> None:
    _keep_manage_open(run_id)
    raw = st.session_state.get(f"sr_tags_{run_id}") or ""
    tags = [t.strip() for t in raw.split(",")]

    def act(repo: Any) -> str:
        now = repo.set_tags(run_id, tags)
        return f"Run {run_id} now has the tags: {', '.join(now)}." if now else f"Run {run_id} has no tags now."

    _store_action(act)


def _ask_delete(run_id: int, ask: bool) -> None:
    _keep_manage_open(run_id)
    st.session_state[f"sr_confirm_delete_{run_id}"] = ask


def _delete(run_id: int) -> None:
    def act(repo: Any) -> str:
        repo.delete(run_id)
        st.session_state[PICK_KEY] = [i for i in st.session_state.get(PICK_KEY, []) if i != run_id]
        st.session_state.pop(f"sr_confirm_delete_{run_id}", None)
        return f"Run {run_id} and its notes were deleted."

    _store_action(act)


# ---------------------------------------------------------------- one run




def show_stored_result(record: RunRecord) -> None:
    """Draw a run's stored result with the view of the page that made it (no recomputation)."""
    result = record.result
    key = f"sr_view_{record.id}"
    if result is None:
        words = {"failed": "failed", "stopped": "was stopped", "interrupted": "was interrupted"}.get(record.status, record.status)
        st.warning(
            escape_markdown(f"This run {words} before it had a result" + (f": {record.error}" if record.error else "."))
        )
        return
    if record.status != "done" and record.error:  # a stopped run that kept its first result says so above it
        st.warning(escape_markdown(record.error))
    remember_run_shown(key, record.id)  # the view's links name this run
    try:
        show_kind_result(record.kind, result, key)
    except Exception as exc:  # noqa: BLE001 - a damaged stored document gets a sentence, not a traceback
        st.error(
            escape_markdown(
                f"Run {record.id}'s stored result could not be drawn ({type(exc).__name__}: {first_line(exc)}); "
                "download its JSON below to inspect it."
            )
        )


def show_run(record: RunRecord) -> None:
    """One saved run: its facts, its charts as they were, its spec, notes and management."""
    st.subheader(f"Run {record.id}: {escape_markdown(record.title)}")
    facts = [
        page_name(record),
        when(record.created_at),
        f"model {record.model_name or '?'}",
        f"method {record.method or '?'}",
        record.status,
    ]
    if record.seconds is not None:
        facts.append(f"{record.seconds:.1f} s")
    if record.tags:
        facts.append("tags: " + ", ".join(record.tags))
    st.caption(escape_markdown(" · ".join(facts)))
    run_links(record, page_of(record))
    show_stored_result(record)
    with st.expander("Run specification (JSON)"):
        st.json(record.spec, expanded=True)
    notes_section(record)
    manage_section(record)


def notes_section(record: RunRecord) -> None:
    """The run's review notes (oldest first) and a form to add one."""
    st.markdown("#### Review notes")
    if record.notes:
        frame = pd.DataFrame(
            [{"when": when(n.created_at), "author": n.author, "verdict": n.verdict, "note": n.text} for n in record.notes]
        )
        st.dataframe(frame, hide_index=True, key=f"sr_notes_{record.id}")
    else:
        st.caption("No notes yet.")
    rid = record.id
    st.session_state.setdefault(f"sr_note_author_{rid}", st.session_state.get("sr_last_author", ""))
    with st.form(f"sr_note_form_{rid}", clear_on_submit=False, border=True):
        left, right = st.columns([1, 2])
        left.text_input("Your name", key=f"sr_note_author_{rid}")
        right.radio("Verdict", list(VERDICTS), key=f"sr_note_verdict_{rid}", horizontal=True)
        st.text_area("Note", key=f"sr_note_text_{rid}", height=80, placeholder="What did you check, what did you find?")
        st.form_submit_button("Add note", on_click=_add_note, args=(rid,))


def manage_section(record: RunRecord) -> None:
    """Rename, edit tags, and delete (after a confirmation)."""
    rid = record.id
    with st.expander("Rename, tag or delete this run", expanded=bool(st.session_state.get(f"sr_manage_open_{rid}"))):
        st.session_state.setdefault(f"sr_title_{rid}", record.title)
        st.session_state.setdefault(f"sr_tags_{rid}", ", ".join(record.tags))
        left, right = st.columns(2)
        with left:
            st.text_input("Title", key=f"sr_title_{rid}")
            st.button("Rename", key=f"sr_rename_{rid}", on_click=_rename, args=(rid,))
        with right:
            st.text_input("Tags (separated by commas)", key=f"sr_tags_{rid}")
            st.button("Save tags", key=f"sr_save_tags_{rid}", on_click=_set_tags, args=(rid,))
        st.divider()
        if st.session_state.get(f"sr_confirm_delete_{rid}"):
            st.warning(f"Delete run {rid} and its {len(record.notes)} note(s)? This cannot be undone.")
            yes, no = st.columns(2)
            yes.button(f"Yes, delete run {rid}", key=f"sr_delete_yes_{rid}", type="primary", on_click=_delete, args=(rid,))
            no.button("Cancel", key=f"sr_delete_no_{rid}", on_click=_ask_delete, args=(rid, False))
        else:
            st.button("Delete this run…", key=f"sr_delete_{rid}", on_click=_ask_delete, args=(rid, True))


# ---------------------------------------------------------------- comparison


def show_comparison(records: Sequence[RunRecord]) -> None:
    """Two to four runs side by side: aligned features, grouped bars, and B − A for two runs."""
    st.subheader("Compare " + ", ".join(f"run {r.id}" for r in records))
    overview = pd.DataFrame(
        [
            {
                "run": f"Run {r.id}",
                "title": r.title,
                "page": page_name(r),
                "method": r.method or "",
                "model": r.model_name,
                "created": when(r.created_at),
                "score, full prompt": (r.result or {}).get("score_all"),
                "score, no features": (r.result or {}).get("score_none"),
                **faithfulness_cells(r.result),
            }
            for r in records
        ]
    )
    st.dataframe(overview, hide_index=True, key="sr_compare_overview")
    compared = [ComparedRun(r.id, r.title, r.result or {}) for r in records]
    if show_probe_comparison(compared):  # bias and few-shot runs compare by their kind's own rule
        return
    pictures = small_multiples(compared)
    if pictures:
        st.markdown("**Each run's own picture** (one scale for all, whatever their prompts)")
        for column, chart in zip(st.columns(len(pictures)), pictures):
            column.altair_chart(chart, width="stretch")
    try:
        comparison = compare_runs(compared)
    except WhyLMError as exc:
        st.warning(escape_markdown(str(exc)))
        return
    if comparison.reasons:
        st.warning(
            escape_markdown("These runs are not comparable feature by feature. " + " ".join(comparison.reasons))
        )
    for note in comparison.notes:
        st.caption(escape_markdown(note))
    if not comparison.labels:
        return
    for a, b, rho in rank_agreement(comparison):
        st.info(escape_markdown(agreement_sentence(a, b, rho)))
    if len(records) == 2:
        left, right = st.columns(2)
        left.altair_chart(grouped_bar_chart(comparison, title="Attribution per feature, by run"), width="stretch")
        right.altair_chart(
            difference_chart(comparison, title="Difference per feature (second run minus first)"), width="stretch"
        )
    else:
        st.altair_chart(grouped_bar_chart(comparison, title="Attribution per feature, by run"), width="stretch")
    st.dataframe(comparison.wide_frame(), hide_index=True, key="sr_compare_table")
