"""Saved runs are uniform: one result shape for every kind, one saved spec for every path, old runs open.

- Every result class is a ``JsonResult`` with ``kind`` and ``format`` and refuses a bad
  document with a sentence (``WhyLMError``), never a ValueError or KeyError.
- The dashboard (``ui.shared.run_job``), the command line (``python -m core run --save``) and an
  import save the normalised spec (the result's ``spec``) and a current-format result.
- A database written by WhyLM before its code was regrouped (``tests/data``; how it was
  made: ``tests/data/whylm_before_regrouping.md``) opens: its runs list, read back through
  the kind registry and draw in a report.
"""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import core.engine
from core.__main__ import main as cli_main
from core.errors import WhyLMError
from core.kinds import RUN_KINDS, result_from_dict
from core.present.report import report_html
from core.probes.bias.run import BiasResult
from core.result_json import RESULT_FORMAT, JsonResult
from core.runs.saved import normalised_spec, saved_documents
from core.store import RunRepository
from core.store.config import sqlite_url
from core.store.database import dispose_engines, upgrade_database
from tests.result_samples import COMPARE_RESULT
from ui.saved_runs.exchange import import_bytes
from ui.shared.run_job import RunJob, _work

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "result_samples"
NEWER_KINDS = {
    "compare": COMPARE_RESULT,
    **{path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(SAMPLES.glob("*.json"))},
}
"""Kinds added after the old database was written, with a sample document of each: the compare kind's made by
hand, the others' (``tests/data/result_samples/<kind>.json``) by running a small spec of the kind once on the
bundled model (a bias study of the first six pairs of ``core/probes/studies/data/pairs.csv``;
``examples/documents_bakery.json``). A kind registered since needs its sample there."""
OLD_DATABASE = Path(__file__).resolve().parents[1] / "data" / "whylm_before_regrouping.db"


def old_results() -> dict[str, dict[str, Any]]:
    """One result document of each kind, as the old database holds it (read with sqlite3 alone)."""
    with sqlite3.connect(f"file:{OLD_DATABASE}?mode=ro&immutable=1", uri=True) as conn:
        rows = conn.execute("SELECT kind, result_json FROM runs WHERE result_json IS NOT NULL ORDER BY id")
        found: dict[str, dict[str, Any]] = {}
        for kind, text in rows:
            found.setdefault(kind, json.loads(text))
    return found


@pytest.fixture(scope="module")
def samples() -> dict[str, dict[str, Any]]:
    """A valid result document of every run kind (kinds newer than the old database: made by hand)."""
    found = old_results()
    assert set(found) == set(RUN_KINDS) - set(NEWER_KINDS)
    return {**found, **NEWER_KINDS}


def old_database(tmp_path: Path) -> str:
    """A copy of the old database, brought to the newest schema revision; its URL."""
    path = tmp_path / "old" / "whylm.db"
    path.parent.mkdir()
    shutil.copy(OLD_DATABASE, path)
    url = sqlite_url(path)
    upgrade_database(url)  # a no-op while the schema is the one it was written with
    return url


# ---------------------------------------------------------------- one result shape


def test_every_result_class_is_a_json_result_with_kind_and_format(samples) -> None:
    for name, kind in RUN_KINDS.items():
        assert issubclass(kind.result, JsonResult) and kind.result.result_kind == name
        result = kind.result.from_dict(samples[name])
        doc = result.to_dict()
        assert list(doc)[:2] == ["kind", "format"]
        assert (doc["kind"], doc["format"]) == (name, RESULT_FORMAT)
        assert kind.result.from_json(result.to_json()).to_dict() == doc


def _bad_documents(name: str, good: dict[str, Any]) -> dict[str, Any]:
    other = next(k for k in RUN_KINDS if k != name)
    without_kind = {k: v for k, v in good.items() if k != "kind"}
    return {
        "a list": [good],
        "text": "a result",
        "nothing": None,
        "another kind": {**good, "kind": other},
        "no kind": without_kind,
        "only a kind": {"kind": name},
        "no spec": {k: v for k, v in good.items() if k != "spec"},
        "a newer format": {**good, "format": RESULT_FORMAT + 1},
        "a format that is text": {**good, "format": "1"},
    }


@pytest.mark.parametrize("name", list(RUN_KINDS))
def test_every_result_class_refuses_a_bad_document_with_a_sentence(samples, name: str) -> None:
    cls = RUN_KINDS[name].result
    for what, doc in _bad_documents(name, samples[name]).items():
        with pytest.raises(WhyLMError) as info:
            cls.from_dict(doc)
        assert not isinstance(info.value, (ValueError, KeyError, TypeError)), what
        message = str(info.value)
        assert cls.document_name in message, (what, message)
        assert message[0].isupper() and message.endswith("."), (what, message)
    with pytest.raises(WhyLMError, match="the JSON is broken"):
        cls.from_json('{"kind": ')
    with pytest.raises(WhyLMError, match="lacks"):
        cls.from_dict({"kind": name})
    with pytest.raises(WhyLMError, match="newer"):
        cls.from_dict({**samples[name], "format": RESULT_FORMAT + 1})


