"""Issue 15, defect 6: an imported document is checked as strictly as a computed one, and capped in size.

A result is read through its kind's result class, which checks every field against its
declared type (features a list of text, seq_attr finite numbers, token_attr a matrix of the
right shape, sane ``meta``, bounded texts and nesting); the run's own columns are checked too
(times from 1970 to 2199, a run time in seconds, texts that fit their columns). A file larger
than ``WHYLM_IMPORT_MAX_MB`` is refused after reading at most the cap and one byte. Every
refusal is one sentence, and nothing is saved.
"""

from __future__ import annotations

import copy
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.__main__ import main as cli_main
from core.errors import WhyLMError
from core.kinds import RUN_KINDS, result_from_dict
from core.result_json import MAX_NESTING, MAX_TEXT
from core.runs.saved import import_runs
from core.store import RunRepository, StoreError
from core.store.config import sqlite_url
from core.store.database import dispose_engines
from core.store.exchange import read_export
from ui.saved_runs.exchange import import_bytes

ROOT = Path(__file__).resolve().parents[2]
OLD_DATABASE = ROOT / "tests" / "data" / "whylm_before_regrouping.db"
EXAMPLES_BEFORE = ROOT / "tests" / "data" / "examples_before"


def stored_results() -> dict[str, dict[str, Any]]:
    """One real result of each kind (runs of the bundled model), as the old test database holds them."""
    with sqlite3.connect(f"file:{OLD_DATABASE}?mode=ro&immutable=1", uri=True) as conn:
        rows = conn.execute("SELECT kind, result_json FROM runs WHERE result_json IS NOT NULL ORDER BY id")
        found: dict[str, dict[str, Any]] = {}
        for kind, text in rows:
            found.setdefault(kind, json.loads(text))
    conn.close()
    return found


