"""Screenshots of every page with its example run, for the README: 1400 and 1000 px wide, light and dark.

Starts the dashboard as the browser tests do (``tests.browser_support.start_server``,
its own empty data folder), opens each page in Chromium (``CHROMIUM`` with
``CHROMIUM_ARGS``) through playwright, presses Run on the example the page opens
with, waits for the result, and saves ``docs/screenshots/PAGE-WIDTH-THEME.png``;
the Saved runs page is taken last, with the first run opened. Streamlit follows the
browser's colour scheme, so light and dark are the same page under both schemes.
Bias studies is taken on two models, so that its model-against-model table and its
regressions show: the bundled model in bfloat16 (the sidebar's precision) against the
same weights in float32 (typed in as the other model).

    python tools/screenshots.py [--pages explain bias ...] [--timeout 900] [--no-saved-runs]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PAGES = ("explain", "token_gradients", "bias", "few_shot", "studies", "documents")
WIDTHS = (1400, 1000)
HEIGHT = 1200
MAX_HEIGHT = 7000
THEMES = ("light", "dark")


def shoot(page, name: str) -> list[Path]:  # noqa: ANN001 - a playwright Page
    """Save the page at every width and theme; return the files written."""
    written = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        page.wait_for_timeout(1500)
        # the whole page in one picture: the window as tall as the app's scrolling main area
        tall = page.evaluate(
            "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
            " return m ? m.scrollHeight : document.body.scrollHeight; }"
        )
        page.set_viewport_size({"width": width, "height": max(min(int(tall) + 40, MAX_HEIGHT), 800)})
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            page.wait_for_timeout(1500)  # charts redraw at the new width and colours
            path = OUT / f"{name}-{width}-{theme}.png"
            page.screenshot(path=str(path))
            written.append(path)
    return written


def choose(page, label: str, option: str | re.Pattern[str]) -> None:  # noqa: ANN001 - a playwright Page
    """Pick ``option`` in the selectbox whose label starts with ``label`` (the sidebar's included)."""
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).first.locator("input").click()
    page.get_by_role("option", name=option).first.click()
    page.wait_for_timeout(1500)


def two_models(page) -> None:  # noqa: ANN001
    """Bias studies on two models: the sidebar's bundled model in bfloat16, the bundled model as the other."""
    choose(page, "Precision", "bfloat16 (half the memory)")
    others = page.get_by_label(re.compile("^Other models to compare with it"))
    others.fill("default")
    others.press("Control+Enter")
    page.get_by_text("on 2 model(s)").first.wait_for()


def one_model(page) -> None:  # noqa: ANN001
    """Back to the machine's own precision for the pages after Bias studies."""
    choose(page, "Precision", re.compile("^Automatic"))


BEFORE_RUN = {"studies": two_models}
AFTER_SHOTS = {"studies": one_model}


def run_example(page, url: str, name: str, timeout_s: float) -> None:  # noqa: ANN001
    """Open a page, press Run on the example it starts with (Bias studies on two models), wait for the saved
    result."""
    if not page.url.rstrip("/").endswith(f"/{name}") and not (name == "explain" and page.url.rstrip("/") == url):
        page.goto(f"{url}/{name}")
    page.get_by_role("button", name="Run", exact=True).wait_for(timeout=120_000)
    for _ in range(12):  # the warm-up may still be measuring this machine's speed: show the measured estimate
        if "first guess" not in page.inner_text("body"):
            break
        page.wait_for_timeout(10_000)
        page.reload()
        page.get_by_role("button", name="Run", exact=True).wait_for(timeout=120_000)
    page.wait_for_timeout(1500)  # the example finishes loading into the form
    if name in BEFORE_RUN:
        BEFORE_RUN[name](page)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Saved as run").first.wait_for(timeout=timeout_s * 1000)
    page.wait_for_timeout(2000)  # charts finish drawing


def main() -> int:
    """Take the screenshots; print each file and how long each page's run took."""
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", nargs="*", default=list(PAGES), help="pages to run (default: all)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a page's run may take")
    parser.add_argument("--no-saved-runs", action="store_true", help="leave the Saved runs screenshots as they are")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data:
        server = start_server(Path(data), timeout=300)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": WIDTHS[0], "height": HEIGHT})
                page.set_default_timeout(300_000)  # a busy machine draws slowly; the page is inert meanwhile
                # the start page first: a fresh server learns there that app.py navigates (st.navigation);
                # a page's own address opened before that runs the page script alone, without the app around it
                page.goto(server.url)
                page.get_by_role("button", name="Run", exact=True).wait_for(timeout=300_000)
                page.get_by_text("million parameters").first.wait_for()  # the warm-up has loaded the model
                page.wait_for_timeout(20_000)  # and measured its speed (the estimate before Run)
                for name in args.pages:
                    began = time.monotonic()
                    try:
                        run_example(page, server.url, name, args.timeout)
                    except Exception:
                        page.screenshot(path=str(OUT / f"failed-{name}.png"))  # what stood in the way
                        raise
                    print(f"{name}: run in {time.monotonic() - began:.0f} s", flush=True)
                    for path in shoot(page, name):
                        print(f"  {path.relative_to(ROOT)}", flush=True)
                    if name in AFTER_SHOTS:
                        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
                        AFTER_SHOTS[name](page)
                if args.no_saved_runs:
                    browser.close()
                    return 0
                page.goto(f"{server.url}/saved_runs?run=1")
                page.get_by_text("Open in its page").first.wait_for(timeout=120_000)
                page.wait_for_timeout(2000)
                for path in shoot(page, "saved_runs"):
                    print(f"  {path.relative_to(ROOT)}", flush=True)
                browser.close()
        finally:
            stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
