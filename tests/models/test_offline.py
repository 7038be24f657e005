"""Issue 15, defects 10 and 8 in a real Chromium: the dashboard asks no other host; ":x:" stays text.

Every request the page makes to a host other than the dashboard's own is
recorded and refused, as on a server with no network. Needs Chromium and
Playwright, like ``tests/browser/test_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from tests.browser_support import Server, start_server, stop_server

pytestmark = [pytest.mark.browser]

WAIT_MS = 90_000
WORD_JOINER = "\u2060"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("whylm-offline"))
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture()
def offline_page(browser, server):
    """A page whose requests to any host but the dashboard are refused; ``page.outside`` lists them."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def only_the_dashboard(route) -> None:  # noqa: ANN001 - a playwright Route
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", only_the_dashboard)
    page = context.new_page()
    page.outside = outside
    try:
        yield page
    finally:
        context.close()


def test_the_dashboard_needs_no_other_host(offline_page, server) -> None:
    page = offline_page
    page.goto(server.url)
    page.get_by_role("heading", name="Explain a prompt").wait_for(timeout=WAIT_MS)
    # the tab icon is set by the page once the app has sent its page config
    page.wait_for_function(
        "() => !document.querySelector(\"link[rel='shortcut icon']\").href.endsWith('favicon.png')",
        timeout=WAIT_MS,
    )
    icon = page.evaluate("() => document.querySelector(\"link[rel='shortcut icon']\").href")
    assert urlparse(icon).scheme == "data" or urlparse(icon).hostname == "127.0.0.1", icon
    # the navigation's page icons are drawn with the icon font Streamlit ships, loaded from the dashboard
    page.get_by_role("link", name="Few-shot prompts").wait_for(timeout=WAIT_MS)
    statuses = page.evaluate(
        "async () => { await document.fonts.ready; return [...document.fonts]"
        ".filter(f => f.family.includes('Material Symbols')).map(f => f.status); }"
    )
    assert "loaded" in statuses, statuses
    page.get_by_role("link", name="Few-shot prompts").click()
    page.get_by_role("heading", name="Few-shot prompts").wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(1000)
    assert page.outside == []


def test_emoji_codes_in_an_error_stay_text(offline_page, server) -> None:
    page = offline_page
    page.goto(server.url + "/bias")
    page.get_by_role("heading", name="Bias associations").wait_for(timeout=WAIT_MS)
    page.get_by_role("tab", name="Paste text").click()
    box = page.get_by_role("textbox", name="Paste a list")
    box.fill("group,:x:\na,b\na,c\nb,d\nb,e")
    box.press("Tab")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Use the pasted list").click()
    alert = page.locator("[data-testid='stAlertContentError']").filter(has_text="no slot")
    alert.first.wait_for(timeout=WAIT_MS)
    shown = alert.first.inner_text().replace(WORD_JOINER, "")
    assert "{:x:}" in shown, shown
    assert "\u274c" not in shown
