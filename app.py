"""WhyLM dashboard: page setup, navigation and the shared sidebar (``python -m ui.serve``).

The pages are listed in ``ui.shared.page_table`` by section; each is a short script in
``pages/`` whose building blocks live in the ``ui`` package.
"""

from __future__ import annotations

import streamlit as st

# The tab icon is an emoji: Streamlit fetches a ":material/...:" page icon from fonts.gstatic.com, which
# a server without internet cannot reach. The page icons below (":material/...:" in st.Page) are drawn
# with the Material Symbols font Streamlit ships in its static files, so they need no network.
PAGE_ICON = "🔎"
st.set_page_config(page_title="WhyLM", page_icon=PAGE_ICON, layout="wide")

from ui.warm_up import importing_modules, wait_for_modules  # noqa: E402 - after set_page_config

if importing_modules():  # started by `python -m ui.serve`: wait for it rather than import beside it
    with st.spinner("Starting WhyLM…"):
        wait_for_modules()

from ui.shared.page_table import sections  # noqa: E402 - after the warm-up
from ui.shared.sidebar import render_sidebar  # noqa: E402 - after the warm-up


def build_navigation() -> dict[str, list[st.Page]]:
    """The pages by section (``ui.shared.page_table``); "Explain a prompt" is the start page."""
    return {
        section: [st.Page(p.path, title=p.title, icon=p.icon, default=p.start) for p in pages]
        for section, pages in sections().items()
    }


page = st.navigation(build_navigation())
finish_sidebar = render_sidebar()
page.run()
finish_sidebar()  # at start-up: the model's line, once the warm-up has loaded it
