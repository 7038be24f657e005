"""The import rules of docs/ARCHITECTURE.md, checked on the source: who may import whom.

Every ``import`` statement is read with ``ast`` (those inside functions too), so
a rule broken anywhere in a file fails here, not at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.kinds import RUN_KINDS

ROOT = Path(__file__).resolve().parents[1]

# What each part of core may import from the project (besides itself and the standard library).
CORE_RULES: dict[str, set[str]] = {
    "core.models": {"core.errors", "core.text"},
    "core.store": {"core.errors", "core.text"},
    "core.attribution": {"core.errors", "core.text", "core.models", "core.result_json", "core.run_meta"},
    "core.probes": {
        "core.errors", "core.text", "core.models", "core.result_json", "core.run_meta",
        "core.attribution", "core.present",
    },
}
FORBIDDEN_IN_CORE = ("streamlit", "ui", "pages", "app")
# The core modules a page script may use directly; everything else goes through ui.
PAGE_CORE_MODULES = {"core.engine", "core.kinds", "core.errors"}
PROJECT = ("core", "ui", "pages", "app", "tests", "bench")


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports (absolute names; ``from x import y`` gives x and x.y)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    """The dotted module name of a file under the repository root."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def within(name: str, package: str) -> bool:
    """Whether ``name`` is ``package`` or inside it."""
    return name == package or name.startswith(package + ".")


def core_files() -> list[Path]:
    """The Python files of the core package (migrations included)."""
    return sorted((ROOT / "core").rglob("*.py"))


def test_core_never_imports_streamlit_or_the_ui() -> None:
    broken = [
        f"{module_name(path)} imports {name}"
        for path in core_files()
        for name in imported_modules(path)
        if any(within(name, banned) for banned in FORBIDDEN_IN_CORE)
    ]
    assert broken == []


@pytest.mark.parametrize("package", sorted(CORE_RULES))
def test_core_parts_import_only_what_they_may(package: str) -> None:
    allowed = CORE_RULES[package] | {package}
    folder = ROOT / Path(*package.split("."))
    broken = sorted(
        f"{module_name(path)} imports {name}"
        for path in folder.rglob("*.py")
        for name in imported_modules(path)
        if within(name, "core") and name != "core" and not any(within(name, ok) for ok in allowed)
    )
    assert broken == []


def test_pages_are_only_page_scripts_using_ui_and_public_core() -> None:
    pages = sorted((ROOT / "pages").glob("*.py"))
    assert [p.name for p in pages] == ["bias.py", "explain.py", "few_shot.py", "saved_runs.py", "token_gradients.py"]
    broken = sorted(
        f"{path.name} imports {name}"
        for path in pages
        for name in imported_modules(path)
        if name.split(".")[0] in PROJECT and name != "core"
        and not within(name, "ui")
        and not any(within(name, ok) for ok in PAGE_CORE_MODULES)
    )
    assert broken == []


def test_the_rule_checker_sees_a_broken_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import streamlit as st\n    from ui.common import open_store\n")
    names = imported_modules(bad)
    assert any(within(n, "streamlit") for n in names) and any(within(n, "ui") for n in names)


def test_every_run_kind_has_a_view_in_the_ui() -> None:
    from ui.kind_views import RESULT_VIEWS

    assert set(RESULT_VIEWS) == set(RUN_KINDS)
