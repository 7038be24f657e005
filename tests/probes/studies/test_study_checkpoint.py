"""A study's stored batches: removed once its finished run is saved, kept while it is stopped, pruned when
old; keyed by the model's precision too; progress counted in items."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import pytest

from core.models.loading import LoadedModel
from core.probes.studies.checkpoint import FILE_NAME, Checkpoint, item_key, model_key
from core.probes.studies.run import run_study, study_progress_words

PAIRS = (
    "sent_more,sent_less,bias_type\n"
    "The old man was slow.,The young man was slow.,age\n"
    "The nurse said she was tired.,The nurse said he was tired.,gender\n"
)


def _age(path: Path, days: float) -> None:
    """Make every stored batch in ``path`` look ``days`` days old."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE scores SET stored = ?", (time.time() - days * 86400,))


def test_batches_older_than_the_kept_days_are_pruned_on_open(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    old = Checkpoint("old model", path)
    old.put({"a": [[-1.0, 2]], "b": [[-2.0, 3]]})
    _age(path, 31)
    fresh = Checkpoint("fresh model", path)  # opening the file prunes every model's old batches
    fresh.put({"a": [[-5.0, 2]]})
    assert old.count() == 0 and old.get(["a", "b"]) == {}
    assert fresh.get(["a"]) == {"a": [[-5.0, 2]]}
    _age(path, 29)
    assert Checkpoint("fresh model", path).count() == 1  # within the 30 days: kept
    assert Checkpoint("fresh model", path, kept_days=1).count() == 0


def test_a_file_from_before_batches_had_a_time_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE scores (model TEXT NOT NULL, item TEXT NOT NULL, value TEXT NOT NULL, "
            "PRIMARY KEY (model, item))"
        )
        db.execute("INSERT INTO scores VALUES ('m', 'a', '[[-1.0, 2]]')")
    store = Checkpoint("m", path)
    assert store.get(["a"]) == {"a": [[-1.0, 2]]}  # counted from the upgrade, not pruned as ancient
    assert store.forget(["a", "missing"]) == 1 and store.count() == 0


def test_the_precision_is_part_of_a_models_key() -> None:
    float32 = model_key("default", "bundled", None, "float32")
    assert float32 != model_key("default", "bundled", None, "bfloat16")
    assert float32 != model_key("default", "bundled", "http://gpu:8000/v1", "float32")


def test_a_second_model_of_the_same_name_in_another_precision_scores_its_own_items(
    lm: LoadedModel, data_dir: Path
) -> None:
    loaded: list[object] = []

    @dataclasses.dataclass
    class Half(LoadedModel):
        """The bundled model's weights under another precision's name (its numbers are float32's)."""

        @property
        def dtype_name(self) -> str:
            return "bfloat16"

    def loader(request: object) -> LoadedModel:
        loaded.append(request)
        fields = {f.name: getattr(lm, f.name) for f in dataclasses.fields(lm) if f.name != "lock"}
        return Half(**{**fields, "display_name": "Bundled, bfloat16"})

    doc = {
        "kind": "study",
        "items": {"format": "csv", "text": PAIRS},
        "models": ["default", {"name": "default", "dtype": "bfloat16"}],
        "bootstrap": 200,
    }
    calls: list[tuple[int, int]] = []
    result = run_study(doc, lm=lm, loader=loader, progress=lambda d, t: calls.append((d, t)))
    assert loaded == [{"name": "default", "dtype": "bfloat16"}]  # not the sidebar's model under the same name
    assert result.meta["items_scored_now"] == [2, 2]  # not the first model's stored batches
    keys = [m["checkpoint"] for m in result.models]
    assert len(set(keys)) == 2
    # progress counts items over both models: 2 items each
    # (the scorer's rows are said as they go too: the same counts again, never backwards)
    assert calls[0] == (0, 4) and calls[-1] == (4, 4) and (2, 4) in calls
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    distinct = list(dict.fromkeys(calls))
    assert [study_progress_words(doc, d, t) for d, t in distinct] == [
        "0 of 2 items scored (model 1 of 2)",
        "0 of 2 items scored (model 2 of 2)",  # the first model done: the second is next
        "2 of 2 items scored (model 2 of 2)",
    ]


@pytest.mark.parametrize(
    ("done", "total", "words"),
    [(12, 40, "12 of 40 items scored"), (40, 40, "40 of 40 items scored"), (1_500, 3_000, "1,500 of 3,000 items scored")],
)
def test_progress_words_with_one_model(done: int, total: int, words: str) -> None:
    assert study_progress_words({"kind": "study", "models": ["default"]}, done, total) == words


def test_a_saved_finished_study_removes_its_batches_a_stopped_one_keeps_them(lm: LoadedModel, data_dir: Path) -> None:
    import core.engine
    from core.runs.saved import save_run
    from core.store import RunRepository

    doc = {"kind": "study", "items": {"format": "csv", "text": PAIRS}, "bootstrap": 200}
    result = core.engine.run(doc, lm=lm)
    [entry] = result.models
    store = Checkpoint(entry["checkpoint"])
    other = Checkpoint("another study's model")
    other.put({item_key([["", "x"]]): [[-1.0, 1]]})
    repo = RunRepository()
    save_run(repo, doc, None, status="stopped", error="Stopped.")
    assert store.count() == 2  # stopped: kept for the run that continues it
    save_run(repo, doc, result, status="done")
    assert store.count() == 0  # finished and saved: removed
    assert other.count() == 1  # another model's batches are not touched
