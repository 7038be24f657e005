"""Command line of the store: ``python -m core runs ...`` and ``python -m core db ...``.

``core/__main__.py`` hands the arguments after ``runs`` to :func:`main_runs` and those after
``db`` to :func:`main_db`. Errors print one sentence on stderr and return a non-zero code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from core.errors import WhyLMError
from core.store.config import database_url, normalise_url
from core.store.database import current_revision, describe_url, upgrade_database
from core.store.errors import StoreError
from core.store.exchange import load_export, read_export
from core.store.health import unlisted_sentence
from core.store.records import RunRecord, RunSummary
from core.store.repository import RunRepository, UnreadableRun
from core.text import id_list

Importer = Callable[[RunRepository, Any], list[int]]
"""``importer(repo, doc)``: imports an export document's runs, returns their new ids."""

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so main_* can return a code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Raise the usage error as a sentence."""
        raise _UsageError(f"{self.prog}: {message}; see `{self.prog} --help`.")


class _UsageError(Exception):
    """A command line that cannot be parsed."""


def _run(parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the chosen command; turn errors into one sentence on stderr."""
    try:
        args = parser.parse_args(list(argv))
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code = handler(args)
        sys.stdout.flush()  # inside the try: a reader that stopped early (`| head`) is met here
        return code
    except BrokenPipeError:
        silence_stdout()
        return EXIT_OK
    except WhyLMError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130


