"""Issue 22's team flow in a real headless Chromium: two bias studies, a copied link, a comparison, two exports.

Two small bias studies are run on the Bias associations page (they are saved as
they finish); the second is opened from its link in a fresh browser context; both
are compared on Saved runs and exported as CSV and as an HTML report. The same
verdict for every candidate (``core.probes.bias.reading.verdict``, read from the
saved results) must be found in all four places: the page, the comparison, the
CSV and the report.

Needs Chromium and Playwright (``pytest -m browser``); the ``browser`` fixture is in
tests/conftest.py.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from core.probes.bias import charts as bias_charts
from core.probes.bias import reading
from core.store import RunRepository
from core.store.database import dispose_engines
from tests.browser_support import Server, dashboard, scaled, settle

RUN_MS = scaled(480_000)  # tests.browser_support.scaled: longer on a slower or busy machine  # a study on a loaded two-core machine
WAIT_MS = scaled(90_000)  # tests.browser_support.scaled: longer on a slower or busy machine

pytestmark = [pytest.mark.browser]

STUDIES = [
    "group,name,pronoun\nfemale,Mary,She\nfemale,Linda,She\nfemale,Susan,She\n"
    "male,John,He\nmale,James,He\nmale,Robert,He\n",
    "group,name,pronoun\nfemale,Emma,She\nfemale,Olivia,She\nfemale,Sophia,She\nfemale,Ava,She\n"
    "male,Liam,He\nmale,Noah,He\nmale,Oliver,He\nmale,Elijah,He\n",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[Server, Path]]:
    with dashboard(tmp_path_factory.mktemp("whylm-review")) as running:
        yield running


def _run_study(page, url: str, listing: str) -> None:  # noqa: ANN001 - a playwright Page
    """On Bias associations: paste the value list into the default study, Run, wait for the verdicts."""
    page.goto(f"{url}/bias")
    page.get_by_role("heading", name="Bias associations").first.wait_for(timeout=WAIT_MS)
    page.get_by_role("tab", name="Paste text").click()
    box = page.get_by_label("Paste a list (first line the header, then one row per value; commas or tabs)")
    box.fill(listing)
    page.get_by_role("button", name="Use the pasted list").click()
    page.wait_for_timeout(1500)
    page.get_by_text("smallest p-value this design can reach").first.wait_for(timeout=WAIT_MS)
    settle(page)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("heading", name="Per candidate", exact=True).wait_for(timeout=RUN_MS)


def _expected(data_dir: Path) -> list[tuple[int, dict]]:
    """(run id, result) of the saved bias runs, oldest first."""
    dispose_engines()
    repo = RunRepository(f"sqlite:///{data_dir / 'whylm.db'}")
    runs = sorted(repo.list_runs(), key=lambda r: r.id)
    return [(r.id, repo.get_run(r.id).result) for r in runs if r.kind == "bias" and r.status == "done"]


def _label(entry: dict) -> str:
    return " ".join(str(entry["text"]).split())


def _pick(page, run_id: int) -> None:  # noqa: ANN001
    settle(page)  # a pick during a rerun can be lost
    picker = page.locator("[data-testid='stMultiSelect'] input").first
    picker.click()
    page.get_by_role("option", name=re.compile(rf"^{run_id} ·")).click()


def _download(page, label: str) -> None:  # noqa: ANN001
    """Click the Saved runs download button whose label starts with ``label`` (once the page is idle: a button
    clicked during a rerun holds the data of the drawing before it)."""
    settle(page)
    button = page.locator("[data-testid='stDownloadButton'] button").filter(has_text=label).first
    button.scroll_into_view_if_needed(timeout=WAIT_MS)
    button.click(timeout=WAIT_MS)


def test_two_bias_studies_keep_their_verdicts_everywhere(browser, server) -> None:
    srv, data_dir = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    try:
        for listing in STUDIES:
            _run_study(page, srv.url, listing)
        runs = _expected(data_dir)
        assert len(runs) == 2, "both studies were saved"
        (id_a, first), (id_b, second) = runs
        verdicts = [{_label(e): reading.verdict(r, e) for e in r["candidates"]} for r in (first, second)]
        # 3 values per group and 8 candidates: no corrected p can fall below 0.05, and the page said so before Run
        assert reading.power_sentence(first) is not None
    finally:
        context.close()

    # 1. the page: the second study opened from its link in a fresh context
    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = fresh.new_page()
    try:
        page.goto(f"{srv.url}/saved_runs?run={id_b}")
        page.get_by_role("heading", name="Per candidate", exact=True).wait_for(timeout=WAIT_MS)
        body = page.inner_text("body")
        lead = reading.lead_sentence(second)
        assert lead[:60] in body.replace("\\", "")
        for candidate, verdict in verdicts[1].items():
            if verdict.startswith(reading.LIKELY):
                assert f"\u2018{candidate}\u2019" in lead
            elif verdict.startswith(reading.FINDING):
                assert f"Finding: \u2018{candidate}\u2019" in body
        if any(v == reading.NO_EVIDENCE for v in verdicts[1].values()):
            assert "No evidence: the data cannot tell whether" in body
        design = reading.power_sentence(second)
        if design:
            assert design[:50] in body
        # at 1000 px the verdict table keeps every column in view (its texts wrap; nothing scrolls sideways)
        page.set_viewport_size({"width": 1000, "height": 1000})
        page.locator("[data-testid=stTable]").first.wait_for(timeout=WAIT_MS)
        page.wait_for_timeout(1000)
        cut = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=stTable]')]"
            ".filter(t => t.scrollWidth > t.clientWidth + 1).length"
        )
        assert page.locator("[data-testid=stTable]").count() >= 1 and cut == 0
    finally:
        fresh.close()

    # 2. the comparison, 3. the CSV and 4. the HTML report, from Saved runs with both runs picked
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"{srv.url}/saved_runs")
        page.get_by_role("heading", name="Saved runs", level=1).wait_for(timeout=WAIT_MS)
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=WAIT_MS)
        _pick(page, id_a)
        _pick(page, id_b)
        page.get_by_text("shared candidates").first.wait_for(timeout=WAIT_MS)
        body = page.inner_text("body")
        assert "no attribution per feature" not in body
        changed = [c for c in verdicts[0] if c in verdicts[1] and verdicts[0][c] != verdicts[1][c]]
        shared = [c for c in verdicts[0] if c in verdicts[1]]
        if changed:
            assert f"{len(changed)} of the {len(shared)} shared candidates change verdict" in body
            for c in changed:
                assert (
                    f"\u2018{c}\u2019 changes verdict: {verdicts[0][c]} in Run {id_a}; {verdicts[1][c]} in Run {id_b}."
                    in body
                )
        else:
            assert f"All {len(shared)} shared candidates keep their verdict in every run." in body

        with page.expect_download(timeout=WAIT_MS) as csv_download:
            _download(page, "CSV (each run")
        frame = pd.read_csv(io.StringIO(Path(csv_download.value.path()).read_text(encoding="utf-8")))
        for run_id, expected in ((id_a, verdicts[0]), (id_b, verdicts[1])):
            mine = frame[frame["run_id"] == run_id]
            got = {" ".join(str(c).split()): v for c, v in zip(mine["candidate"], mine["verdict"])}
            assert got == expected

        with page.expect_download(timeout=WAIT_MS) as html_download:
            _download(page, "HTML report with charts")
        html = Path(html_download.value.path()).read_text(encoding="utf-8")
        for result, expected in ((first, verdicts[0]), (second, verdicts[1])):
            labels = dict(zip([_label(e) for e in result["candidates"]],
                              bias_charts.candidate_labels([e["text"] for e in result["candidates"]])))
            for candidate, verdict in expected.items():
                assert f"<td>{labels[candidate]}</td><td>{verdict}</td>" in html
        assert '<section id="comparison">' in html and "Corrected p" in html
    finally:
        context.close()