def example_results() -> dict[str, dict[str, Any]]:
    """The results `python -m core run examples/NAME.json` printed (tests/data/examples_before), with their specs.

    They were saved without ``meta`` and ``spec``; the spec is the example file's.
    """
    found = {}
    for path in sorted(EXAMPLES_BEFORE.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["spec"] = json.loads((ROOT / "examples" / path.name).read_text(encoding="utf-8"))
        found[path.stem] = doc
    return found


@pytest.fixture()
def repo(tmp_path: Path):
    """An empty run store."""
    yield RunRepository(sqlite_url(tmp_path / "whylm.db"))
    dispose_engines()


def export_of(result: dict[str, Any], **entry: Any) -> dict[str, Any]:
    """An export document holding one run with ``result`` (and the given entry fields)."""
    run = {"kind": result["kind"], "title": "imported", "spec": result["spec"], "result": result}
    run.update(entry)
    return {"whylm_export": 1, "runs": [run]}


def one_sentence(message: str) -> None:
    """Fail unless ``message`` is one sentence for people (no traceback, no row of data)."""
    assert (message[0].isupper() or message.startswith("/")) and message.rstrip().endswith("."), message
    assert "Traceback" not in message and "\n" not in message and len(message) < 700, message[:800]


# ---------------------------------------------------------------- computed results pass


def test_real_results_pass_the_checks() -> None:
    for name, doc in {**stored_results(), **example_results()}.items():
        result = result_from_dict(copy.deepcopy(doc))
        assert type(result) is RUN_KINDS[result.kind].result, name
        assert result_from_dict(result.to_dict()).to_dict() == result.to_dict(), name


@pytest.mark.slow
def test_freshly_computed_results_pass_the_checks(lm) -> None:
    import core.engine
    from core.attribution.presets import preset

    for spec in (
        preset("captum_tutorial").spec_copy(),  # perturbation, feature ablation
        {**preset("capital_ig").spec_copy(), "method": {"name": "saliency"}},  # gradient
    ):
        result = core.engine.run(spec, lm=lm)
        doc = json.loads(result.to_json())
        assert result_from_dict(doc).to_dict() == doc


def test_real_exports_import(repo: RunRepository) -> None:
    for result in stored_results().values():
        (run_id,) = import_runs(repo, export_of(result))
        assert repo.get_run(run_id).result == result_from_dict(result).to_dict()


# ---------------------------------------------------------------- bad results are refused


def _attribution() -> dict[str, Any]:
    return copy.deepcopy(stored_results()["attribution"])


def _nested(levels: int) -> Any:
    value: Any = [1.0]
    for _ in range(levels - 1):
        value = [value]
    return value


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets ``doc[a][b]...`` (path "a.b") to ``value``."""

    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[key]
        doc[last] = value(doc[last]) if callable(value) else value

    return change


BAD_RESULTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "features that are objects": (_set("features", lambda f: [{"label": x} for x in f]), "features[0] is an object"),
    "seq_attr that is text": (_set("seq_attr", lambda v: [str(x) for x in v]), "seq_attr[0] is the text"),
    "seq_attr not finite": (_set("seq_attr", lambda v: [float("nan")] + v[1:]), "not a finite number"),
    "seq_attr too short": (_set("seq_attr", lambda v: v[:-1]), "entries for 5 features"),
    "token_attr ragged": (_set("token_attr", lambda m: [m[0][:-1]] + m[1:]), "token_attr row 0"),
    "token_attr of text": (_set("token_attr", lambda m: [["x"] * len(m[0])] + m[1:]), "token_attr[0][0]"),
    "feature_tokens out of range": (_set("feature_tokens", lambda f: [[999]] + f[1:]), "points outside"),
    "meta seconds 10**400": (_set("meta.seconds", 10**400), "too large"),
    "meta seconds negative": (_set("meta.seconds", -5.0), "meta seconds"),
    "a model name of a million characters": (_set("meta.model_name", "m" * 1_000_000), "1,000,000 characters"),
    "a model name too long for its column": (_set("meta.model_name", "m" * 600), "at most 500"),
    "extra nested deeply": (_set("extra.deep", _nested(MAX_NESTING + 5)), "levels deep"),
    "a feature label too long": (_set("features", lambda f: ["x" * (MAX_TEXT + 1)] + f[1:]), "characters"),
    "no kind": (lambda doc: doc.pop("kind"), "lacks kind"),
}


@pytest.mark.parametrize("what", list(BAD_RESULTS))
def test_a_bad_result_is_refused_with_a_sentence_and_nothing_is_saved(repo: RunRepository, what: str) -> None:
    change, words = BAD_RESULTS[what]
    result = _attribution()
    change(result)
    kind = "attribution"
    doc = {"whylm_export": 1, "runs": [
        {"kind": kind, "title": "good", "spec": result["spec"], "result": _attribution()},
        {"kind": kind, "title": "bad", "spec": result["spec"], "result": result},
    ]}
    with pytest.raises(WhyLMError) as info:
        import_runs(repo, doc)
    message = str(info.value)
    assert words in message and "run 2" in message, message[:400]
    one_sentence(message)
    assert repo.count() == 0


def test_each_kind_checks_its_own_fields(repo: RunRepository) -> None:
    results = stored_results()
    bias, few_shot = results["bias"], results["few_shot"]
    cases = [
        (_set("compare", ["female", "nobody"]), bias, "compare does not name two of its groups"),
        (_set("candidates", lambda c: [{**c[0], "text": 5}] + c[1:]), bias, "candidates[0] has no text"),
        (_set("summary", 3), bias, "summary is the number 3, not a list"),
        (_set("best_subset", [99]), few_shot, "best_subset names examples outside"),
        (_set("labels", "positive"), few_shot, "labels is the text 'positive', not a list"),
        (_set("examples", [["not", "an", "object"]]), few_shot, "examples[0] is a list, not an object"),
    ]
    for change, good, words in cases:
        result = copy.deepcopy(good)
        change(result)
        with pytest.raises(WhyLMError) as info:
            import_runs(repo, export_of(result))
        assert words in str(info.value), str(info.value)[:400]
    assert repo.count() == 0


def test_a_result_of_another_kind_than_its_run_is_refused(repo: RunRepository) -> None:
    doc = export_of(stored_results()["bias"])
    doc["runs"][0]["kind"] = "attribution"
    with pytest.raises(WhyLMError, match="holding a result of kind 'bias'"):
        import_runs(repo, doc)


# ---------------------------------------------------------------- the run's own columns


BAD_COLUMNS: dict[str, tuple[dict[str, Any], str]] = {
    "a date before Python's first day in UTC": ({"created_at": "0001-01-01T00:00:00+01:00"}, "outside the years"),
    "a date after its last": ({"created_at": "9999-12-31T23:59:59-01:00"}, "outside the years"),
    "a date in 1900": ({"created_at": "1900-01-01T00:00:00"}, "outside the years 1970 to 2199"),
    "a note dated year 1": ({"notes": [{"author": "A", "verdict": "ok", "text": "t", "created_at": "0001-01-01"}]},
                            "note 1, has created_at"),
    "seconds 10**400": ({"seconds": 10**400}, "seconds of a number too large"),
    "seconds not a number": ({"seconds": float("nan")}, "seconds of nan"),
    "a model name of a million characters": ({"model_name": "m" * 1_000_000}, "model_name of 1,000,000 characters"),
    "a method too long": ({"method": "m" * 101}, "method of 101 characters"),
    "a note author too long": ({"notes": [{"author": "a" * 201, "verdict": "ok", "text": "t"}]}, "author of 201"),
    "a spec nested 5,000 levels": ({"spec": {"deep": _nested(5000)}}, "more than 32 levels deep"),
}


@pytest.mark.parametrize("what", list(BAD_COLUMNS))
def test_bad_run_columns_are_refused_with_a_sentence(repo: RunRepository, what: str) -> None:
    entry, words = BAD_COLUMNS[what]
    with pytest.raises(WhyLMError) as info:
        import_runs(repo, export_of(stored_results()["attribution"], **entry))
    message = str(info.value)
    assert words in message, message[:400]
    one_sentence(message)
    assert repo.count() == 0


def test_the_command_line_refuses_bad_files_in_one_sentence(repo: RunRepository, tmp_path: Path, capsys) -> None:
    bad = _attribution()
    bad["features"] = [{"x": 1}] * len(bad["features"])
    files = {
        "features.json": (json.dumps(export_of(bad)), "features[0] is an object"),
        "seconds.json": (json.dumps(export_of(_attribution())).replace('"title"', '"seconds": 1' + "0" * 400 + ', "title"'),
                         "too large"),
        "deep.json": ('{"whylm_export": 1, "runs": ' + "[" * 5000 + "]" * 5000 + "}", "too deeply"),
    }
    for name, (text, words) in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert cli_main(["runs", "--url", repo.url, "import", str(path)]) == 1, name
        err = capsys.readouterr().err.strip()
        assert words in err, (name, err[:400])
        one_sentence(err.removeprefix("error: "))
    assert repo.count() == 0


def test_the_page_refuses_deep_nesting_and_bad_results_in_one_sentence(repo: RunRepository) -> None:
    deep = ('{"whylm_export": 1, "runs": ' + "[" * 5000 + "]" * 5000 + "}").encode()
    with pytest.raises(WhyLMError, match="nests lists and objects too deeply"):
        import_bytes(repo, deep)
    bad = _attribution()
    bad["seq_attr"] = ["a"] * len(bad["seq_attr"])
    with pytest.raises(WhyLMError, match="seq_attr"):
        import_bytes(repo, json.dumps(export_of(bad)).encode())
    assert repo.count() == 0


# ---------------------------------------------------------------- the size cap


class EndlessInput(io.RawIOBase):
    """Standard input that never ends (as /dev/zero); it fails the test if asked for all of it."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with zero bytes (a read of everything asks for more without end)."""
        self.given += len(buffer)
        assert self.given < 64 * 1024 * 1024, "the import is reading an endless input whole"
        buffer[:] = b"\0" * len(buffer)
        return len(buffer)


def test_an_import_reads_at_most_the_cap(repo: RunRepository, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WHYLM_IMPORT_MAX_MB", "1")
    endless = EndlessInput()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BufferedReader(endless)))
    assert cli_main(["runs", "--url", repo.url, "import", "-"]) == 1
    err = capsys.readouterr().err
    assert "larger than 1 MB" in err and "WHYLM_IMPORT_MAX_MB" in err
    assert endless.given <= 2 * 1024 * 1024  # the cap and a buffer's worth, never the whole stream


