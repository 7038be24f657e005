"""The import rules of docs/ARCHITECTURE.md, checked on the source: who may import whom.

Every ``import`` statement is read with ``ast`` (those inside functions too), so
a rule broken anywhere in a file fails here, not at run time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.kinds import RUN_KINDS
from ui.shared.page_table import PAGES

ROOT = Path(__file__).resolve().parents[1]

# What each part of core may import from the project (besides itself and the standard library).
CORE_RULES: dict[str, set[str]] = {
    "core.models": {"core.errors", "core.text"},
    "core.store": {"core.errors", "core.text"},
    # core.runs.meta, core.runs.work and core.run_kind are leaves (they import nothing of the project): a kind's
    # folder counts its own work with core.runs.work's helpers (RunKind.work) and writes its core.run_kind.RunKind
    "core.attribution": {
        "core.errors", "core.text", "core.models", "core.result_json", "core.runs.meta", "core.runs.work",
    },
    "core.probes": {
        "core.errors", "core.text", "core.models", "core.result_json", "core.runs.meta", "core.runs.work",
        "core.attribution", "core.present", "core.run_kind",
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
    """pages/ holds the page table's scripts and nothing else; they import ui and core's public modules."""
    pages = sorted((ROOT / "pages").glob("*.py"))
    assert [p.relative_to(ROOT).as_posix() for p in pages] == sorted(page.path for page in PAGES)
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
    bad.write_text("def f():\n    import streamlit as st\n    from ui.shared.model import open_store\n")
    names = imported_modules(bad)
    assert any(within(n, "streamlit") for n in names) and any(within(n, "ui") for n in names)


def test_every_run_kind_is_drawn_by_a_view_or_its_report_section() -> None:
    """A view of its own (``RESULT_VIEWS``), else its report section: a kind without either cannot be opened."""
    from ui.shared.kind_views import RESULT_VIEWS

    assert set(RESULT_VIEWS) <= set(RUN_KINDS)
    assert [name for name, kind in RUN_KINDS.items() if name not in RESULT_VIEWS and kind.report is None] == []


# ---------------------------------------------------------------- no import circles


def project_modules(*packages: str) -> dict[str, Path]:
    """Module name -> file, for every Python file of the given top-level packages."""
    return {module_name(p): p for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (at the top or inside functions)."""

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = {owner(n) for n in imported_modules(path)} - {None, name}
        graph[name] = {d for d in deps if d is not None and not within(name, d)}  # a package's own __init__
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a circle (strongly connected)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []
    for root in graph:  # Tarjan's algorithm, iterative
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_the_cycle_finder_sees_a_circle_through_a_function_local_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    import c\n")
    (tmp_path / "c.py").write_text("from a import x\n")
    graph = {m: {n for n in imported_modules(tmp_path / f"{m}.py")} for m in "abc"}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", ["core"])  # ui: after ui.shared.links <-> ui.shared.run_job is broken
def test_no_import_circles(package: str) -> None:
    assert import_cycles(import_graph(project_modules(package))) == []


# ---------------------------------------------------------------- the map is true


def architecture_references() -> tuple[set[str], set[str]]:
    """The file paths and dotted names docs/ARCHITECTURE.md mentions (in backticks and in its tree)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    paths: set[str] = set()
    dotted: set[str] = set()
    for ref in re.findall(r"`([^`\s]+)`", text):
        ref = ref.rstrip(".,:;")
        if "*" in ref or "<" in ref or "=" in ref or ref.startswith("?"):
            continue
        if "/" in ref or ref.endswith(".py"):
            paths.add(ref.split(":")[0])
        elif re.fullmatch(r"(core|ui|pages|tests|bench|tools)(\.\w+)+", ref):
            dotted.add(ref)
    tree = text.split("## The tree", 1)[1].split("```")[1]
    folders: list[str] = []
    for line in tree.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent >= 12:  # a description carried over to the next line
            continue
        depth = indent // 2
        first = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        folders = folders[:depth]
        for name in (n.strip() for n in first.split(",")):
            if not name or "*" in name or " " in name:
                continue
            path = "/".join([*folders, name.rstrip("/")])
            paths.add(path)
        if first.endswith("/") and "," not in first:
            folders.append(first.rstrip("/"))
    return paths, dotted


def resolves(dotted: str) -> bool:
    """Whether a dotted name is a module of the project, or a name defined in one."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            obj: object = importlib.import_module(module)
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_path_and_name_the_architecture_map_mentions_exists() -> None:
    paths, dotted = architecture_references()
    assert len(paths) > 40 and len(dotted) > 5, "the map's references were not found"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == [], f"docs/ARCHITECTURE.md names files that do not exist: {missing}"
    unresolved = sorted(d for d in dotted if not resolves(d))
    assert unresolved == [], f"docs/ARCHITECTURE.md names modules or names that do not exist: {unresolved}"
