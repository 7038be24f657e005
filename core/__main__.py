"""Command line: ``python -m core run SPEC.json [--save]``, ``runs ...``, ``db ...``.

Errors are one sentence on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import WhyLMError

USAGE = """usage:
  python -m core run SPEC.json [--save] [--title TITLE] [--tag TAG ...] [--indent N]
  python -m core runs list|show|export|import|delete ...
  python -m core db upgrade|current
  python -m core methods
"""


def _read_spec(path: str) -> dict:
    if path == "-":
        text = sys.stdin.read()
    else:
        file = Path(path)
        if not file.is_file():
            raise WhyLMError(f"There is no spec file at {path}; give the path of a JSON file.")
        text = file.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WhyLMError(
            f"The spec {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    return doc


def _progress(done: int, total: int) -> None:
    print(f"\rforward passes: {done}/{total}", end="" if done < total else "\n", file=sys.stderr)


def cmd_run(argv: list[str]) -> int:
    """Run a spec file and print the result JSON on stdout."""
    parser = argparse.ArgumentParser(prog="python -m core run")
    parser.add_argument("spec", help="path of the spec JSON file (- for standard input)")
    parser.add_argument("--save", action="store_true", help="save the run in the store")
    parser.add_argument("--title", default=None, help="title of the saved run")
    parser.add_argument("--tag", action="append", default=[], help="tag for the saved run")
    parser.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    doc = _read_spec(args.spec)
    from core.engine import run

    result = run(doc, progress=None if args.quiet else _progress)
    out = result.to_dict()
    if args.save:
        from core.saved_runs import save_run
        from core.store import RunRepository

        title, tags = args.title or doc.get("title"), args.tag or doc.get("tags", [])
        run_id = save_run(RunRepository(), doc, result, title=title, tags=tags)
        out["meta"]["run_id"] = run_id
        print(f"saved as run {run_id}", file=sys.stderr)
    print(json.dumps(out, indent=args.indent, ensure_ascii=False))
    return 0


def _saved_documents(
    spec: dict[str, Any], result: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """How ``runs import`` saves a run: ``core.saved_runs.saved_documents`` (imported when first used)."""
    from core.saved_runs import saved_documents

    return saved_documents(spec, result)


def cmd_methods(argv: list[str]) -> int:
    """List the methods and their parameters."""
    from core.attribution.methods import METHODS

    for m in METHODS.values():
        params = ", ".join(f"{p.name}={p.default}" for p in m.params) or "no parameters"
        print(f"{m.name:22} {m.family:12} {params}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "run":
            return cmd_run(rest)
        if command == "methods":
            return cmd_methods(rest)
        if command == "runs":
            from core.store.cli import main_runs

            return main_runs(rest, prepare=_saved_documents)
        if command == "db":
            from core.store.cli import main_db

            return main_db(rest)
        print(f"error: '{command}' is not a command.\n{USAGE}", file=sys.stderr)
        return 2
    except WhyLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: stopped.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback for users
        print(
            f"error: WhyLM failed unexpectedly ({type(exc).__name__}: {exc}); "
            "please report this with the spec you ran.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