def test_the_registry_refuses_what_is_no_result_with_a_sentence(samples) -> None:
    bad = (([], "JSON object"), ({"kind": "poem"}, "not a run kind"), ({"kind": "bias"}, "lacks"))
    for doc, words in bad:
        with pytest.raises(WhyLMError, match=words):
            result_from_dict(doc)
    for name, doc in samples.items():
        assert type(result_from_dict(doc)) is RUN_KINDS[name].result


def test_a_result_cannot_be_built_with_another_kinds_name(samples) -> None:
    doc = BiasResult.from_dict(samples["bias"]).to_dict()
    fields = {k: v for k, v in doc.items() if k not in ("kind", "format")}
    with pytest.raises(WhyLMError, match="bias"):
        BiasResult(kind="few_shot", **fields)


def test_an_old_bias_result_reads_with_its_spec_filled_in(samples) -> None:
    old = samples["bias"]
    assert "format" not in old and list(old)[-1] == "kind"  # the shape before the regrouping
    result = BiasResult.from_dict(old)
    assert result.format == RESULT_FORMAT
    assert result.spec == BiasResult.spec_document(old["spec"]) != old["spec"]
    assert BiasResult.spec_document(result.spec) == result.spec  # filling in twice changes nothing
    # everything else is kept as it was
    assert {k: v for k, v in result.to_dict().items() if k not in ("spec", "format")} == {
        k: v for k, v in old.items() if k != "spec"
    }
    # reading the current document again is a fixed point
    assert BiasResult.from_dict(result.to_dict()).to_dict() == result.to_dict()


# ---------------------------------------------------------------- one saved spec for every path

# Each input as a spec file would give it (sparse: defaults left out) and as a form writes it
# (every setting spelled out); the two spell the same run.
PROMPT = {"template": "{name} lives in {city} and works as a", "values": {"name": "Dave", "city": "Paris"}}
ATTRIBUTION_FILE = {
    "prompt": copy.deepcopy(PROMPT),
    "target": {"text": " lawyer"},
    "method": "feature_ablation",
}
ATTRIBUTION_FORM = {
    "kind": "attribution",
    "model": "default",
    "prompt": copy.deepcopy(PROMPT),
    "chat": False,
    "target": {"text": " lawyer"},
    "score": "log_prob",
    "method": {"name": "feature_ablation"},
    "trials": 1,
    "seed": 0,
}
BIAS_FILE = {
    "kind": "bias",
    "template": "{name} works as a",
    "sweep": {"slots": "name", "groups": {"female": ["Mary", "Linda"], "male": ["John", "James"]}},
    "candidates": [" nurse", " pilot"],
    "bootstrap": 100,
    "permutations": 100,
    "attribution": False,
}
BIAS_FORM = {
    "kind": "bias",
    "model": "default",
    "template": "{name} works as a",
    "sweep": {"slots": ["name"], "groups": {"female": [["Mary"], ["Linda"]], "male": [["John"], ["James"]]}},
    "values": {},
    "vary": {},
    "candidates": [" nurse", " pilot"],
    "compare": ["female", "male"],
    "score": "log_prob",
    "bootstrap": 100,
    "permutations": 100,
    "seed": 0,
    "level": 0.95,
    "chat": False,
    "attribution": {"enabled": False},
}
FEW_SHOT_FILE = {
    "kind": "few_shot",
    "examples": [{"input": "Great fun.", "label": "positive"}, {"input": "Dull.", "label": "negative"}],
    "queries": [{"input": "I loved it.", "label": "positive"}],
    "labels": ["positive", "negative"],
    "example_format": "Review: {input}\nSentiment: {label}\n\n",
    "query_format": "Review: {input}\nSentiment:",
    "order_trials": 0,
}
FEW_SHOT_FORM = {
    **copy.deepcopy(FEW_SHOT_FILE),
    "model": "default",
    "instruction": "",
    "chat": False,
    "method": "auto",
    "seed": 0,
}
INPUTS = {
    "attribution": (ATTRIBUTION_FILE, ATTRIBUTION_FORM),
    "bias": (BIAS_FILE, BIAS_FORM),
    "few_shot": (FEW_SHOT_FILE, FEW_SHOT_FORM),
}


def _dashboard_save(spec: dict[str, Any], lm, repo: RunRepository, stop: bool = False) -> int:
    """Run ``spec`` and save it as the dashboard's run job does; the new run id."""
    job = RunJob(spec=copy.deepcopy(spec), title="", tags=["dashboard"], save=True)
    if stop:
        job.stop_event.set()
    _work(job, lm, repo, core.engine.run)
    assert job.save_error is None and job.run_id is not None, job.save_error
    return job.run_id


