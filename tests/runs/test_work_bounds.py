"""Issue 23, points 1, 2 and 8: imports, pasted prompts and runs bounded before the work starts.

1. An export is scanned (values and nesting counted) before it is parsed, so a 46 MB file of
   16 million ``{}`` is refused in seconds in bounded memory, not parsed into gigabytes.
2. A prompt's length is checked in characters before it is tokenized, then its tokens are counted
   in bounded chunks: a 20 MB paste is refused in seconds with a sentence saying how much too long.
8. The work limit counts tokens through the model and memory, not only forward passes.

Memory is the child process's peak RSS above its resting RSS (``tests/memory_support.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.store import StoreError
from core.store.exchange import MAX_IMPORT_VALUES, load_export
from tests.memory_support import measure

MB = 2**20
BOUND = 500 * MB
"""The most a refused import or paste may take above the server's resting memory."""


# ---------------------------------------------------------------- 1. imports


@pytest.fixture(scope="module")
def empty_objects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's file: 16 million ``{}`` in ``runs`` (46 MB, under the 50 MB cap)."""
    path = tmp_path_factory.mktemp("import") / "objects.json"
    with path.open("w", encoding="utf-8") as f:
        f.write('{"whylm_export": 1, "runs": [')
        f.write(",".join(["{}"] * 4_000_000))
        for _ in range(3):
            f.write(",")
            f.write(",".join(["{}"] * 4_000_000))
        f.write("]}")
    assert 45 * MB < path.stat().st_size < 50 * MB
    return path


def test_a_46_mb_file_of_empty_objects_is_refused_fast_in_bounded_memory(empty_objects: Path, tmp_path: Path) -> None:
    measured = measure(
        "import contextlib, io\nfrom core.__main__ import main",
        "said = io.StringIO()\n"
        "with contextlib.redirect_stderr(said):\n"
        f"    main(['runs', '--url', 'sqlite:///{tmp_path}/runs.db', 'import', '{empty_objects}'])\n"
        "message = said.getvalue()",
    )
    assert not measured.killed, "the import took more than 1.5 GB above resting memory"
    assert measured.above_resting < BOUND, f"{measured.above_resting / MB:.0f} MB above resting"
    assert measured.seconds < 10
    assert "values (numbers, texts, lists and objects), more than the 5,000,000" in str(measured.message)
    print(f"46 MB import: {measured.above_resting / MB:.0f} MB above resting, {measured.seconds:.2f} s")


def test_the_page_refuses_the_same_file_with_a_sentence(empty_objects: Path) -> None:
    with pytest.raises(StoreError, match=r"holds about 48,000,0\d\d values .* more than the 5,000,000"):
        load_export(empty_objects.read_bytes(), "This file")


def test_values_are_counted_outside_texts_and_nesting_before_parsing() -> None:
    many = ",".join(["1"] * (MAX_IMPORT_VALUES + 10))
    with pytest.raises(StoreError, match="more than the 5,000,000 an import reads"):
        load_export(f'{{"whylm_export": 1, "runs": [], "x": [{many}]}}'.encode(), "f.json")
    # commas, colons and brackets inside texts are not values
    text = json.dumps({"whylm_export": 1, "runs": [], "x": "{[,:]}" * 2_000_000})
    assert load_export(text.encode(), "f.json")["x"].startswith("{[,:]}")
    deep = '{"whylm_export": 1, "runs": [], "x": ' + "[" * 40 + "]" * 40 + "}"
    with pytest.raises(StoreError, match="too deeply .more than 35 levels"):
        load_export(deep.encode(), "f.json")
    ok = '{"whylm_export": 1, "runs": [], "x": ' + "[" * 30 + "]" * 30 + "}"
    assert load_export(ok.encode(), "f.json")["runs"] == []
