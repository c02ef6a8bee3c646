"""The short commands: ``get`` (a summary or the item's JSON), ``download`` and ``emulator``.

Each target is read before the first call (a target that holds no id is a usage error), each
video is asked for once however many times it is given, and what was billed is said at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from .. import (
    DouyinError,
    InvalidParamError,
    Usage,
    Video,
    find_short_link,
    parse_item_id,
)
from ..emulator import serve
from ..sinks._rows import readable_item
from ._checks import UsageError
from ._journal import PERMANENT_ERRORS
from ._progress import ProgressReporter
from ._session import EXIT_FAILED, EXIT_FATAL, EXIT_OK, open_client
from ._streams import reader_gone


def distinct_targets(targets: list[str], hosts: tuple[str, ...]) -> list[str]:
    """The targets with repeats of one video dropped; one that holds no id is a usage error."""
    seen: set[str] = set()
    kept = []
    for target in targets:
        try:
            key = parse_item_id(target)
        except InvalidParamError:
            link = find_short_link(target, hosts)
            if link is None:
                raise UsageError(f"{target[:80]!r} is not a video id, video URL, share text or short link") from None
            key = link
        if key not in seen:
            seen.add(key)
            kept.append(target)
    return kept


class Spending:
    """What the requests of ``get`` and ``download`` cost, as the client's ledger records them
    (refreshed media URLs and requests cut by Ctrl-C included)."""

    def __init__(self) -> None:
        self.usage: Callable[[], Usage] = Usage  # nothing spent until a client exists
        self.interrupted = False

    def __str__(self) -> str:
        usage = self.usage()
        text = f"billed calls {usage.billed}, possibly billed {usage.possibly_billed}"
        return text + " (interrupted)" if self.interrupted else text


async def _for_each(
    targets: list[str], action: Callable[[str], Awaitable[None]], spending: Spending, *, for_stdout: bool = False
) -> int:
    """``action`` for every target; failures go to stderr, and a fatal one stops at once.

    ``for_stdout``: the output is the point, so once its reader has gone (``| head``) nothing more is
    asked for (and billed).
    """
    failed = False
    try:
        for target in targets:
            if for_stdout and reader_gone():
                break
            try:
                await action(target)
            except asyncio.CancelledError:  # Ctrl-C: the ledger counted the request in flight as possibly billed
                spending.interrupted = True
                raise
            except DouyinError as exc:
                print(f"{target}: {exc}", file=sys.stderr)
                if exc.fatal:
                    return EXIT_FATAL
                failed = True
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        print(spending, file=sys.stderr)


async def cmd_get(args: argparse.Namespace) -> int:
    targets = distinct_targets(args.targets, args.short_link_hosts)
    spending = Spending()
    async with open_client(args) as client:
        spending.usage = lambda: client.usage

        async def show(target: str) -> None:
            response = await client.item_get_video(await client.resolve_item_id(target))
            if args.json:
                sys.stdout.buffer.write(readable_item(response.raw_item) + b"\n")
                sys.stdout.buffer.flush()
            else:
                print(summary(response.item), flush=True)

        return await _for_each(targets, show, spending, for_stdout=True)


def summary(item: Video) -> str:
    """A few lines a person reads: title, author, and where the media is."""
    video, music = item.video, item.music
    lines = [f"{item.num_iid}  {item.title or '(no title)'}", f"  author  {item.nick} (uid {item.uid})"]
    if video.url_raw or video.url:
        label = "no watermark" if video.url_raw else "watermarked"
        lines.append(f"  video   {video.url_raw or video.url}  ({label})")
    if video.pic_url:
        lines.append(f"  cover   {video.pic_url}")
    if music.url:
        lines.append(f"  music   {music.title}  {music.url}")
    if item.detail_url:
        lines.append(f"  page    {item.detail_url}")
    return "\n".join(lines)


async def cmd_download(args: argparse.Namespace) -> int:
    targets = distinct_targets(args.targets, args.short_link_hosts)
    directory = made(Path(args.dir))
    spending = Spending()
    reporter = ProgressReporter()
    failed_before = FailedBefore(directory / FAILED_RECORD)
    try:
        async with open_client(args) as client:
            spending.usage = lambda: client.usage

            async def fetch(target: str) -> None:
                item_id = await client.resolve_item_id(target)  # free: a short link's lookup is no gateway call
                earlier = None if args.retry_failed else failed_before.get(item_id)
                if earlier is not None:
                    raise AlreadyFailedError(f"failed for good on an earlier run ({earlier}); --retry-failed "
                                             "asks the gateway again")
                # The item is asked for only when a file is missing; refreshed URLs are counted too.
                try:
                    result = await client.download_media(
                        item_id, directory, kinds=args.kinds, watermark=args.watermark, overwrite=args.overwrite,
                        on_bytes=reporter.add_bytes)
                except PERMANENT_ERRORS as exc:
                    failed_before.add(item_id, exc)
                    raise
                failed_before.forget(item_id)
                print("\n".join(map(str, result.paths)), flush=True)

            return await _for_each(targets, fetch, spending)
    finally:
        reporter.close(None)


FAILED_RECORD = ".douyin-async.failed.jsonl"
"""In a download directory: the ids whose details the gateway refused for good (billed, as a 2000 is)."""


class AlreadyFailedError(DouyinError):
    """A download not asked for: the gateway refused the video for good on an earlier run."""


class FailedBefore:
    """The download directory's memory of ids that failed for good, so a rerun does not pay again.

    One JSON line per outcome, appended whole; the latest line of an id wins.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._failed: dict[str, str] = {}
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                record = json.loads(line)
                item_id, failure = str(record["item_id"]), record.get("failed")
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line: not a failure to skip
            if failure:
                self._failed[item_id] = str(failure)
            else:
                self._failed.pop(item_id, None)

    def get(self, item_id: str) -> str | None:
        return self._failed.get(item_id)

    def add(self, item_id: str, error: DouyinError) -> None:
        self._failed[item_id] = f"{error.code or type(error).__name__}: {type(error).__name__}"
        self._append({"item_id": item_id, "failed": self._failed[item_id]})

    def forget(self, item_id: str) -> None:
        if self._failed.pop(item_id, None) is not None:
            self._append({"item_id": item_id, "failed": None})

    def _append(self, record: dict[str, str | None]) -> None:
        descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            os.write(descriptor, json.dumps(record).encode() + b"\n")
        finally:
            os.close(descriptor)


def made(directory: Path) -> Path:
    """``directory``, created if missing: a directory whatever its name looks like."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{directory}: cannot create this directory: {exc.strerror or exc}") from None
    return directory


async def cmd_emulator(args: argparse.Namespace) -> int:
    return await serve(args.config, args.host, args.port)
