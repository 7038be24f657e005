"""A document result's part of the HTML report (and of Saved runs' view): the finding, the ranked sources
with error bars, the top-k check and the paragraphs' values."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from core.present.charts import category_axis, zero_rule
from core.present.report_parts import ReportSection
from core.probes.documents.reading import source_text

SUPPORTS, AGAINST = "#2b6cb0", "#c53030"
TOP_SHOWN = 12


def ranked_table(result: dict[str, Any], limit: int = TOP_SHOWN) -> pd.DataFrame:
    """The top measured sources: rank, level, value, standard error, text."""
    rows = []
    for rank, index in enumerate(result["ranked"][:limit], start=1):
        source = result["sources"][index]
        rows.append(
            {
                "rank": rank,
                "level": source["level"],
                "value": round(source["value"], 4),
                "± stderr": round(source["stderr"], 4),
                "text": source_text(result, index),
            }
        )
    return pd.DataFrame(rows, columns=["rank", "level", "value", "± stderr", "text"])


def sources_frame(result: dict[str, Any]) -> pd.DataFrame:
    """Every source (the CSV export): index, level, parent, characters, value, stderr, measured, method, text."""
    rows = [
        {
            "index": i,
            "level": s["level"],
            "parent": s["parent"],
            "start": s["start"],
            "end": s["end"],
            "value": s["value"],
            "stderr": s["stderr"],
            "measured": s["refined"],
            "method": s["method"],
            "text": source_text(result, i, 100_000),
        }
        for i, s in enumerate(result["sources"])
    ]
    return pd.DataFrame(rows)


def check_table(result: dict[str, Any]) -> pd.DataFrame:
    """The top-k check: per k, the answer's log-probability drop with the top k removed, beside random k."""
    rows = [
        {
            "k": r["k"],
            "drop, top k removed": round(r["drop"], 3),
            "drop, k random removed": None if r["random_drop"] is None else round(r["random_drop"], 3),
            "log-prob, only top k kept": round(r["only_top"], 3),
        }
        for r in result["top_k"]
    ]
    return pd.DataFrame(rows)


def ranked_chart(result: dict[str, Any]) -> alt.Chart | None:
    """The top sources as bars (blue supports the answer, red works against it) with ±2 standard errors."""
    table = ranked_table(result)
    if table.empty:
        return None
    table["label"] = [f"{r}. {t if len(t) <= 48 else t[:47] + chr(0x2026)}" for r, t in zip(table["rank"], table["text"])]
    table["low"] = table["value"] - 2 * table["± stderr"]
    table["high"] = table["value"] + 2 * table["± stderr"]
    table["effect"] = ["supports" if v >= 0 else "against" for v in table["value"]]
    y = alt.Y("label:N", sort=None, title=None, axis=category_axis(labelLimit=260))  # every source labelled
    bars = (
        alt.Chart(table)
        .mark_bar()
        .encode(
            y=y,
            x=alt.X("value:Q", title="change in the answer's log-probability"),
            color=alt.Color(
                "effect:N",
                scale=alt.Scale(domain=["supports", "against"], range=[SUPPORTS, AGAINST]),
                legend=None,
            ),
            tooltip=["rank", "level", "value", "± stderr", "text"],
        )
    )
    errors = alt.Chart(table).mark_rule(color="#333").encode(y=y, x="low:Q", x2="high:Q")
    return alt.layer(bars, errors, zero_rule()).properties(height=alt.Step(22), width="container")


def documents_report(result: dict[str, Any]) -> ReportSection:
    """The finding, the question and answer, the ranked chart and tables."""
    sentences = [("summary", result["summary"])]
    sentences.append(("", f"Question: {result['spec']['question']} — answer explained: {result['answer']}"))
    sentences += [("", note) for note in result.get("notes", [])]
    if result.get("cut_chars"):
        sentences.append(
            (
                "warning",
                f"Only the part of the document that fits the model's context was attributed "
                f"({result['cut_chars']:,} characters at its end were left out).",
            )
        )
    paragraphs = [
        {
            "paragraph": n + 1,
            "value": round(s["value"], 4),
            "± stderr": round(s["stderr"], 4),
            "text": source_text(result, i, 120),
        }
        for n, (i, s) in enumerate(
            (i, s) for i, s in enumerate(result["sources"]) if s["level"] == "paragraph"
        )
    ]
    return ReportSection(
        sentences=sentences,
        charts=[("The sources the answer rests on (bars: ±2 standard errors)", ranked_chart(result))],
        tables=[
            ("Top sources", ranked_table(result)),
            ("Check: the answer with its top sources removed, beside random ones", check_table(result)),
            ("Paragraphs", pd.DataFrame(paragraphs)),
        ],
    )