def test_dev_zero_is_refused_after_the_cap(monkeypatch) -> None:
    monkeypatch.setenv("WHYLM_IMPORT_MAX_MB", "2")
    with pytest.raises(StoreError, match="larger than 2 MB"):
        read_export("/dev/zero")


def test_a_file_over_the_cap_is_refused_and_one_under_it_imports(repo: RunRepository, tmp_path, monkeypatch, capsys) -> None:
    text = json.dumps(export_of(_attribution()))
    path = tmp_path / "export.json"
    path.write_text(text + " " * 1_100_000, encoding="utf-8")  # valid JSON, just over 1 MB
    monkeypatch.setenv("WHYLM_IMPORT_MAX_MB", "1")
    assert cli_main(["runs", "--url", repo.url, "import", str(path)]) == 1
    assert "larger than 1 MB" in capsys.readouterr().err
    with pytest.raises(WhyLMError, match="larger than 1 MB"):
        import_bytes(repo, path.read_bytes())
    assert repo.count() == 0
    monkeypatch.setenv("WHYLM_IMPORT_MAX_MB", "2")
    assert cli_main(["runs", "--url", repo.url, "import", str(path)]) == 0
    assert repo.count() == 1


@pytest.mark.parametrize("setting", ["lots", "0", "-3", "nan"])
def test_a_bad_cap_setting_is_a_sentence(repo: RunRepository, tmp_path, monkeypatch, capsys, setting: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_of(_attribution())), encoding="utf-8")
    monkeypatch.setenv("WHYLM_IMPORT_MAX_MB", setting)
    assert cli_main(["runs", "--url", repo.url, "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert "WHYLM_IMPORT_MAX_MB" in err and "megabytes" in err
    assert repo.count() == 0


def test_the_command_line_marks_imported_runs_as_the_dashboard_does(repo: RunRepository, tmp_path, capsys) -> None:
    """Issue 14, point 1: ``python -m core runs import`` tags each run ``imported`` (the dashboard's one rule)."""
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_of(_attribution(), tags=["team-a"])), encoding="utf-8")
    assert cli_main(["runs", "--url", repo.url, "import", str(path)]) == 0
    (cli_id,) = [int(x) for x in capsys.readouterr().out.rstrip(".\n").split("ids ")[-1].split(", ")]
    (page_id,) = import_bytes(repo, path.read_bytes())
    from_cli, from_page = repo.get_run(cli_id), repo.get_run(page_id)
    assert from_cli.tags == from_page.tags
    assert set(from_cli.tags) == {"team-a", "imported"}
