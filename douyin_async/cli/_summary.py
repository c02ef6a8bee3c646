"""What a batch run did and what it cost: the report, and the summary and dry-run lines printed from it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from .. import (
    BatchProgress,
    DouyinClient,
)
from ..errors import CODES, StorageError
from ._inputs import InputError
from ._plan import Plan
from ._progress import Money, plural, untried


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
    storage_error: StorageError | None = None
    """OUT could not be written (a full disk, a lock, a server gone): the run stopped there."""

    @property
    def untried(self) -> int:
        """Inputs not tried because the run stopped: the one number the summary and the last line say."""
        progress = self.progress or BatchProgress()
        return untried(progress, self.total if self.interrupted or self.stopped else None)



def left_to_do(outcome: RunReport) -> str:
    """`` (N of M inputs not yet tried)`` when the input's size is known: unread inputs count too."""
    if not outcome.total:
        return ""
    return f" ({outcome.untried} of {plural(outcome.total, 'input')} not yet tried)"


def _failures(failed: dict[str, int]) -> str:
    """`` [2000 Search success but no result: 3]``: each code with its name from the code table."""
    return "".join(f" [{code}{f' {CODES[code].message}' if code in CODES else ''}: {n}]"
                   for code, n in sorted(failed.items()))


def print_summary(
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
        where = (f"{args.errors_path} (one line per id" if args.errors_path is not None
                 else f"table {args.failures_table} of {args.output_path or args.output} (one row per id")
        print(f"failures: {where}; a rerun retries the transient ones)")
    if args.download:
        retried = (f", {outcome.downloads_retried} failed downloads of earlier runs tried again (one billed "
                   "call each for fresh media URLs)") if outcome.downloads_retried else ""
        print(f"media downloaded {outcome.media_bytes / 2**20:.1f} MiB into {args.download}, "
              f"{plural(outcome.downloads_failed, 'download')} failed{retried}")


def print_dry_run(args: argparse.Namespace, plan: Plan) -> None:
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


