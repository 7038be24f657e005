"""Saved runs in a real headless Chromium: open the page, open a saved run, see its charts drawn.

Needs Chromium (``apt-get install chromium``; ``WHYLM_CHROMIUM`` overrides the path)
and the Playwright Python package. Run with ``pytest -m browser``. The server helpers
come from tests/browser/test_browser.py and the ``browser`` fixture from tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.store import RunRepository
from core.store.database import dispose_engines
from tests.browser_support import scaled, start_server, stop_server
from tests.saved_runs_support import HOSTILE, real_results

WAIT_MS = scaled(90_000)  # tests.browser_support.scaled: longer on a slower or busy machine

pytestmark = [
    pytest.mark.browser,
]


@pytest.fixture(scope="module")
def saved_server(tmp_path_factory, lm) -> Iterator[tuple[str, int]]:
    """A dashboard whose database holds two real runs (one with a hostile title); yields (url, run id)."""
    data_dir = tmp_path_factory.mktemp("whylm-saved")
    tutorial, baselines, _ = real_results(lm)
    repo = RunRepository(f"sqlite:///{data_dir / 'whylm.db'}")
    run_id = repo.save_run("attribution", "Tutorial " + HOSTILE, tutorial["spec"], tutorial, tags=["tutorial"])
    repo.save_run("attribution", "Other baselines", baselines["spec"], baselines)
    dispose_engines()
    server = start_server(data_dir)
    try:
        yield server.url, run_id
    finally:
        stop_server(server)


def test_open_a_saved_run_and_see_its_charts(browser, saved_server) -> None:
    url, run_id = saved_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(url)
        page.get_by_role("link", name="Saved runs").click()
        page.get_by_role("heading", name="Saved runs", level=1).wait_for(timeout=WAIT_MS)  # the page title, not the sidebar's section
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=WAIT_MS)
        assert "2 saved runs" in page.inner_text("body")
        picker = page.locator("[data-testid='stMultiSelect'] input").first
        picker.click()
        page.get_by_role("option", name=f"{run_id} · Tutorial").click()
        page.wait_for_function(
            "() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length >= 2",
            timeout=WAIT_MS,
        )
        body = page.inner_text("body")
        assert f"Run {run_id}: Tutorial {HOSTILE}" in body, "the hostile title is shown as text"
        assert "pushed the model most toward this output" in body
        highlight = page.locator(".whylm-highlight").first.inner_text()
        for value in ("Dave", "Palm Coast", "FL", "lawyer", "His"):
            assert value in highlight
        assert page.locator("[data-testid='stMain'] script").count() == 0
        # add the second run: the comparison draws grouped bars and the difference, with real height
        picker.click()
        page.get_by_role("option", name="Other baselines").click()
        page.get_by_text("Difference per feature").first.wait_for(timeout=WAIT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks')]"
            ".filter(e => e.getBoundingClientRect().height > 120).length >= 2",
            timeout=WAIT_MS,
        )
        assert dialogs == []
    finally:
        context.close()
