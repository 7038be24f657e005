"""Explain an answer from a document in a real headless Chromium: paste, generate, attribute, open a paragraph,
save, reopen from ``?run=ID``; at 1400 and 1000 px.

A short document (three paragraphs, eight sentences) and a question are typed into the page, the
model's answer is generated, and the run is made with a small pass allowance (16 passes for the
attribution, 6 for the check). What the page shows is checked against the saved result's own
numbers: the first result (the paragraphs) is drawn while the sentences are measured; the top
source's text and value in the ranked table are the saved result's; clicking the paragraph that
holds it shows that paragraph shaded sentence by sentence with the saved sentences' values. The run
is then reopened in a fresh browser context from Saved runs' ``?run=ID`` link, at 1400 px and at
1000 px, where nothing may scroll sideways.

Needs Chromium and Playwright (``pytest -m browser``); the ``browser`` fixture is in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.probes.documents.reading import source_text
from core.store import RunRepository
from core.store.database import dispose_engines
from tests.browser_support import Server, dashboard, scaled, settle

WAIT_MS = scaled(90_000)  # tests.browser_support.scaled: longer on a slower or busy machine
RUN_MS = scaled(120_000)

pytestmark = [pytest.mark.browser]

DOCUMENT = (
    "The harbour town of Keswith lies on a cold northern bay. Its fishing fleet sails before dawn.\n\n"
    "The lighthouse was built in 1871. Its keeper, Mara Dunne, has tended the lamp for thirty years. "
    "She writes every passing ship into a logbook.\n\n"
    "The market opens on Saturdays. Traders sell smoked fish and wool. The church bell rings at noon."
)
QUESTION = "Who is the keeper of the lighthouse? Answer with a name."
ANSWER_BOX = "Answer to explain (generate the model's own, then edit it if you like)"
FIRST_RESULT = "First result, from"  # the first note of a result handed over after the paragraph pass

SEEN_FIRST_RESULT = (
    "() => { window.__first = 0; new MutationObserver(() => {"
    f" if (document.body.innerText.includes('{FIRST_RESULT}')) window.__first += 1; }})"
    ".observe(document.body, {subtree: true, childList: true, characterData: true}); }"
)
"""Counts the page changes while the first result is on screen (it is gone once the run's result is drawn)."""
TABLE_ROWS = """column => [...document.querySelectorAll('[data-testid=stTable] table')]
  .filter(t => [...t.querySelectorAll('thead th')].some(c => c.innerText.trim() === column))
  .map(t => [...t.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td, th')].map(c => c.innerText.trim())))
"""
"""The cells of each static table (``ui.shared.tables.whole_table``) that has a column named ``column``."""
SHADED_ALONE = """text => [...document.querySelectorAll('[data-testid=stHtml]')]
  .filter(e => e.innerText.split(/\\s+/).join(' ').trim() === text)
  .map(e => [...e.querySelectorAll('span[title]')].map(s => s.title))
"""
"""The hover texts of the sources in each shaded block that holds exactly ``text``."""
SIDEWAYS = """() => {
  const over = e => e.scrollWidth > e.clientWidth + 1;
  const main = document.querySelector('[data-testid=stMain]');
  const out = over(main) ? ['the page'] : [];
  const start = document.querySelector('[data-testid=stHtml]');  // the shaded document: the view starts here
  const inView = e => e === start || (start.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING);
  for (const sel of ['[data-testid=stTable]', '[data-testid=stHtml]', '.dvn-scroller', '[data-testid=stCode] pre'])
    document.querySelectorAll(sel).forEach((e, i) => { if (inView(e) && e.offsetParent && over(e)) out.push(sel + ' ' + i); });
  const right = main.getBoundingClientRect().right;
  document.querySelectorAll('.vega-embed').forEach((e, i) => {
    if (e.getBoundingClientRect().right > right + 1) out.push('chart ' + i); });
  return out;
}"""
"""What of the result's view scrolls sideways or sticks out of the page's main area (nothing should)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[Server, Path]]:
    with dashboard(tmp_path_factory.mktemp("whylm-documents")) as running:
        yield running


def _type(page, label: str, text: str) -> None:  # noqa: ANN001 - a playwright Page
    """Type ``text`` into the text box ``label`` and let the page take it."""
    box = page.get_by_role("textbox", name=label, exact=True)
    for _ in range(3):  # a rerun still drawing the form can put the box back (seen in whole-suite runs)
        box.fill(text)
        box.press("Tab")
        settle(page)
        if box.input_value() == text:
            break


def _answer(page) -> str:  # noqa: ANN001
    return page.get_by_role("textbox", name=ANSWER_BOX, exact=True).input_value()


def _saved(data_dir: Path) -> tuple[int, dict[str, Any]]:
    """The one saved document run: its id and result."""
    dispose_engines()
    repo = RunRepository(f"sqlite:///{data_dir / 'whylm.db'}")
    runs = [r for r in repo.list_runs() if r.kind == "documents"]
    assert [r.status for r in runs] == ["done"], "the run was saved once, done"
    return runs[0].id, repo.get_run(runs[0].id).result


def _open_paragraph(page, row: int) -> None:  # noqa: ANN001
    """Click row ``row`` (from 0) of the paragraphs grid (its row-picking column, left of the first column)."""
    settle(page)
    grid = page.locator("[class*='_paragraphs'] [data-testid='stDataFrame']").first  # the view's key ends so
    grid.scroll_into_view_if_needed(timeout=WAIT_MS)
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 35 * row + 17)  # header and rows are 35 px high
    settle(page)


def _check_paragraph(page, result: dict[str, Any], paragraph: int) -> None:  # noqa: ANN001
    """The opened paragraph is drawn alone, each of its sentences shaded with its saved value and error, and
    listed with its text."""
    sources = result["sources"]
    start, end = sources[paragraph]["start"], sources[paragraph]["end"]
    text = " ".join(DOCUMENT[start:end].split())
    page.wait_for_function(f"text => ({SHADED_ALONE})(text).length > 0", arg=text, timeout=WAIT_MS)
    sentences = [(i, s) for i, s in enumerate(sources) if s["parent"] == paragraph]
    [tips] = page.evaluate(SHADED_ALONE, text)
    assert tips == [
        f"{s['value']:+.3f} ± {s['stderr']:.3f}" + ("" if s["refined"] else " (share of its paragraph)")
        for _i, s in sorted(sentences, key=lambda pair: pair[1]["start"])
    ]
    page.wait_for_function(f"column => ({TABLE_ROWS})(column).length > 0", arg="measured", timeout=WAIT_MS)
    [children] = page.evaluate(TABLE_ROWS, "measured")
    assert [(row[0], row[-1]) for row in children] == [
        (f"{s['value']:+.3f}", source_text(result, i, 300)) for i, s in sentences
    ]


def _check_ranked(page, result: dict[str, Any]) -> None:  # noqa: ANN001
    """The ranked table's first row is the saved result's top source: its text and value."""
    top = result["sources"][result["ranked"][0]]
    page.wait_for_function(f"column => ({TABLE_ROWS})(column).length > 0", arg="rank", timeout=WAIT_MS)
    [rows] = page.evaluate(TABLE_ROWS, "rank")
    assert rows[0] == [
        "1", top["level"], f"{round(top['value'], 4):+.3f}", f"{round(top['stderr'], 4):.3f}",
        source_text(result, result["ranked"][0]),
    ]
    assert len(rows) == min(len(result["ranked"]), 12)


def test_paste_generate_attribute_open_a_paragraph_and_reopen(browser, server) -> None:
    srv, data_dir = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{srv.url}/documents")
        page.get_by_text("The prompt as the model reads it").first.wait_for(timeout=WAIT_MS)  # the model is loaded
        settle(page)
        _type(page, "Document", DOCUMENT)
        _type(page, "Question", QUESTION)
        _type(page, ANSWER_BOX, "")
        page.get_by_role("button", name="Generate").click()
        page.wait_for_function(
            "label => [...document.querySelectorAll('textarea')].some(t => t.getAttribute('aria-label') === label"
            " && t.value.trim())",
            arg=ANSWER_BOX,
            timeout=WAIT_MS,
        )
        settle(page)
        generated = _answer(page)
        passes = page.get_by_role("combobox", name="Forward passes")
        passes.click()
        passes.fill("16")
        passes.press("Enter")
        settle(page)
        trials = page.locator("input[aria-label='Random sets in the check']:visible").first
        for _ in range(3):  # a rerun still drawing the form can put the box back (seen once in a whole-suite run)
            trials.fill("0")
            trials.press("Enter")
            settle(page)
            if trials.input_value() == "0":
                break
        for label, text in (("Document", DOCUMENT), ("Question", QUESTION)):  # still as typed before Run
            if page.get_by_role("textbox", name=label, exact=True).input_value() != text:
                _type(page, label, text)
        page.evaluate(SEEN_FIRST_RESULT)
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Saved as run").first.wait_for(timeout=RUN_MS)
        settle(page)

        run_id, result = _saved(data_dir)
        spec = result["spec"]
        assert (spec["document"], spec["question"], result["answer"]) == (DOCUMENT, QUESTION, generated.strip())
        assert (spec["passes"], spec["random_trials"], result["meta"]["forward_passes"]) == (16, 0, 22)
        assert page.evaluate("() => window.__first") > 0, "the paragraphs' result was shown while the run went on"
        assert f"Saved as run {run_id} (done)" in page.inner_text("body")
        assert f"from_run={run_id}" in page.url
        body = page.inner_text("body").replace("\\", "")
        assert result["summary"] in body and FIRST_RESULT not in body
        _check_ranked(page, result)
        top = result["sources"][result["ranked"][0]]
        paragraphs = [i for i, s in enumerate(result["sources"]) if s["level"] == "paragraph"]
        _open_paragraph(page, paragraphs.index(top["parent"]))
        _check_paragraph(page, result, top["parent"])
        _check_ranked(page, result)
    finally:
        context.close()

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = fresh.new_page()
    try:
        page.goto(f"{srv.url}/saved_runs?run={run_id}")
        page.get_by_text("Paragraphs (click one to see its sentences)").wait_for(timeout=WAIT_MS)
        settle(page)
        assert result["summary"] in page.inner_text("body").replace("\\", "")
        _check_ranked(page, result)
        assert page.evaluate(SIDEWAYS) == []
        page.set_viewport_size({"width": 1000, "height": 1000})
        page.wait_for_timeout(1500)  # the grid and the chart redraw at the new width
        _open_paragraph(page, paragraphs.index(top["parent"]))
        _check_paragraph(page, result, top["parent"])
        page.locator(".vega-embed").first.scroll_into_view_if_needed(timeout=WAIT_MS)
        page.wait_for_timeout(500)
        assert page.evaluate(SIDEWAYS) == []
    finally:
        fresh.close()
