"""Start-up time of the dashboard: `make run` to the tutorial result drawn in Chromium.

Run:  .venv/bin/python bench/bench_startup.py warm   (converted model already cached)
      .venv/bin/python bench/bench_startup.py cold   (empty WHYLM_CACHE_DIR: dequantising included)
Optional third argument: a path to save a screenshot of the result.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, run_tutorial, start_server, stop_server  # noqa: E402

label = sys.argv[1]
extra = {}
if label == "cold":
    extra["WHYLM_CACHE_DIR"] = tempfile.mkdtemp(prefix="whylm-cache-")
shot = len(sys.argv) > 2
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    t0 = time.monotonic()
    srv = start_server(Path(tempfile.mkdtemp(prefix="whylm-data-")), extra, timeout=300, via_make=True)
    t_health = time.monotonic() - t0
    try:
        page = b.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(srv.url)
        page.get_by_role("heading", name="Explain a prompt").wait_for(timeout=300000)
        t_page = time.monotonic() - t0
        run_tutorial(page)
        t_done = time.monotonic() - t0
        print(f"{label}: healthy {t_health:.1f}s, page drawn {t_page:.1f}s, tutorial result drawn {t_done:.1f}s")
        if shot:
            page.wait_for_timeout(1500)
            page.set_viewport_size({"width": 1500, "height": 1250})
            page.get_by_text("pushed the model most toward").first.scroll_into_view_if_needed()
            page.evaluate("""() => { const el = [...document.querySelectorAll('[data-testid="stAlert"]')].pop();
                el.scrollIntoView({block: 'start'}); }""")
            page.wait_for_timeout(1500)
            page.screenshot(path=sys.argv[2])
    finally:
        stop_server(srv)
