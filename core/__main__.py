"""Command line: ``python -m core run SPEC.json [--save]``, ``runs ...``, ``db ...``.

Errors are one sentence on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import WhyLMError
from core.models.request import DEVICE_MAPS, DTYPES, parse_model
from core.result_json import json_text
from core.text import first_line

USAGE = """usage:
  python -m core run SPEC.json [--save] [--title TITLE] [--tag TAG ...] [--indent N] [--max-forward-passes N]
  python -m core runs list|show|export|import|delete ...
  python -m core db upgrade|current|check
  python -m core methods
"""


MAX_SPEC_BYTES = 64 * 2**20
"""The largest spec file the command line reads (a real spec is a few kilobytes)."""


def _read_spec(path: str) -> dict:
    """The spec document in a file (or standard input for ``-``); a sentence when it is not JSON text."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_SPEC_BYTES + 1)
    else:
        file = Path(path)
        if not file.is_file():
            raise WhyLMError(f"There is no spec file at {path}; give the path of a JSON file.")
        with file.open("rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise WhyLMError(f"The spec {path} is larger than {MAX_SPEC_BYTES // 2**20} MB; give a JSON spec file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WhyLMError(
            f"The spec {path} is not UTF-8 text (byte {exc.start + 1} cannot be read); give a JSON spec file, "
            "saved as UTF-8."
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WhyLMError(
            f"The spec {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    except RecursionError:
        raise WhyLMError(f"The spec {path} nests lists and objects too deeply to read; flatten it.") from None
    except ValueError as exc:  # a number of more than 4,300 digits
        raise WhyLMError(f"The spec {path} cannot be read: {first_line(exc)}.") from None
    return doc


def _progress(done: int, total: int) -> None:
    print(f"\rforward passes: {done}/{total}", end="" if done < total else "\n", file=sys.stderr)


def cmd_run(argv: list[str]) -> int:
    """Run a spec file and print the result JSON on stdout."""
    parser = argparse.ArgumentParser(prog="python -m core run")
    parser.add_argument("spec", nargs="?", help="path of the spec JSON file (- for standard input)")
    parser.add_argument("--save", action="store_true", help="save the run in the store")
    parser.add_argument(
        "--resume", type=int, default=None, metavar="ID",
        help="run saved run ID's spec again and save it (a stopped bias study scores only the items it had not "
        "finished); instead of a spec file",
    )
    parser.add_argument("--title", default=None, help="title of the saved run")
    parser.add_argument("--tag", action="append", default=[], help="tag for the saved run")
    parser.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--max-forward-passes",
        type=int,
        default=None,
        metavar="N",
        help="refuse the run before its first batch if it needs more than N forward passes (default: none)",
    )
    parser.add_argument(
        "--dtype", choices=list(DTYPES), default=None,
        help="load the model in this precision (default: the spec's, else float32 on a CPU, bfloat16 on a GPU)",
    )
    parser.add_argument(
        "--device-map", choices=list(DEVICE_MAPS), default=None,
        help="'auto' spreads a large model over the GPUs and the CPU (accelerate)",
    )
    args = parser.parse_args(argv)
    if args.max_forward_passes is not None and args.max_forward_passes < 1:
        raise WhyLMError(
            f"--max-forward-passes must be at least 1 (got {args.max_forward_passes}); "
            "leave it out for no limit."
        )
    if (args.spec is None) == (args.resume is None):
        raise WhyLMError("Give a spec file, or --resume ID to run a saved run again (one of them).")
    if args.resume is not None:
        from core.runs.saved import rerun_spec

        spec, saved_title, saved_tags = rerun_spec(args.resume)
        args.save, args.title, args.tag = True, args.title or saved_title, args.tag or list(saved_tags)
    else:
        spec = _read_spec(args.spec)
    doc = _with_model_options(spec, args.dtype, args.device_map)
    title, tags = _save_fields(args, doc)
    repo = _store_for_saving(title, tags) if args.save else None  # said before the run is computed
    from core.engine import run
    from core.runs.limit import limited

    with limited(doc, args.max_forward_passes):
        result = run(doc, progress=None if args.quiet else _progress)
    out = result.to_dict()
    save_error = _save(repo, doc, result, out, title, tags) if repo is not None else None
    print(json_text(out, indent=args.indent))  # valid JSON: NaN and infinity are written as null
    if save_error:  # the result is printed all the same: a failed save never throws a run away
        print(f"error: the run finished but was not saved: {save_error} Its result is printed above "
              "on standard output.", file=sys.stderr)
        return 1
    return 0


def _with_model_options(doc: Any, dtype: str | None, device_map: str | None) -> Any:
    """The spec with ``--dtype`` / ``--device-map`` written into its ``model`` (the spec's own when not given)."""
    if (dtype is None and device_map is None) or not isinstance(doc, dict):
        return doc
    request = parse_model(doc.get("model", "default"))
    changed = {"dtype": dtype or request.dtype, "device_map": device_map or request.device_map}
    return {**doc, "model": replace(request, **changed).document()}


def _save_fields(args: argparse.Namespace, doc: Any) -> tuple[str | None, list[str]]:
    """The title and tags ``run --save`` saves with: the options, else the spec's ``title`` / ``tags``."""
    spec = doc if isinstance(doc, dict) else {}
    return args.title or spec.get("title"), args.tag or spec.get("tags") or []


def _store_for_saving(title: str | None, tags: list[str]) -> Any:
    """The run store, checked before the run is computed (``core.runs.saved.store_for_saving``)."""
    from core.runs.saved import store_for_saving

    return store_for_saving(title, tags)


def _save(repo: Any, doc: Any, result: Any, out: dict[str, Any], title: str | None, tags: list[str]) -> str | None:
    """Save a computed run; None when saved (its id is added to ``out``), else the sentence why not."""
    from core.runs.saved import save_run

    try:
        run_id = save_run(repo, doc, result, title=title, tags=tags)
    except WhyLMError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - the result must still be printed
        return f"WhyLM failed while saving ({type(exc).__name__}: {exc})."
    out["meta"]["run_id"] = run_id
    print(f"saved as run {run_id}", file=sys.stderr)
    return None


def _import_runs(repo: Any, doc: Any) -> list[int]:
    """How ``runs import`` imports: ``core.runs.saved.import_runs``, the dashboard's import (imported when first used)."""
    from core.runs.saved import import_runs

    return import_runs(repo, doc)


def cmd_methods(argv: list[str]) -> int:
    """List the methods and their parameters."""
    from core.attribution.methods import METHODS

    for m in METHODS.values():
        params = ", ".join(f"{p.name}={p.default}" for p in m.params) or "no parameters"
        print(f"{m.name:22} {m.family:12} {params}")
    return 0


def _flushed(code: int) -> int:
    """``code``, after stdout is flushed (a reader that stopped early is met here, not at exit)."""
    sys.stdout.flush()
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "run":
            return _flushed(cmd_run(rest))
        if command == "methods":
            return _flushed(cmd_methods(rest))
        if command == "runs":
            from core.store.cli import main_runs

            return main_runs(rest, importer=_import_runs)
        if command == "db":
            from core.store.cli import main_db

            return main_db(rest)
        print(f"error: '{command}' is not a command.\n{USAGE}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`python -m core run spec.json | head`)
        from core.store.cli import silence_stdout

        silence_stdout()
        return 0
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