def silence_stdout() -> None:
    """After the reader of stdout went away (``runs show 1 | head -3``): send what is left nowhere.

    Python would otherwise report the broken pipe when it flushes stdout at exit.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing is left to flush
        pass


# --- runs ----------------------------------------------------------------------------


def _repo(args: argparse.Namespace) -> RunRepository:
    """Open the repository at ``--url`` or the configured database."""
    return RunRepository(args.url)


def format_table(runs: Sequence[RunSummary]) -> str:
    """Return saved runs as a plain-text table (id, created, kind, model, method, title, ...)."""
    headers = ("id", "created (UTC)", "kind", "model", "method", "title", "tags", "status")
    rows = [
        (
            str(r.id),
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.kind,
            _clip(r.model_name, 30),
            r.method or "-",
            _clip(r.title, 40),
            _clip(", ".join(r.tags), 24) or "-",
            r.status + (f" ({r.note_count} notes)" if r.note_count else ""),
        )
        for r in runs
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    """Return ``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _cmd_list(args: argparse.Namespace) -> int:
    """Print the saved runs as a table."""
    runs = _repo(args).list_runs(
        kind=args.kind,
        model=args.model,
        method=args.method,
        tag=args.tag,
        text=args.search,
        limit=args.limit,
    )
    unreadable = getattr(runs, "unreadable", ())
    if runs:
        print(format_table(runs))
    elif not unreadable:
        print("No saved runs match." if any((args.kind, args.model, args.method, args.tag, args.search)) else "No saved runs yet.")
    if unreadable:
        print(unlisted_sentence(unreadable), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def format_record(record: RunRecord) -> str:
    """Return a saved run as readable text: its fields, notes and spec."""
    lines = [
        f"Run {record.id}: {record.title}",
        f"  kind:     {record.kind}",
        f"  created:  {record.created_at.isoformat(timespec='seconds')}",
        f"  model:    {record.model_name}" + (f" @ {record.model_revision}" if record.model_revision else ""),
        f"  method:   {record.method or '-'}",
        f"  status:   {record.status}" + (f" ({record.error})" if record.error else ""),
        f"  seconds:  {record.seconds if record.seconds is not None else '-'}",
        f"  tags:     {', '.join(record.tags) or '-'}",
    ]
    for note in record.notes:
        lines.append(f"  note:     [{note.verdict}] {note.author}: {note.text}")
    lines.append("spec:")
    lines.append(json.dumps(record.spec, indent=2))
    lines.append("result: " + ("none" if record.result is None else "saved (show it with --json)"))
    return "\n".join(lines)


def _cmd_show(args: argparse.Namespace) -> int:
    """Print one saved run (all of it as JSON with --json)."""
    repo = _repo(args)
    if args.json:
        print(json.dumps(repo.export_runs([args.id])["runs"][0], indent=2))
    else:
        print(format_record(repo.get_run(args.id)))
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    """Write the export document of the given runs to a file or stdout."""
    doc, unreadable = _repo(args).export_readable(args.ids)
    for exc in unreadable:
        print(exc, file=sys.stderr)
    if unreadable and not doc["runs"]:
        return EXIT_ERROR
    text = json.dumps(doc, indent=1)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"Cannot write {args.output} ({exc.strerror}); choose another file.", file=sys.stderr)
            return EXIT_ERROR
        print(f"Exported {len(doc['runs'])} run(s) to {args.output}.", file=sys.stderr)
    else:
        print(text)
    if unreadable:
        print(
            f"Exported {len(doc['runs'])} of the {len(args.ids)} run(s); {len(unreadable)} could not be read "
            "(named above).",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_OK


def _read_document(name: str, stdin: TextIO) -> object | None:
    """Return the JSON document in file ``name`` ("-" is stdin), or None after an error.

    At most ``WHYLM_IMPORT_MAX_MB`` (and one byte) is read (``core.store.exchange.read_export``).
    """
    try:
        return load_export(read_export(name, getattr(stdin, "buffer", stdin)), name)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return None


def _cmd_import(args: argparse.Namespace) -> int:
    """Import the runs of an export document."""
    doc = _read_document(args.file, sys.stdin)
    if doc is None:
        return EXIT_ERROR
    repo = _repo(args)
    ids = args.importer(repo, doc) if args.importer is not None else repo.import_runs(doc)
    shown = id_list(ids) if ids else "none"
    print(f"Imported {len(ids):,} run(s): ids {shown}.")
    return EXIT_OK


def _cmd_delete(args: argparse.Namespace) -> int:
    """Delete a run (asks first unless --yes)."""
    repo = _repo(args)
    try:
        shown = repr(repo.get_run(args.id).title)
    except UnreadableRun:  # a damaged row can still be deleted
        shown = "its row cannot be read"
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"Add --yes to delete run {args.id} without being asked.", file=sys.stderr)
            return EXIT_ERROR
        answer = input(f"Delete run {args.id} ({shown}) and its notes? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return EXIT_OK
    repo.delete(args.id)
    print(f"Deleted run {args.id}.")
    return EXIT_OK


def _runs_parser(importer: Importer | None = None) -> argparse.ArgumentParser:
    """Build the parser of ``python -m core runs`` (``importer``: see :func:`main_runs`)."""
    parser = _Parser(prog="python -m core runs", description="Browse, export and import saved runs.")
    parser.add_argument("--url", help="database URL (default: WHYLM_DATABASE_URL or WHYLM_DATA_DIR/whylm.db)")
    sub = parser.add_subparsers(title="commands", parser_class=_Parser)
    p = sub.add_parser("list", help="list saved runs, newest first")
    p.add_argument("--kind", help="only runs of this kind (attribution, gradient, bias, few_shot)")
    p.add_argument("--model", help="only runs of this model")
    p.add_argument("--method", help="only runs of this method")
    p.add_argument("--tag", help="only runs with this tag")
    p.add_argument("--search", help="only runs whose title contains this text")
    p.add_argument("--limit", type=int, help="at most this many runs")
    p.set_defaults(handler=_cmd_list)
    p = sub.add_parser("show", help="show one run")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print the whole run, result included, as JSON")
    p.set_defaults(handler=_cmd_show)
    p = sub.add_parser("export", help="export runs as one JSON document")
    p.add_argument("ids", type=int, nargs="+")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(handler=_cmd_export)
    p = sub.add_parser("import", help="import runs from an exported JSON document")
    p.add_argument("file", help="the JSON file ('-' reads stdin)")
    p.set_defaults(handler=_cmd_import, importer=importer)
    p = sub.add_parser("delete", help="delete a run and its notes")
    p.add_argument("id", type=int)
    p.add_argument("--yes", action="store_true", help="do not ask first")
    p.set_defaults(handler=_cmd_delete)
    return parser


def main_runs(argv: Sequence[str], importer: Importer | None = None) -> int:
    """Run ``python -m core runs list|show ID|export IDS... [-o FILE]|import FILE|delete ID``.

    ``importer(repo, doc)`` imports an export document and returns the new ids (default: the
    runs as exported, ``RunRepository.import_runs``); ``python -m core`` passes
    ``core.runs.saved.import_runs``, the dashboard's import (checked results, tagged ``imported``).
    """
    return _run(_runs_parser(importer), argv)


# --- db ------------------------------------------------------------------------------


def _cmd_current(args: argparse.Namespace) -> int:
    """Print the database's schema revision and whether it is up to date."""
    url = normalise_url(args.url) if args.url else database_url()
    revision, head = current_revision(url)
    where = describe_url(url)
    if revision is None:
        print(f"{where}: no WhyLM tables yet; it will be created at revision {head} when first used.")
    elif revision == head:
        print(f"{where}: revision {revision} (up to date).")
    else:
        print(f"{where}: revision {revision}; run `python -m core db upgrade` to bring it to {head}.")
    return EXIT_OK


def _cmd_upgrade(args: argparse.Namespace) -> int:
    """Upgrade the database to the newest revision (a SQLite file is backed up first)."""
    url = normalise_url(args.url) if args.url else database_url()
    print(upgrade_database(url).sentence())
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    """Run SQLite's full integrity check and read every run back; say in words what was found."""
    from core.store.checkup import check_database

    found = check_database(normalise_url(args.url) if args.url else database_url())
    print("\n".join(found.sentences()), file=sys.stdout if found.sound else sys.stderr)
    return EXIT_OK if found.sound else EXIT_ERROR


def _db_parser() -> argparse.ArgumentParser:
    """Build the parser of ``python -m core db``."""
    parser = _Parser(prog="python -m core db", description="Check or upgrade the run database.")
    parser.add_argument("--url", help="database URL (default: WHYLM_DATABASE_URL or WHYLM_DATA_DIR/whylm.db)")
    sub = parser.add_subparsers(title="commands", parser_class=_Parser)
    sub.add_parser("upgrade", help="bring the database to the newest revision (backs up SQLite first)").set_defaults(
        handler=_cmd_upgrade
    )
    sub.add_parser("current", help="print the database's revision").set_defaults(handler=_cmd_current)
    sub.add_parser(
        "check", help="check the database's pages (SQLite's full integrity check) and read every run"
    ).set_defaults(handler=_cmd_check)
    return parser


def main_db(argv: Sequence[str]) -> int:
    """Run ``python -m core db upgrade|current|check``."""
    return _run(_db_parser(), argv)
