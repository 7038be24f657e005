"""WhyLM dashboard: page setup, navigation and the shared sidebar (``streamlit run app.py``).

Pages are listed here by file; a page appears only once its file exists, so a
new page can be added without editing this file.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="WhyLM", page_icon=":material/insights:", layout="wide")

from core.warm_up import importing_modules, wait_for_modules  # noqa: E402 - after set_page_config

if importing_modules():  # started by `python -m core.serve`: wait for it rather than import beside it
    with st.spinner("Starting WhyLM…"):
        wait_for_modules()

from pages.common import render_sidebar  # noqa: E402 - after the warm-up

HERE = Path(__file__).resolve().parent

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
    """The pages whose files exist, by section; "Explain a prompt" is the start page."""
    nav: dict[str, list[st.Page]] = {}
    for section, pages in SECTIONS.items():
        found = [
            st.Page(path, title=title, icon=icon, default=path == "pages/explain.py")
            for path, title, icon in pages
            if (HERE / path).is_file()
        ]
        if found:
            nav[section] = found
    return nav


page = st.navigation(build_navigation())
finish_sidebar = render_sidebar()
page.run()
finish_sidebar()  # at start-up: the model's line, once the warm-up has loaded it
