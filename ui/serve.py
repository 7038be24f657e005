"""Start the dashboard: ``python -m ui.serve [streamlit options]`` (what ``make run`` calls).

It is ``streamlit run app.py`` with one addition: the bundled model and the
pages' modules start loading while the server starts and the browser opens
the page, so the first result appears seconds sooner. Options after the
command go to Streamlit, e.g. ``--server.port 8600``.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
from pathlib import Path

from ui.warm_up import start_warm_up

APP = Path(__file__).resolve().parents[1] / "app.py"


def main(argv: list[str] | None = None) -> None:
    """Start the warm-up thread, then hand over to Streamlit's command line."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    # app.py lists the pages with st.navigation. Streamlit decides once per process, at the first
    # session, whether a pages/ folder means its older folder mode; a first visitor who opens a
    # page's own address (a shared link, after a restart) would get that page's script alone,
    # without app.py's sidebar and navigation. Decide it here: never.
    PagesManager.uses_pages_directory = False
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a stuck server is waiting on
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    start_warm_up()
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
