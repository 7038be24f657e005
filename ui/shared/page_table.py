"""The dashboard's pages, in one table: the navigation (app.py), each page's heading, links to a
page's form (``ui.shared.links``) and the "Page" column of Saved runs read it.

A page that makes runs says which: the run kinds it saves, and for attribution runs the method
family (perturbation on Explain a prompt, gradient on Token gradients). Adding a page is one
``Page`` line here and its script in ``pages/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.attribution.methods import METHODS
from core.kinds import RUN_KINDS


@dataclass(frozen=True)
class Page:
    """One page of the dashboard.

    Attributes:
        path: its script, relative to the repository root ("pages/bias.py").
        title: its name in the navigation, its heading and the Saved runs table.
        icon: a Material Symbols icon (":material/balance:"), drawn from Streamlit's own font.
        section: the navigation section it is listed under.
        intro: the sentence under its heading.
        kinds: the run kinds it makes (its form can be filled from a saved run of these kinds).
        family: for attribution runs, the method family it makes ("perturbation" or "gradient").
        start: whether it is the page a visitor lands on.
    """

    path: str
    title: str
    icon: str
    section: str
    intro: str
    kinds: tuple[str, ...] = ()
    family: str | None = None
    start: bool = False

    def made(self, kind: str, method: str | None) -> bool:
        """Whether a run of ``kind`` (and ``method``, for attribution) was made on this page."""
        if kind not in self.kinds:
            return False
        if self.family is None:
            return True
        info = METHODS.get(method or "")
        return (info.family if info is not None else "perturbation") == self.family


PAGES: list[Page] = [
    Page(
        "pages/explain.py",
        "Explain a prompt",
        ":material/psychology:",
        "Explain",
        "Which parts of the prompt made the model write this output? WhyLM switches parts off (or "
        "swaps them for a baseline) and measures how the output's probability moves.",
        kinds=("attribution",),
        family="perturbation",
        start=True,
    ),
    Page(
        "pages/token_gradients.py",
        "Token gradients",
        ":material/gradient:",
        "Explain",
        "How strongly does each prompt token steer the model toward the output? Gradient methods "
        "answer from one pass through the model's insides; pick an output token (or a span) to "
        "see what it leaned on, and switch between words and tokens.",
        kinds=("attribution",),
        family="gradient",
    ),
    Page(
        "pages/bias.py",
        RUN_KINDS["bias"].title,
        ":material/balance:",
        "Probes",
        "Does the model tie some continuations to some groups? WhyLM fills a template with many values "
        "from two groups (for example women's and men's names), scores each candidate continuation after "
        "every prompt, and compares the groups with confidence intervals and tests.",
        kinds=("bias",),
    ),
    Page(
        "pages/few_shot.py",
        RUN_KINDS["few_shot"].title,
        ":material/format_list_numbered:",
        "Probes",
        "Which examples in a few-shot prompt help the model answer right, and which hurt? WhyLM leaves "
        "examples out in every combination, asks the model to label each test query, and measures how much "
        "each example raises or lowers the probability of the right label (its Shapley value). It also "
        "reports accuracy with no examples, all of them, each one left out, the best subset, and shuffled orders.",
        kinds=("few_shot",),
    ),
    Page(
        "pages/studies.py",
        RUN_KINDS["study"].title,
        ":material/fact_check:",
        "Probes",
        "Is the model biased across a whole item set, and did another model get better or worse? WhyLM scores "
        "minimal pairs (CrowS-Pairs's columns), BBQ-style questions or template rows on one to four models, with "
        "lm-evaluation-harness's metrics per category, intervals and tests, and lists the items that regressed.",
        kinds=("study",),
    ),
    Page(
        "pages/documents.py",
        RUN_KINDS["documents"].title,
        ":material/description:",
        "Explain",
        "Which sentences of a document made the model answer as it did? WhyLM leaves paragraphs out, then the "
        "sentences inside the paragraphs that matter, and measures how the answer's probability moves; the "
        "document comes back shaded (blue supports the answer, red works against it) with the top sources ranked.",
        kinds=("documents",),
    ),
    Page(
        "pages/saved_runs.py",
        "Saved runs",
        ":material/history:",
        "Review",
        "Every run made on the other pages is saved here. Open a run to see its charts as they were, "
        "compare runs, add review notes, and export them. Nothing is recomputed.",
    ),
]


def sections() -> dict[str, list[Page]]:
    """The pages by navigation section, in table order."""
    out: dict[str, list[Page]] = {}
    for page in PAGES:
        out.setdefault(page.section, []).append(page)
    return out


def page_at(path: str) -> Page:
    """The page whose script is ``path``."""
    return next(p for p in PAGES if p.path == path)


def page_of(run: Any) -> Page | None:
    """The page that made a saved run (a ``RunSummary`` or ``RunRecord``), or None (an imported kind)."""
    return next((p for p in PAGES if p.made(run.kind, getattr(run, "method", None))), None)


def page_name(run: Any) -> str:
    """The page that made a run, in words; a kind no page makes is named by its kind's title."""
    page = page_of(run)
    if page is not None:
        return page.title
    kind = RUN_KINDS.get(run.kind)
    return kind.title if kind is not None else str(run.kind)


def heading(path: str, extra: Iterable[str] = ()) -> None:
    """A page's title and introduction, from this table."""
    page = page_at(path)
    st.title(page.title)
    st.caption(" ".join([page.intro, *extra]))
