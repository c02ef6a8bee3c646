"""The ``douyin-async`` command line: get, batch (resumable, journalled by id), download, emulator.

Exit codes: 0 every id ok; 1 some ids failed (in this run, or for good on an earlier one); 2 a
mistake in the command, its files or its credentials (found before anything is sent); 3 the run
stopped on a fatal account error or its own budget; 70 a bug of ours; 130 interrupted (a rerun
resumes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from .. import DEFAULT_SHORT_LINK_HOSTS, ENV_KEY, ENV_SECRET, DouyinError, InvalidSettingError
from ..emulator import config_from_args
from ..sinks import PostgresSink
from . import _checks as checks
from ._batch import cmd_batch
from ._commands import cmd_download, cmd_emulator, cmd_get
from ._inputs import InputError, input_format_of
from ._journal import is_errors_file
from ._output import ForeignFileError, format_of_existing, output_format_of
from ._parser import build_parser
from ._session import (
    EXIT_BUG,
    EXIT_FAILED,
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    check_client,
    redactor_for,
)
from ._store import sink_for
from ._streams import tolerant_streams
from ._telemetry import check_otel

COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "get": cmd_get, "batch": cmd_batch, "download": cmd_download, "emulator": cmd_emulator,
}


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a console that cannot show an emoji gets a "?", not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    with tolerant_streams():  # a reader that goes away (| head) ends nothing: what is left is dropped
        args = build_parser().parse_args(argv)
        with _logging(getattr(args, "verbose", False)):
            return _command(args)


def _command(args: argparse.Namespace) -> int:
    """Run the command; every way it can end becomes an exit code and at most a few lines."""
    verbose = getattr(args, "verbose", False)
    try:
        prepare(args)
        return _run(COMMANDS[args.command](args))
    except (checks.UsageError, InputError) as exc:
        print(f"douyin-async {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DouyinError as exc:  # per-id errors are handled by each command; this one ends the command
        print(f"douyin-async {args.command}: {exc}", file=sys.stderr)
        return EXIT_FATAL if exc.fatal else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a file that went away or filled up mid-run: no user mistake, no bug either
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"douyin-async {args.command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug of ours: a short message, the traceback on request, never a secret
        redact = redactor_for(args)
        if verbose:
            print(redact("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
        print(f"douyin-async: internal error ({type(exc).__name__}: {redact(str(exc))[:300]}); "
              "please report it" + ("" if verbose else ", with the traceback -v shows"), file=sys.stderr)
        return EXIT_BUG


def prepare(args: argparse.Namespace) -> None:
    """Every check that can be made before a file is created or a request is sent."""
    args.short_link_hosts = tuple(DEFAULT_SHORT_LINK_HOSTS)
    if args.command == "emulator":
        try:
            args.config = config_from_args(args)
        except ValueError as exc:
            checks.fail(str(exc))
        return
    checks.credentials(args, ENV_KEY, ENV_SECRET)
    check_client(args)
    args.audit_path = checks.writable_file("--audit", args.audit) if args.audit else None
    if getattr(args, "otel", False):
        check_otel()
    if args.command == "download":
        checks.directory("-d", args.dir)
    elif args.command == "batch":
        _prepare_batch(args)


def _prepare_batch(args: argparse.Namespace) -> None:
    checks.readable_file("INPUT", args.input)
    if args.column and args.field:
        checks.fail("--column and --field cannot be used together: --column is for CSV and .xlsx, --field for JSONL")
    fmt = args.input_format or input_format_of(args.input, args.column, args.field)
    if args.column and fmt not in ("csv", "xlsx"):
        checks.fail(f"--column needs a CSV or .xlsx INPUT; {args.input} is read as {fmt} (see --input-format)")
    if args.field and fmt != "jsonl":
        checks.fail(f"--field needs a JSONL INPUT; {args.input} is read as {fmt} (see --input-format)")
    if args.output == "-":
        checks.fail("-o -: OUT must be a file, which a rerun reads to skip what is done; give a file name")
    args.built_path = args.built_format = args.errors_path = None
    if args.output.partition("://")[0].lower() in PostgresSink.SCHEMES:
        _prepare_postgres(args)
    else:
        _prepare_file(args, errors=args.errors)
    if args.format in ("sqlite", "postgres"):
        _prepare_tables(args)
    elif args.table is not None:
        checks.fail(f"--table is for a database OUT (.sqlite, .db, .sqlite3, .parquet or postgresql://…), "
                    f"not {args.output}")
    audit = args.audit_path
    if audit is not None:
        for flag, taken in (("INPUT", None if args.input == "-" else Path(args.input)), ("-o", args.output_path),
                            ("-o", args.built_path), ("--errors", args.errors_path)):
            if taken is not None and checks.same_file(audit, taken):
                checks.fail(f"--audit {args.audit}: the same file as {flag}; give the audit file a name of its own")
    if args.download:
        checks.directory("--download", args.download)


def _prepare_file(args: argparse.Namespace, *, errors: str | None) -> None:
    """OUT is a file: lines (JSON, CSV), a SQLite database, or one rebuilt from a journal at the end."""
    args.output_path = checks.writable_file("-o", args.output)
    if args.input != "-" and checks.same_file(Path(args.input), args.output_path):
        checks.fail(f"-o {args.output}: the same file as INPUT; results would be mixed with the ids")
    kind = output_format_of(args.output)
    for built in BUILT:
        if args.format == built and kind != built:
            checks.fail(f"--format {built}: OUT must end in .{built}, not {args.output}")
    if kind in BUILT:
        if args.format not in (None, kind):
            checks.fail(f"-o {args.output}: an .{kind} OUT is a {BUILT[kind][2]}; drop --format {args.format}, "
                        f"or give OUT the extension of {args.format}")
        _prepare_built(args, kind)
    args.format = _output_format(args)
    if args.format == "sqlite":
        if errors is not None:
            checks.fail(f"--errors {errors}: a database OUT keeps its failures in its own table; drop --errors")
        return
    resolved = args.output_path.resolve()
    errors = errors or str(resolved.with_name(resolved.stem + ".failed.jsonl"))
    args.errors_path = checks.writable_file("--errors", errors)
    if checks.same_file(args.output_path, args.errors_path) or (
            args.built_path is not None and checks.same_file(args.built_path, args.errors_path)):
        checks.fail(f"--errors {errors}: the same file as -o; give another name")
    if args.input != "-" and checks.same_file(Path(args.input), args.errors_path):
        checks.fail(f"--errors {errors}: the same file as INPUT; failures would overwrite the ids")
    if not is_errors_file(args.errors_path):
        checks.fail(f"--errors {errors}: not an errors file of douyin-async (its first line is no failure "
                    "record); give another file")


def _prepare_postgres(args: argparse.Namespace) -> None:
    """OUT is a PostgreSQL URL: from here on ``args.output`` shows it masked, ``output_url`` holds it."""
    args.output_url, args.output = args.output, checks.shown(args.output)
    args.output_path = None
    if importlib.util.find_spec("asyncpg") is None:
        checks.fail(f"-o {args.output}: writing to PostgreSQL needs asyncpg: pip install 'douyin-async[postgres]'")
    if args.format is not None:
        checks.fail(f"--format {args.format}: -o {args.output} is a PostgreSQL database; drop --format")
    if args.errors is not None:
        checks.fail(f"--errors {args.errors}: a database OUT keeps its failures in its own table; drop --errors")
    args.format = "postgres"


def _prepare_tables(args: argparse.Namespace) -> None:
    """The table name, checked by making the sink (which connects to nothing yet)."""
    args.table = args.table or "videos"
    try:
        args.failures_table = sink_for(args).tables.failures
    except InvalidSettingError as exc:
        message = str(exc)
        checks.fail(f"-o {args.output}: {message[5:]}" if message.startswith("url: ") else checks.setting_message(exc))


BUILT = {"xlsx": ("csv", "openpyxl", "workbook"), "parquet": ("sqlite", "pyarrow.parquet", "Parquet file")}
"""Outputs rebuilt whole from a journal at the end of each run: the journal's format, the module
they need (the extra of the same name as the format installs it), and what they are called."""


def _prepare_built(args: argparse.Namespace, kind: str) -> None:
    """OUT.xlsx or OUT.parquet: the run writes the journal beside it, which is then what OUT means below."""
    journal_format, module, noun = BUILT[kind]
    try:  # imported, not only found: an install that cannot be imported fails here, before anything is paid for
        importlib.import_module(module)
    except ImportError as exc:
        missing = module.partition(".")[0]
        why = "" if exc.name in (missing, module) else f" (it is installed, but importing it failed: {exc})"
        checks.fail(f"-o {args.output}: writing .{kind} needs {missing}: pip install 'douyin-async[{kind}]'{why}")
    built = args.output_path.resolve()  # a link to it shares its journal, and its lock
    journal = built.with_name(f"{built.name}.{'csv' if journal_format == 'csv' else 'sqlite'}")
    if built.exists() and not journal.exists():
        checks.fail(f"-o {args.output}: exists and is no {noun} of douyin-async results (those have their "
                    f"journal {journal.name} beside them); give another -o")
    try:
        existing = format_of_existing(journal)
    except ForeignFileError:
        existing = "foreign"
    if existing not in (None, journal_format):
        checks.fail(f"-o {args.output}: {journal.name}, where its results go first, holds something else; "
                    "give another -o")
    if args.input != "-" and checks.same_file(Path(args.input), journal):
        checks.fail(f"-o {args.output}: its journal {journal.name} is INPUT; give another -o")
    args.built_path, args.built_format = built, kind
    args.output_path = checks.writable_file("-o", str(journal))
    args.format = journal_format


def _output_format(args: argparse.Namespace) -> str:
    """OUT's format: what the file already holds, else ``--format``, else its extension."""
    try:
        existing = format_of_existing(args.output_path)
    except ForeignFileError:
        checks.fail(f"-o {args.output}: holds something other than douyin-async results; give another file")
    if existing is not None and args.format not in (None, existing):
        checks.fail(f"-o {args.output}: holds {existing} results already; drop --format {args.format} to add "
                    "to them, or give another -o")
    return args.format or existing or output_format_of(args.output)


@contextlib.contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """Our log lines on stderr while the command runs: errors only, or everything worth knowing
    with ``-v``; the logger is left as it was found (``main()`` may run inside another program).
    A logger given a handler already (by ``DOUYIN_ASYNC_LOG``, or by the program) is left to it."""
    logger = logging.getLogger("douyin_async")
    if logger.handlers:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(message)s" if verbose else "douyin-async: %(message)s"
    ))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.ERROR)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _run(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed (faster), else on the standard loop."""
    loop_factory = _uvloop_factory()
    if loop_factory is None:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=loop_factory) as runner:  # type: ignore[attr-defined,unused-ignore]
        result: int = runner.run(coroutine)
        return result


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if sys.version_info < (3, 11):  # asyncio.Runner and its loop_factory came in 3.11
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


__all__ = ["build_parser", "main"]
