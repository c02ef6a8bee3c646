"""The batch command: plan what is left to do, fetch it journalled by id, and say what it cost.

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
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import (
    BatchAbortedError,
    BatchProgress,
    BatchResult,
    BudgetExhaustedError,
    DouyinClient,
    DouyinError,
    InvalidParamError,
    ItemGetVideoResponse,
    find_short_link,
    parse_item_id,
)
from ..errors import CODES
from ._checks import UsageError
from ._commands import made
from ._inputs import BadInputError, InputError, read_inputs, values_in_thread
from ._journal import Journal, RunLockedError, failure_key
from ._keys import KeySet, code_of
from ._output import Output
from ._progress import Money, ProgressReporter, plural, untried
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
from ._workbook import write_workbook

LOOKAHEAD = 16
"""Short links resolved ahead of the client at once."""


@dataclass
class Plan:
    """What the input holds, against what the journal says is done: counts, no ids kept."""

    inputs: int = 0
    ids: int = 0
    """Distinct ids to fetch."""
    links: int = 0
    """Short links to resolve (free) and then fetch, unless their video turns out to be done."""
    invalid: int = 0
    """Inputs that hold no id: recorded as bad input, never sent."""
    done: int = 0
    """Inputs whose video OUT already has."""
    failed_before: int = 0
    """Inputs whose failure is recorded as permanent (``--retry-failed`` fetches them again)."""
    repeats: int = 0
    """Inputs that repeat an earlier one of this run."""

    @property
    def results(self) -> int:
        """Results the client will yield: every id and short link (bad input is recorded without it)."""
        return self.ids + self.links

    @property
    def skipped(self) -> int:
        return self.done + self.failed_before + self.repeats


class Planner:
    """Sorts each input: to fetch, to resolve, to record as invalid, or to skip (and why)."""

    def __init__(self, journal: Journal, *, retry_failed: bool, short_link_hosts: Any) -> None:
        self._journal, self._retry_failed, self._hosts = journal, retry_failed, short_link_hosts
        self._seen = KeySet()
        self.plan = Plan()

    def sort(self, text: str) -> tuple[str, str]:
        """``(kind, value)``: kind is ``id``, ``link``, ``invalid`` or ``skip``."""
        self.plan.inputs += 1
        try:
            item_id = parse_item_id(text)
        except InvalidParamError:
            link = find_short_link(text, self._hosts)
            if link is not None:
                # a failed link is recorded under its input (the client's result has no id)
                if self._skip(f"link:{link}", failure_key(None, text)):
                    return "skip", link
                self.plan.links += 1
                return "link", link
            if self._skip(failure_key(None, text)):
                return "skip", text
            self.plan.invalid += 1
            return "invalid", text
        if self._skip(item_id):
            return "skip", item_id
        self.plan.ids += 1
        return "id", item_id

    def resolved(self, item_id: str) -> bool:
        """A short link led to ``item_id``: True to fetch it, False if it is done or repeated."""
        self.plan.links -= 1
        if self._skip(item_id):
            return False
        self.plan.ids += 1
        return True

    def _skip(self, key: str, recorded: str | None = None) -> bool:
        """Whether to skip ``key``; ``recorded`` is what the journal knows it by, if not by ``key``."""
        plan, journal = self.plan, self._journal
        code = code_of(key)  # once: hashing a key that is not an id costs more than a lookup
        known = code if recorded is None else code_of(recorded)
        if self._seen.has_code(code):
            plan.repeats += 1
        elif journal.done.has_code(known):
            plan.done += 1
        elif not self._retry_failed and journal.permanent.has_code(known):
            plan.failed_before += 1
        else:
            self._seen.add_code(code)
            return False
        return True


def plan_of(texts: Iterable[str], planner: Planner) -> Plan:
    for text in texts:
        planner.sort(text)
    return planner.plan


async def feed(
    texts: AsyncIterator[str], planner: Planner, client: DouyinClient, stop: asyncio.Event,
    origins: dict[str, str], reporter: ProgressReporter, problems: list[InputError],
    bad_input: Callable[[str], None],
) -> AsyncGenerator[str, None]:
    """The inputs left to fetch, in order: ids as given, short links resolved; ``bad_input`` is
    told of each input that holds no id (it is not the client's to fetch)."""
    pending: deque[tuple[str, str, asyncio.Future[str] | None]] = deque()
    try:
        async for text in _until_bad_input(texts, problems):
            if stop.is_set():
                return
            kind, value = planner.sort(text)
            if kind == "skip":
                continue
            if kind == "invalid":
                bad_input(text)
                continue
            task: asyncio.Future[str] | None = None
            if kind == "link":
                task = asyncio.ensure_future(client.resolve_item_id(value))
            pending.append((text, value, task))
            while pending and (len(pending) >= LOOKAHEAD or pending[0][2] is None or pending[0][2].done()):
                ready = await _settle(*pending.popleft(), planner, origins, reporter)
                if ready is not None:
                    yield ready
        while pending and not stop.is_set():
            ready = await _settle(*pending.popleft(), planner, origins, reporter)
            if ready is not None:
                yield ready
    finally:
        for _, _, task in pending:
            if task is not None:
                task.cancel()


async def _until_bad_input(texts: AsyncIterator[str], problems: list[InputError]) -> AsyncIterator[str]:
    """The inputs up to one that cannot be read (only standard input can have one mid-run: a file
    is read through once before anything is sent): the inputs before it are fetched, and the
    problem is reported after the summary."""
    try:
        async for text in texts:
            yield text
    except InputError as exc:
        problems.append(exc)


async def _each(texts: Iterator[str]) -> AsyncIterator[str]:
    for text in texts:
        yield text


async def _settle(
    text: str, value: str, task: asyncio.Future[str] | None, planner: Planner, origins: dict[str, str],
    reporter: ProgressReporter,
) -> str | None:
    if task is None:
        return text
    try:
        item_id = await task
    except DouyinError:
        return text  # the client tries the link again and reports why it fails, as this input's result
    if not planner.resolved(item_id):
        if reporter.total is not None:
            reporter.total -= 1
        return None
    origins[item_id] = text
    return item_id


class _Downloads:
    """Media downloads started by a batch, all awaited before the summary.

    At most four are pending at once, so a batch that fetches faster than media downloads waits
    for them instead of piling up tasks (the client limits the downloads running at once).
    """

    def __init__(
        self, client: DouyinClient, args: argparse.Namespace, reporter: ProgressReporter, directory: Path,
        journal: Journal,
    ) -> None:
        self._client, self._args, self._reporter, self._directory = client, args, reporter, directory
        self._journal = journal
        self._slots = asyncio.Semaphore(4)
        self._tasks: set[asyncio.Task[None]] = set()
        self.failed = 0
        self.retried = 0

    async def submit(self, target: ItemGetVideoResponse | str) -> None:
        """Download a fetched video's media; an id (a failure of an earlier run) is fetched again first."""
        await self._slots.acquire()
        task = asyncio.create_task(self._one(target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, target: ItemGetVideoResponse | str) -> None:
        item_id = target if isinstance(target, str) else target.item.num_iid
        self.retried += isinstance(target, str)
        error: DouyinError | None = None
        try:
            await self._client.download_media(target, self._directory, kinds=self._args.kinds,
                                              watermark=self._args.watermark, overwrite=self._args.overwrite,
                                              on_bytes=self._reporter.add_bytes)
        except DouyinError as exc:
            error = exc
            self.failed += 1
            print(f"download {item_id}: {exc}", file=sys.stderr)
        finally:
            self._slots.release()
        self._journal.write_download(item_id, error)

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks)


@dataclass
class RunReport:
    """What a run did, for the summary and the exit code."""

    progress: BatchProgress | None = None
    downloads_failed: int = 0
    interrupted: bool = False
    media_bytes: int = 0
    input_problems: list[InputError] = field(default_factory=list)
    """An input that could not be read mid-run (standard input): the run stopped there."""
    downloads_retried: int = 0
    """Downloads that failed on an earlier run, tried again (each asks the gateway for fresh URLs: billed)."""
    abandoned: int = 0
    """Requests still in flight when an interrupted run stopped waiting for them: possibly billed."""
    total: int | None = None
    """Results the run expected (None when the input's size is not known: standard input)."""
    stopped: bool = False

    @property
    def untried(self) -> int:
        """Inputs not tried because the run stopped: the one number the summary and the last line say."""
        progress = self.progress or BatchProgress()
        return untried(progress, self.total if self.interrupted or self.stopped else None)


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


def _planner(args: argparse.Namespace, journal: Journal, hosts: Any) -> Planner:
    return Planner(journal, retry_failed=args.retry_failed, short_link_hosts=hosts)


async def cmd_batch(args: argparse.Namespace) -> int:
    journal = Journal(args.output_path, args.errors_path, Output(args.format))
    journal.load()
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
            _print_dry_run(args, plan)
            return EXIT_OK
    elif args.dry_run:
        raise UsageError("--dry-run needs an input file: standard input can be read only once")
    try:
        if journal.open() and plan is not None:  # another run wrote OUT since it was read
            plan = plan_of(_inputs(args, quiet=True), _planner(args, journal, hosts))
    except RunLockedError:
        raise UsageError(f"-o {args.output}: another douyin-async run is writing it; wait for it to "
                         "finish, or give another -o") from None
    except OSError as exc:
        raise UsageError(f"-o {args.output}: cannot write it: {exc.strerror or exc}") from None
    try:
        code = await _run(args, journal, plan)
    except BaseException:
        _finish(args, journal)
        raise
    written = _finish(args, journal)
    return EXIT_FAILED if code == EXIT_OK and not written else code


_EMPTY = "holds no input (no id, URL or share text; a CSV or sheet may have only its header): nothing to do"


def _finish(args: argparse.Namespace, journal: Journal) -> bool:
    """Rebuild an .xlsx OUT from its journal, under OUT's lock, then let the journal go.

    Returns False when the workbook could not be written: its results are safe in the journal.
    """
    try:
        if getattr(args, "workbook_path", None) is None:
            return True
        try:
            rows = write_workbook(args.output_path, args.workbook_path)
        except OSError as exc:
            print(f"douyin-async batch: -o {args.output}: cannot write it ({exc.strerror or exc}); its results "
                  f"are safe in {args.output_path.name}, and a rerun writes it again", file=sys.stderr)
            return False
        print(f"wrote {args.output}: {plural(rows, 'result')}, from {args.output_path.name} (keep it: a rerun "
              "resumes from it)", file=sys.stderr)
        return True
    finally:
        journal.close()


async def _run(args: argparse.Namespace, journal: Journal, plan: Plan | None) -> int:
    outcome = RunReport()
    async with open_client(args) as client:
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
            outcome.stopped = outcome.progress is not None and outcome.progress.stopped_by is not None
            reporter.close(outcome.progress)
            outcome.media_bytes = reporter.bytes
        _print_summary(args, planner.plan, outcome, money, client)
    progress = outcome.progress
    if not planner.plan.inputs and not outcome.interrupted and not outcome.input_problems:
        print(f"douyin-async batch: INPUT {args.input} {_EMPTY}", file=sys.stderr)
        return EXIT_USAGE
    if outcome.interrupted:
        print(f"interrupted: rerun the same command to resume{_left(outcome)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if progress is not None and progress.stopped_by is not None:
        cause = progress.stopped_by
        why = (f"--max-billed {args.max_billed} reached" if isinstance(cause, BudgetExhaustedError)
               and args.max_billed is not None and "max_billed_calls" in str(cause) else str(cause))
        print(f"stopped: {why}. What was not yet tried stays to do for the next run{_left(outcome)}.",
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
    args: argparse.Namespace, client: DouyinClient, journal: Journal, planner: Planner, interrupt: Interrupt,
    origins: dict[str, str], reporter: ProgressReporter, outcome: RunReport,
) -> None:
    downloads = None
    if args.download:
        downloads = _Downloads(client, args, reporter, made(Path(args.download)), journal)
    def bad_input(text: str) -> None:
        journal.write(BatchResult(text, None, None, BadInputError(text), 0, -1), text)

    texts = _inputs(args)
    values = values_in_thread(texts, interrupt.stop) if args.input == "-" else _each(texts)
    inputs = feed(values, planner, client, interrupt.stop, origins, reporter, outcome.input_problems, bad_input)
    results = client.iter_videos(inputs, max_billed_calls=args.max_billed, progress=reporter, stop=interrupt.stop)
    try:
        async with aclosing(inputs), aclosing(results):
            async for result in results:
                outcome.progress = reporter.last
                if result.duplicate or isinstance(result.error, BatchAbortedError):
                    continue  # a repeat shares its original's line; an unsent id stays to do
                journal.write(result, origins.pop(result.item_id, result.input) if result.item_id else result.input)
                if downloads is not None and result.response is not None and not interrupt.stop.is_set():
                    await downloads.submit(result.response)
            if downloads is not None:
                for item_id in journal.failed_downloads():
                    if interrupt.stop.is_set():
                        break
                    await downloads.submit(item_id)
                await downloads.drain()
                outcome.downloads_failed, outcome.downloads_retried = downloads.failed, downloads.retried
    except asyncio.CancelledError:
        if not interrupt.gave_up:
            raise
        outcome.abandoned = client.limits.in_flight
    outcome.progress = reporter.last
    outcome.interrupted = interrupt.stop.is_set()


def _left(outcome: RunReport) -> str:
    """`` (N of M inputs not yet tried)`` when the input's size is known: unread inputs count too."""
    if not outcome.total:
        return ""
    return f" ({outcome.untried} of {plural(outcome.total, 'input')} not yet tried)"


def _failures(failed: dict[str, int]) -> str:
    """`` [2000 Search success but no result: 3]``: each code with its name from the code table."""
    return "".join(f" [{code}{f' {CODES[code].message}' if code in CODES else ''}: {n}]"
                   for code, n in sorted(failed.items()))


def _print_summary(
    args: argparse.Namespace, plan: Plan, outcome: RunReport, money: Money, client: DouyinClient
) -> None:
    progress = outcome.progress or BatchProgress()
    failed = sum(progress.failed.values())
    print(f"ok {progress.ok}, failed {failed}{_failures(progress.failed)}"
          + (f", bad input {plan.invalid} (no video id: recorded, never sent)" if plan.invalid else "")
          + f", not yet tried {outcome.untried}")
    print(f"skipped {plan.skipped}: {plan.done} already in {args.output}, {plan.failed_before} failed for good "
          f"before (--retry-failed fetches them again), {plural(plan.repeats, 'repeat')}")
    billed, possibly = money.totals()  # the client's ledger: the downloads' requests included
    possibly += outcome.abandoned
    line = (f"billed calls {billed}, possibly billed {possibly} (sent, answer unreadable"
            + (f"; {outcome.abandoned} abandoned in flight" if outcome.abandoned else "") + ")")
    if args.price is not None:
        line += f", cost {billed * args.price:.2f}"
        if possibly:
            line += f" (up to {(billed + possibly) * args.price:.2f})"
    quota = client.quota
    if quota is not None and quota.limit > 0:
        line += (f", quota left {quota.remaining} of {quota.limit}" if quota.remaining is not None
                 else f", daily quota {quota.limit}")
    print(line + f", elapsed {progress.elapsed:.1f}s")
    if failed or plan.invalid:
        print(f"failures: {args.errors_path} (one line per id; a rerun retries the transient ones)")
    if args.download:
        retried = (f", {outcome.downloads_retried} failed downloads of earlier runs tried again (one billed "
                   "call each for fresh media URLs)") if outcome.downloads_retried else ""
        print(f"media downloaded {outcome.media_bytes / 2**20:.1f} MiB into {args.download}, "
              f"{plural(outcome.downloads_failed, 'download')} failed{retried}")


def _print_dry_run(args: argparse.Namespace, plan: Plan) -> None:
    sends = plan.ids + plan.links
    worst = sends * (args.retries + 1)
    column = getattr(args, "id_column", None)
    print(f"dry run: {plural(plan.inputs, 'input')}" + (f" from column {column!r}" if column else "")
          + "; nothing sent, no file written")
    print(f"would fetch {sends}: {plural(plan.ids, 'distinct id')}, {plural(plan.links, 'short link')} "
          "(resolved for free first)")
    print(f"skipped {plan.skipped}: {plan.done} already in {args.output}, {plan.failed_before} failed for good "
          f"before (--retry-failed fetches them again), {plural(plan.repeats, 'repeat')}; "
          f"{plural(plan.invalid, 'input')} {'holds' if plan.invalid == 1 else 'hold'} no id (recorded, never sent)")
    cost = ""
    if args.price is not None:
        cost = f"; cost {sends * args.price:.2f}, at worst {worst * args.price:.2f}"
    print(f"billed calls: {sends} if every answer is read, at worst {worst} "
          f"(every retry after an unreadable answer billed){cost}")


__all__ = ["InputError", "cmd_batch"]
