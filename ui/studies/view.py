"""A study's result drawn: the reading in plain words, the table per category side by side, each model
against the first, and the regressions, each with a way to the Explain page's contrast.

A saved study links each item to Explain a prompt (``?from_run=ID&item=I&model=K``, ``ui.shared.links``:
a link that can be opened in a new tab, shared or reloaded); a study not saved has a button that fills the
Explain form in this session instead."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.probes.studies.contrast import NO_CONTEXT, contrast_spec, item_title
from core.probes.studies.tables import (
    category_table,
    comparison_table,
    item_words,
    models_line,
    regressions_table,
    short_names,
)
from ui.shared.links import item_link, run_shown
from ui.shared.markdown import escape_markdown
from ui.shared.tables import whole_table

EXPLAINED_SHOWN = 10
EXPLAIN_KEY = "stu_explain_spec"
NO_RESULT = (
    "This study has no result yet: it was stopped or cut off. Run it again to continue where it stopped "
    "(its finished batches are stored, so no item is scored twice)."
)


def _explain(spec: dict[str, Any], title: str) -> None:
    """Fill the Explain page's form with an item's contrast (a button's callback) and ask to go there."""
    from ui.explain.form import load_spec

    load_spec(spec, title)
    st.session_state[EXPLAIN_KEY] = True


def _go_to_explain() -> None:
    if st.session_state.pop(EXPLAIN_KEY, False):
        try:
            st.switch_page("pages/explain.py")
        except Exception:  # noqa: BLE001 - outside the app (a test) there is no page to switch to
            st.success("The Explain a prompt form now holds the item's contrast.")


EXPLAIN_HELP = (
    "Opens Explain a prompt with this contrast: which words make the model prefer the stereotyped text over "
    "the other."
)
LINK_HELP = EXPLAIN_HELP.replace("Opens", "Opens in a new tab", 1) + " The link can be shared."


def _explain_links(result: dict[str, Any], entries: list[dict[str, Any]], model: int, key: str) -> None:
    """One line per item: its row and texts, and a link (a button when the study is not saved) to explain
    why model ``model`` prefers the stereotyped text rather than the other."""
    run_id = run_shown(key)
    for entry in entries[:EXPLAINED_SHOWN]:
        item = result["items"][entry["item"]]
        more, less = item_words(item)
        spec = contrast_spec(item, result["models"][model]["model"])
        left, right = st.columns([5, 1])
        left.markdown(
            escape_markdown(f"Row {item['row']} ({item['category']}): “{more}” rather than “{less}”")
        )
        if spec is None:
            left.caption(NO_CONTEXT)
            right.button("Explain", key=f"{key}_explain_{model}_{entry['item']}", disabled=True, help=NO_CONTEXT)
        elif run_id is not None:
            with right:
                item_link(spec, run_id, entry["item"], model, "Explain", LINK_HELP)
        else:
            right.button(
                "Explain",
                key=f"{key}_explain_{model}_{entry['item']}",
                on_click=_explain,
                args=(spec, item_title(item)),
                help=EXPLAIN_HELP,
            )


def show_study_result(result: dict[str, Any], key: str) -> None:
    """Draw a study result dict (``StudyResult.to_dict()`` or a stored one); widget keys start with ``key``."""
    _go_to_explain()
    if not result.get("tables"):
        st.info(NO_RESULT)
        return
    st.subheader("In plain words")
    for line in result.get("summary") or []:
        st.info(escape_markdown(line))
    if result.get("bad_rows"):
        with st.expander(f"{len(result['bad_rows'])} rows skipped"):
            st.markdown("\n".join(f"- {escape_markdown(b)}" for b in result["bad_rows"]))
    st.subheader("Per category")
    if models_line(result):
        st.caption(escape_markdown(models_line(result)))
    whole_table(category_table(result))
    names = short_names(result)
    if result.get("comparisons"):
        st.subheader("Model against model")
        others = [chr(65 + c["model"]) for c in result["comparisons"]]
        st.caption(f"{' and '.join(others)} against A, item by item (the letters as above).")
        whole_table(comparison_table(result))
        for comparison in result["comparisons"]:
            other = names[comparison["model"]]
            st.markdown(f"**Regressions: {escape_markdown(other)} against {escape_markdown(names[0])}**")
            st.caption(
                "Items where the margin toward the stereotype grew, the flips first, the largest first."
            )
            if not comparison["regressions"]:
                st.caption("None.")
                continue
            whole_table(regressions_table(result, comparison, top=20))
            _explain_links(result, comparison["regressions"], comparison["model"], key)
    else:
        st.subheader("Items to explain")
        st.caption("The items the model prefers the stereotyped text on, the widest margin first.")
        scored = [{"item": i, "margin": m} for i, m in enumerate(_margins(result)) if m is not None and m > 0]
        scored.sort(key=lambda e: -e["margin"])
        _explain_links(result, scored, 0, key)


def _margins(result: dict[str, Any]) -> list[float | None]:
    """The first model's margin toward the stereotype per item (pairs: more minus less; questions: biased minus best other)."""
    out: list[float | None] = []
    for item, sums in zip(result["items"], result["scores"][0]["sums"]):
        if item["kind"] == "pair":
            out.append(sums[0] - sums[1])
        elif item["biased"]:
            others = [s for j, s in enumerate(sums) if j not in item["biased"]]
            out.append(max(sums[j] for j in item["biased"]) - max(others) if others else None)
        else:
            out.append(None)
    return out
