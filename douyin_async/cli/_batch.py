"""The batch command: plan what is left to do (``_plan``), feed it to the client (``_feed``), journal
each result by id, download media (``_downloads``), and say what it cost (``_summary``).

The plan reads the input once before anything is created or sent (a file's mistakes end the
command there, and ``--dry-run`` stops there); the run reads it again and feeds the client only
ids that OUT does not have and that never failed for good. Neither pass keeps the inputs: what
they remember is a ``KeySet`` of the keys seen, a few bytes each. Short links are resolved (a free
lookup) a few at a time ahead of the client, so a link to a video already fetched costs nothing.
An input that holds no id is recorded as bad input by the batch itself, never handed to the client.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

from .. import (
    BatchAbortedError,
    BatchResult,
    BudgetExhaustedError,
    DouyinClient,
    ForeignStoreError,
    StorageError,
)
from ._checks import UsageError, shown
from ._commands import made
from ._downloads import Downloads
from ._feed import each, feed
from ._inputs import BadInputError, InputError, read_inputs, values_in_thread
from ._journal import RunLockedError
from ._parquet import write_parquet
from ._plan import Plan, Planner, plan_of
from ._progress import Money, ProgressReporter, plural
from ._session import (
    EXIT_FAILED,
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Interrupt,
    open_client,
    redactor_for,
)
from ._store import AnyJournal, journal_for
from ._summary import RunReport, left_to_do, print_dry_run, print_summary
from ._workbook import write_workbook


def _inputs(args: argparse.Namespace, *, quiet: bool = False) -> Iterator[str]:
    def tell(column: str) -> None:
        args.id_column = column
        if not quiet:
            print(f"reading ids from column {column!r} of {args.input} (--column to choose another)",
                  file=sys.stderr)

    # Masked where they are read: a pasted gateway URL holds the key and secret, and inputs are
    # quoted in OUT, the errors file and messages.
    redact = redactor_for(args)
    texts = read_inputs(args.input, fmt=args.input_format, column=args.column, field=args.field, on_column=tell)
    return (redact(text) for text in texts)


def _planner(args: argparse.Namespace, journal: AnyJournal, hosts: Any) -> Planner:
    return Planner(journal, retry_failed=args.retry_failed, short_link_hosts=hosts)


async def cmd_batch(args: argparse.Namespace) -> int:
    journal = journal_for(args)
    try:
        await journal.load()
    except StorageError as exc:  # not ours, or not reachable: found before anything is sent
        raise UsageError(f"-o {shown(args.output)}: {_foreign(exc)}") from None
    if journal.earlier_errors:
        print(f"note: earlier runs of -o {args.output} recorded failures in "
              f"{', '.join(str(path) for path in journal.earlier_errors)}; this run writes {args.errors_path}, "
              "and ids that failed for good in either are skipped (--retry-failed fetches them again)",
              file=sys.stderr)
    plan: Plan | None = None
    hosts = args.short_link_hosts
    if args.input != "-":
        plan = plan_of(_inputs(args, quiet=True), _planner(args, journal, hosts))
        if not plan.inputs:
            raise InputError(f"INPUT {args.input} {_EMPTY}")
        if args.dry_run:
            print_dry_run(args, plan)
            return EXIT_OK
    elif args.dry_run:
        raise UsageError("--dry-run needs an input file: standard input can be read only once")
    try:
        if await journal.open() and plan is not None:  # another run wrote OUT since it was read
            plan = plan_of(_inputs(args, quiet=True), _planner(args, journal, hosts))
    except ForeignStoreError as exc:
        await journal.close("failed")
        raise UsageError(f"-o {shown(args.output)}: {_foreign(exc)}") from None
    except RunLockedError:
        raise UsageError(f"-o {args.output}: another douyin-async run is writing it; wait for it to "
                         "finish, or give another -o") from None
    except OSError as exc:
        raise UsageError(f"-o {args.output}: cannot write it: {exc.strerror or exc}") from None
    except StorageError as exc:
        raise UsageError(f"-o {shown(args.output)}: {_foreign(exc)}") from None
    for run_id, lost in journal.unfinished:
        print(f"note: run {run_id} of -o {shown(args.output)} did not finish (killed?): it may have paid for "
              f"{lost} calls whose answers it never stored (in flight when it wrote its last result); those ids "
              "are asked again", file=sys.stderr)
    try:
        code = await _run(args, journal, plan)
    except BaseException as exc:
        await _finish(args, journal, "interrupted" if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
                      else "failed")
        raise
    written = await _finish(args, journal, _STATUS.get(code, "done"))
    return EXIT_FAILED if code == EXIT_OK and not written else code


_EMPTY = "holds no input (no id, URL or share text; a CSV or sheet may have only its header): nothing to do"


_STATUS = {EXIT_INTERRUPTED: "interrupted", EXIT_FATAL: "stopped", EXIT_USAGE: "stopped"}
"""The status a run's row ends with, by the command's exit code (else "done")."""


def _foreign(error: StorageError) -> str:
    """The error without the place it names first: the message says ``-o OUT`` instead."""
    return str(error).partition(": ")[2] or str(error)


async def _finish(args: argparse.Namespace, journal: AnyJournal, status: str) -> bool:
    """Rebuild an .xlsx or .parquet OUT from its journal, under OUT's lock, then let the journal go.

    Returns False when that file could not be written: its results are safe in the journal.
    """
    try:
        await journal.commit(status)
        built = getattr(args, "built_path", None)
        if built is None:
            return True
        try:
            rows = (write_parquet(args.output_path, built, args.table) if args.built_format == "parquet"
                    else write_workbook(args.output_path, built))
        except Exception as exc:  # a full disk, or the library failing on this data: the journal holds it all
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
            print(f"douyin-async batch: -o {args.output}: cannot write it ({why}); its results "
                  f"are safe in {args.output_path.name}, and a rerun writes it again", file=sys.stderr)
            return False
        print(f"wrote {args.output}: {plural(rows, 'result')}, from {args.output_path.name} (keep it: a rerun "
              "resumes from it)", file=sys.stderr)
        return True
    finally:
        await journal.close(status)


async def _run(args: argparse.Namespace, journal: AnyJournal, plan: Plan | None) -> int:
    outcome = RunReport()
    async with open_client(args, journal.listener) as client:
        journal.watch(client)
        money = Money(args.price, lambda: client.quota, lambda: client.usage)
        reporter = ProgressReporter(bar=args.bar, total=plan.results if plan else None, money=money)
        planner = _planner(args, journal, args.short_link_hosts)
        interrupt = Interrupt(grace=min(args.timeout, 15.0))
        origins: dict[str, str] = {}
        try:
            with interrupt:
                await _fetch(args, client, journal, planner, interrupt, origins, reporter, outcome)
        finally:
            outcome.total = reporter.total
            outcome.stopped = (outcome.progress is not None and outcome.progress.stopped_by is not None) or (
                outcome.storage_error is not None)
            reporter.close(outcome.progress, early=outcome.interrupted or outcome.stopped)
            outcome.media_bytes = reporter.bytes
        print_summary(args, planner.plan, outcome, money, client)
    progress = outcome.progress
    if not planner.plan.inputs and not outcome.interrupted and not outcome.input_problems:
        print(f"douyin-async batch: INPUT {args.input} {_EMPTY}", file=sys.stderr)
        return EXIT_USAGE
    if outcome.storage_error is not None:
        print(f"stopped: -o {shown(args.output)}: {_foreign(outcome.storage_error)}. What was stored is safe; "
              f"rerun the same command to continue{left_to_do(outcome)}.", file=sys.stderr)
        return EXIT_FATAL
    if outcome.interrupted:
        print(f"interrupted: rerun the same command to resume{left_to_do(outcome)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if progress is not None and progress.stopped_by is not None:
        cause = progress.stopped_by
        why = (f"--max-billed {args.max_billed} reached" if isinstance(cause, BudgetExhaustedError)
               and args.max_billed is not None and "max_billed_calls" in str(cause) else str(cause))
        print(f"stopped: {why}. What was not yet tried stays to do for the next run{left_to_do(outcome)}.",
              file=sys.stderr)
        return EXIT_FATAL
    if outcome.input_problems:
        print(f"douyin-async batch: INPUT {outcome.input_problems[0]}; stopped reading there (the inputs "
              "before it are done): fix the input and rerun", file=sys.stderr)
        return EXIT_USAGE
    # The exit code speaks of the input against OUT, not of this run alone: an input that failed for
    # good on an earlier run still has no video, so a rerun says 1 as the first run did.
    failed = (sum(progress.failed.values()) if progress else 0) + planner.plan.failed_before
    return EXIT_FAILED if failed or planner.plan.invalid or outcome.downloads_failed else EXIT_OK


async def _fetch(
    args: argparse.Namespace, client: DouyinClient, journal: AnyJournal, planner: Planner, interrupt: Interrupt,
    origins: dict[str, str], reporter: ProgressReporter, outcome: RunReport,
) -> None:
    downloads = None
    if args.download:
        downloads = Downloads(client, args, reporter, made(Path(args.download)), journal)
    async def bad_input(text: str) -> None:
        await journal.write(BatchResult(text, None, None, BadInputError(text), 0, -1), text)

    texts = _inputs(args)
    values = values_in_thread(texts, interrupt.stop) if args.input == "-" else each(texts)
    inputs = feed(values, planner, client, interrupt.stop, origins, reporter, outcome.input_problems, bad_input)
    # Each result is stored before the next is taken, so a read-ahead of the concurrency keeps the
    # requests sent and not yet stored (all that a kill can lose) near what may be in flight.
    results = client.iter_videos(inputs, max_billed_calls=args.max_billed, progress=reporter, stop=interrupt.stop,
                                 read_ahead=client.limits.concurrency_ceiling)
    try:
        async with aclosing(inputs), aclosing(results):
            async for result in results:
                outcome.progress = reporter.last
                if result.duplicate or isinstance(result.error, BatchAbortedError):
                    continue  # a repeat shares its original's line; an unsent id stays to do
                quoted = origins.pop(result.item_id, result.input) if result.item_id else result.input
                await journal.write(result, quoted)
                if downloads is not None and result.response is not None and not interrupt.stop.is_set():
                    await downloads.submit(result.response)
            if downloads is not None:
                async for item_id in journal.failed_downloads():
                    if interrupt.stop.is_set():
                        break
                    await downloads.submit(item_id)
                await downloads.drain()
                outcome.downloads_failed, outcome.downloads_retried = downloads.failed, downloads.retried
    except asyncio.CancelledError:
        if not interrupt.gave_up:
            raise
        outcome.abandoned = client.limits.in_flight
    except StorageError as exc:  # results that cannot be kept must not be paid for: stop at once
        outcome.storage_error = exc
    outcome.progress = reporter.last
    outcome.interrupted = interrupt.stop.is_set()


__all__ = ["InputError", "cmd_batch"]
