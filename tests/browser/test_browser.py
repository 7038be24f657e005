"""The dashboard in a real headless Chromium: the tutorial preset draws its charts; model text is inert.

Needs Chromium (``apt-get install chromium``; ``WHYLM_CHROMIUM`` overrides the path)
and the Playwright Python package. Run with ``pytest -m browser``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser_support import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    Server,
    dashboard,
    scaled,
    start_server,
    stop_server,
)

RUN_TIMEOUT_MS = scaled(180_000)  # tests.browser_support.scaled: longer on a slower or busy machine

pytestmark = [
    pytest.mark.browser,
]


def run_tutorial(page) -> None:  # noqa: ANN001 - a playwright Page
    """On "Explain a prompt": load the Captum tutorial example, run it, wait for both charts."""
    page.get_by_role("button", name="Load example").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('playing golf'))"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=scaled(60_000),
    )
    page.wait_for_timeout(300)
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_charts(page)


def wait_for_charts(page, count: int = 2) -> None:  # noqa: ANN001
    """Wait until ``count`` vega charts have drawn (a canvas or svg inside vega-embed)."""
    page.wait_for_function(
        f"() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length >= {count}",
        timeout=RUN_TIMEOUT_MS,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with dashboard(tmp_path_factory.mktemp("whylm-data")) as (srv, _data_dir):
        yield srv


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    pg.goto(server.url)
    pg.get_by_role("heading", name="Explain a prompt").wait_for(timeout=scaled(60_000))
    try:
        yield pg
    finally:
        context.close()


def test_tutorial_preset_draws_bar_chart_and_heatmap(page) -> None:
    run_tutorial(page)
    embeds = page.locator("[data-testid='stVegaLiteChart']")
    assert embeds.count() >= 2
    body = page.inner_text("body")
    assert "pushed the model most toward this output" in body
    assert "Probability of the target with the full prompt" in body
    assert "Explained output: playing golf, hiking, and cooking." in body
    # the highlighted prompt shows every tutorial slot value
    highlight = page.locator(".whylm-highlight").first.inner_text()
    for value in ("Dave", "Palm Coast", "FL", "lawyer", "His"):
        assert value in highlight
    assert "million parameters" in page.locator("[data-testid='stSidebar']").inner_text()
    # the save is said once the job's result is stored, a moment after the charts on a busy machine
    page.get_by_text("Saved as run").first.wait_for(timeout=scaled(30_000))
    assert not page.dialogs


HOSTILE = "Hi <script>alert(1)</script> and <img src=x onerror=alert(1)> there"


def test_hostile_prompt_is_shown_as_text(page) -> None:
    page.get_by_text("Plain text", exact=True).click()
    box = page.get_by_role("textbox", name="Prompt text")
    box.fill(HOSTILE)
    box.press("Tab")
    # without chat mode, removing every word would leave nothing; replace absent words instead
    replacement = page.get_by_role("textbox", name="Replacement for an absent part")
    replacement.fill("something")
    replacement.press("Tab")
    page.get_by_text("Text I give", exact=True).click()
    target = page.get_by_role("textbox", name="Output text")
    target.fill(" Hello <b>bold</b>")
    target.press("Tab")
    page.wait_for_timeout(500)
    # a click while the form still reruns can be swallowed by that rerun: wait until the page is idle
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=scaled(60_000)
    )
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_charts(page)
    page.locator(".whylm-highlight").first.wait_for()
    highlight = page.locator(".whylm-highlight").first
    assert highlight.inner_text().strip() == HOSTILE
    assert highlight.locator("script, img").count() == 0
    assert page.locator("img[src='x']").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []


def test_a_link_to_a_page_is_the_first_visit_after_a_start(browser, tmp_path) -> None:
    """A shared link opened first after the dashboard starts: the page comes with the app's own sidebar
    (sections, model picker), not Streamlit's older pages-folder mode (the page script alone)."""
    fresh = start_server(tmp_path / "data")
    try:
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        page = context.new_page()
        page.goto(f"{fresh.url}/token_gradients")
        page.get_by_role("heading", name="Token gradients").wait_for(timeout=scaled(120_000))
        sidebar = page.locator("[data-testid=stSidebar]")
        sidebar.get_by_text("Explain a prompt").wait_for(timeout=scaled(60_000))
        sidebar.get_by_text("Model", exact=True).first.wait_for(timeout=scaled(60_000))
        text = sidebar.inner_text()
        assert "Bias associations" in text and "Saved runs" in text
        assert "token gradients" not in text  # the folder mode's file-name links
        context.close()
    finally:
        stop_server(fresh)


def test_the_report_of_a_long_output_stays_within_the_window(browser, lm) -> None:
    """Issue 14, point 13: the report's per-token table (one column per output token) scrolls in its own box;
    the page itself is never wider than the window, at 1400 or at 1000 px."""
    from core.engine import run
    from core.present.report import report_html
    from tests.present.test_report import record

    target = " playing golf, hiking, cooking, reading history books, sailing on the lake, and long walks " * 2
    spec = {"model": "default", "prompt": {"template": "{} lives in {}. His hobbies include", "values": ["Dave", "Paris"]},
            "target": {"text": target}, "method": {"name": "feature_ablation"}}
    result = run(spec, lm=lm).to_dict()
    assert len(result["output_tokens"]) > 30
    html = report_html([record(1, "A long output", result)])
    for width in (1400, 1000):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_content(html)
        table_width = page.evaluate("Math.max(...[...document.querySelectorAll('table')].map(t => t.scrollWidth))")
        page_width = page.evaluate("document.documentElement.scrollWidth")
        context.close()
        assert table_width > width / 2  # the wide table is there ...
        assert page_width <= width, (width, page_width)  # ... and the page does not grow with it
