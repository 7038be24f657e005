"""Issue 15, defect 1: text typed or uploaded in the browser is data, never a path on the server.

A readable ``input,label`` CSV (or a ``group,...`` list ending in .csv) lies on the
"server" (the test's folder); its path pasted into the page must not load it, and
``/etc/passwd`` pasted must not show its first line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import SpecError
from core.probes.bias.data import sweep_from_csv
from core.probes.few_shot.spec import load_examples_csv, load_pairs_csv
from tests.page_support import main_errors, no_exception, open_page
from ui.shared.markdown import WORD_JOINER

TIMEOUT = 120
SECRET = "SECRET-ROW-7731"


@pytest.fixture()
def server_files(tmp_path: Path) -> dict[str, Path]:
    """Files a server might hold: a few-shot CSV and a bias list, each with a marker no page shows."""
    pairs = tmp_path / "pairs"  # no comma, no newline: the old loader took such text for a path
    pairs.write_text(f"input,label\n{SECRET},positive\nfine,negative\n", encoding="utf-8")
    groups = tmp_path / "groups.csv"
    groups.write_text(f"group,name\na,{SECRET}\na,Ann\nb,Bo\nb,Cy\n", encoding="utf-8")
    return {"pairs": pairs, "groups": groups}


def test_csv_text_that_names_a_file_is_read_as_text(server_files: dict[str, Path]) -> None:
    for text in (str(server_files["pairs"]), "/etc/passwd"):
        with pytest.raises(SpecError) as info:
            load_pairs_csv(text)
        assert "needs the columns input and label" in str(info.value)
        assert SECRET not in str(info.value) and "root:x" not in str(info.value)
    with pytest.raises(SpecError) as info:
        sweep_from_csv(str(server_files["groups"]))
    assert "first column must be 'group'" in str(info.value) and SECRET not in str(info.value)


def test_a_path_object_still_reads_the_file(server_files: dict[str, Path]) -> None:
    """Scripts and the command line keep their paths: a ``pathlib.Path`` is a file."""
    assert load_examples_csv(server_files["pairs"])[0] == {"input": SECRET, "label": "positive"}
    assert sweep_from_csv(server_files["groups"])["groups"]["a"] == [SECRET, "Ann"]


def readable(markdown: str) -> str:
    """What an error box's markdown reads as on the page (escapes and invisible joiners removed)."""
    return markdown.replace("\\", "").replace(WORD_JOINER, "")


def _fs_paste(at: AppTest, which: str, text: str) -> AppTest:
    at.text_area(key=f"fs_{which}_paste").input(text).run()
    return at.button(key=f"fs_{which}_paste_apply").click().run()


def _everything_shown(at: AppTest) -> str:
    texts = [e.value for e in [*at.error, *at.caption, *at.markdown, *at.info, *at.warning]]
    for which in ("ex", "q"):
        version = at.session_state[f"fs_{which}_version"] if f"fs_{which}_version" in at.session_state else 0
        frame = at.data_editor(key=f"fs_{which}_table_{version}").value
        texts.append(frame.to_csv())
    return "\n".join(texts)


def test_few_shot_paste_of_a_path_shows_no_file(data_dir, server_files: dict[str, Path]) -> None:
    at = open_page("pages/few_shot.py", TIMEOUT)
    before = at.session_state["fs_ex_base"]
    _fs_paste(at, "ex", "/etc/passwd")
    no_exception(at)
    errors = main_errors(at)
    assert any(e.startswith("Examples: the CSV needs the columns input and label") for e in errors), errors
    assert not any("root:x" in readable(e) for e in errors), errors  # /etc/passwd's first line
    _fs_paste(at, "q", str(server_files["pairs"]))
    no_exception(at)
    assert any(e.startswith("Queries: the CSV needs the columns input and label") for e in main_errors(at))
    assert at.session_state["fs_ex_base"] == before
    assert SECRET not in _everything_shown(at)


def test_bias_paste_of_a_csv_path_shows_no_file(data_dir, server_files: dict[str, Path]) -> None:
    at = open_page("pages/bias.py", TIMEOUT)
    before = at.session_state["bi_rows_base"]
    at.text_area(key="bi_paste").input(str(server_files["groups"])).run()
    at.button(key="bi_paste_apply").click().run()
    no_exception(at)
    errors = main_errors(at)
    assert any("first column must be 'group'" in e for e in errors), errors
    assert at.session_state["bi_rows_base"] == before
    assert SECRET not in "\n".join([*errors, *(c.value for c in at.caption)])
