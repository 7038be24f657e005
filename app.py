"""WhyLM dashboard: page setup, navigation and the shared sidebar (``python -m ui.serve``).

The five pages are listed here by section; each is a short script in
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

from ui.common import render_sidebar  # noqa: E402 - after the warm-up

SECTIONS: dict[str, list[tuple[str, str, str]]] = {
    "Explain": [
        ("pages/explain.py", "Explain a prompt", ":material/psychology:"),
        ("pages/token_gradients.py", "Token gradients", ":material/gradient:"),
    ],
    "Probes": [
        ("pages/bias.py", "Bias associations", ":material/balance:"),
        ("pages/few_shot.py", "Few-shot prompts", ":material/format_list_numbered:"),
    ],
    "Review": [
        ("pages/saved_runs.py", "Saved runs", ":material/history:"),
    ],
}


def build_navigation() -> dict[str, list[st.Page]]:
    """The pages by section; "Explain a prompt" is the start page."""
    return {
        section: [
            st.Page(path, title=title, icon=icon, default=path == "pages/explain.py")
            for path, title, icon in pages
        ]
        for section, pages in SECTIONS.items()
    }


page = st.navigation(build_navigation())
finish_sidebar = render_sidebar()
page.run()
finish_sidebar()  # at start-up: the model's line, once the warm-up has loaded it