def _cli_save(spec: dict[str, Any], folder: Path, capsys) -> int:
    """Run ``spec`` from a file with ``python -m core run --save``; the new run id."""
    path = folder / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    assert cli_main(["run", str(path), "--save", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)["meta"]["run_id"]


@pytest.mark.parametrize("name", list(INPUTS))
def test_the_dashboard_and_the_command_line_save_the_same_normalised_spec(
    name: str, lm, data_dir: Path, tmp_path: Path, capsys
) -> None:
    from_file, from_form = INPUTS[name]
    repo = RunRepository()
    cli = repo.get_run(_cli_save(from_file, tmp_path, capsys))
    dashboard = repo.get_run(_dashboard_save(from_form, lm, repo))
    assert cli.kind == dashboard.kind == name
    assert cli.spec == dashboard.spec
    assert cli.spec == cli.result["spec"] and dashboard.spec == dashboard.result["spec"]
    assert cli.spec == normalised_spec(from_file) == normalised_spec(from_form)
    for record in (cli, dashboard):
        assert list(record.result)[:2] == ["kind", "format"] and record.result["format"] == RESULT_FORMAT
        assert result_from_dict(record.result).to_dict() == record.result
    assert set(cli.result) == set(dashboard.result)
    dispose_engines()


def test_a_stopped_dashboard_run_saves_the_normalised_spec(lm, data_dir: Path) -> None:
    repo = RunRepository()
    record = repo.get_run(_dashboard_save(FEW_SHOT_FILE, lm, repo, stop=True))
    assert record.status == "stopped" and record.result is None
    assert record.spec == normalised_spec(FEW_SHOT_FILE) != FEW_SHOT_FILE
    # a spec that cannot run is saved as it was written, with the sentence that says why
    broken = {**FEW_SHOT_FILE, "labels": "positive"}
    record = repo.get_run(_dashboard_save(broken, lm, repo))
    assert record.status == "failed" and record.spec == broken and "labels" in record.error
    dispose_engines()


def test_saved_documents_keeps_what_is_no_whylm_result() -> None:
    spec, result = {"model": "m", "n": 1}, {"scores": [1.0]}
    assert saved_documents(spec, result) == (spec, result)
    assert saved_documents({"kind": "gradient"}, None) == ({"kind": "gradient"}, None)


# ---------------------------------------------------------------- old saved runs open


def test_a_database_from_before_the_regrouping_opens_reads_and_reports(tmp_path: Path) -> None:
    repo = RunRepository(old_database(tmp_path))
    runs = repo.list_runs()
    assert [(r.kind, r.status) for r in reversed(runs)] == [
        ("attribution", "done"),  # python -m core run examples/tutorial.json --save
        ("bias", "done"),  # the command line
        ("few_shot", "done"),  # the command line
        ("bias", "done"),  # the dashboard: the form's document
        ("attribution", "done"),  # the dashboard: the form's document
        ("few_shot", "failed"),  # the dashboard: a spec that could not run
    ]
    records = [repo.get_run(r.id) for r in reversed(runs)]
    assert records[0].tags == ("tutorial",) and records[0].notes[0].author == "Ada"
    for record in records:
        if record.result is None:
            assert record.error and "labels" in record.error
            continue
        result = result_from_dict(record.result)
        assert type(result) is RUN_KINDS[record.kind].result and result.format == RESULT_FORMAT
        assert result.spec == type(result).spec_document(result.spec)  # the spec as run
    html = report_html(records, title="Old runs")
    for record in records:
        assert f'id="run-{record.id}"' in html
    assert "could not be drawn" not in html
    assert html.count("<svg") >= 5  # each done run draws at least one chart
    assert "Run specification" in html and "Gap per candidate (female minus male)" in html
    dispose_engines()


@pytest.mark.parametrize("path", ["saved runs page", "command line"])
def test_importing_an_old_export_saves_the_current_shapes(tmp_path: Path, path: str, capsys) -> None:
    old = RunRepository(old_database(tmp_path))
    ids = [r.id for r in reversed(old.list_runs())]
    doc = json.loads(json.dumps(old.export_runs(ids)))
    url = sqlite_url(tmp_path / "new" / "whylm.db")
    new = RunRepository(url)
    if path == "saved runs page":
        new_ids = import_bytes(new, json.dumps(doc).encode("utf-8"))
    else:
        file = tmp_path / "export.json"
        file.write_text(json.dumps(doc), encoding="utf-8")
        assert cli_main(["runs", "--url", url, "import", str(file)]) == 0
        assert "Imported 6 run(s)" in capsys.readouterr().out
        new_ids = [r.id for r in reversed(new.list_runs())]
    for old_id, new_id in zip(ids, new_ids, strict=True):
        before, after = old.get_run(old_id), new.get_run(new_id)
        # both the saved runs page and the command line mark what they import (core.runs.saved.import_runs)
        tags = sorted({*before.tags, "imported"})
        assert (after.kind, after.title, sorted(after.tags), after.status) == (
            before.kind, before.title, tags, before.status
        )
        if before.result is None:
            assert after.result is None and after.spec == before.spec  # it cannot run: kept as written
            continue
        expected = result_from_dict(before.result).to_dict()
        assert after.result == expected and after.spec == expected["spec"]
    # the old dashboard saved the form's document; the import saves the spec as run
    dashboard = next(r for r in doc["runs"] if r["title"] == "Dashboard attribution run")
    assert dashboard["spec"] != dashboard["result"]["spec"]
    dispose_engines()
