"""The ``douyin-async`` command line: get, batch (resumable, with progress), download, emulator.

Exit codes: 0 every id ok; 1 some ids failed; 2 usage or input error; 3 the run stopped on a
fatal account error (or its own charge budget).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any

from .. import (
    DEFAULT_BASE_URL,
    DEFAULT_SHORT_LINK_HOSTS,
    MEDIA_KINDS,
    BatchAbortedError,
    BatchProgress,
    DouyinClient,
    DouyinError,
    ItemGetVideoResponse,
    ShortLinkOptions,
    __version__,
)
from ..emulator import EMULATOR_KEY, EMULATOR_SECRET, Emulator, add_emulator_options, config_from_args, serve
from ._inputs import InputError, read_inputs
from ._journal import Journal
from ._progress import ProgressReporter

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_FATAL = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="douyin-async",
        description="Fetch Douyin video details through the item_get_video gateway.",
        epilog="Credentials come from DOUYIN_API_KEY and DOUYIN_API_SECRET. "
        "Exit codes: 0 all ok, 1 some ids failed, 2 usage or input error, 3 fatal account error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    client = argparse.ArgumentParser(add_help=False)
    group = client.add_argument_group("client")
    group.add_argument("--emulator", action="store_true",
                       help="start a local emulator and use it (offline; fake data)")
    group.add_argument("--base-url", default=DEFAULT_BASE_URL, help="gateway base URL (default: %(default)s)")
    group.add_argument("--key", help="API key (visible in shell history and ps: prefer DOUYIN_API_KEY)")
    group.add_argument("--secret", help="API secret (visible in shell history and ps: prefer DOUYIN_API_SECRET)")
    group.add_argument("--rate", type=float, default=5.0, help="requests per second (default: %(default)s)")
    group.add_argument("--concurrency", type=int, default=5, help="requests in flight (default: %(default)s)")
    group.add_argument("--retries", type=int, default=3, help="retries per id (default: %(default)s)")
    group.add_argument("--timeout", type=float, default=30.0, help="seconds per attempt (default: %(default)s)")
    group.add_argument("--no-cache", dest="cache", action="store_const", const=False, default=None,
                       help="ask the gateway for fresh data")
    group.add_argument("--lang", metavar="CODE",
                       help="translate text fields: a language code such as en, ru, ko or zh-CN")
    group.add_argument("-v", "--verbose", action="store_true", help="log retries and throttle changes")

    get = commands.add_parser("get", parents=[client], help="show one or more videos",
                              description="Show videos by id, URL, share text or short link.")
    get.add_argument("targets", nargs="+", metavar="ID_OR_URL")
    get.add_argument("--json", action="store_true", help="print each item as JSON, as the gateway sent it")
    get.set_defaults(handler=cmd_get)

    batch = commands.add_parser(
        "batch", parents=[client], help="fetch many videos into a JSONL file (resumable)",
        description="Fetch every id of INPUT into OUT.jsonl. Running it again skips what OUT has.")
    batch.add_argument("input", metavar="INPUT", help="text, .csv, .jsonl or .xlsx file, or - for stdin")
    batch.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", help="successes, one JSON line each")
    batch.add_argument("--errors", metavar="ERR.jsonl", help="failures, one JSON line each")
    batch.add_argument("--format", choices=["text", "csv", "jsonl", "xlsx"], help="default: from the extension")
    batch.add_argument("--column", help="CSV/xlsx column with the ids (default: detected)")
    batch.add_argument("--field", help="JSONL field with the ids (default: detected)")
    batch.add_argument("--max-charged", type=int, metavar="N",
                       help="stop before more than N billed or possibly billed calls")
    batch.add_argument("--progress", dest="bar", action="store_const", const=True, default=None,
                       help="force the progress bar (default: on a terminal)")
    batch.add_argument("--no-progress", dest="bar", action="store_const", const=False,
                       help="plain progress lines instead of a bar")
    batch.add_argument("--download", metavar="DIR", help="also download each video's media into DIR")
    _add_media_options(batch)
    batch.set_defaults(handler=cmd_batch)

    download = commands.add_parser("download", parents=[client], help="download videos, covers, music",
                                   description="Download media of videos given by id, URL or share text.")
    download.add_argument("targets", nargs="+", metavar="ID_OR_URL")
    _add_media_options(download)
    download.add_argument("-d", "--dir", required=True, metavar="DIR", help="where the files go")
    download.set_defaults(handler=cmd_download)

    emulator = commands.add_parser("emulator", help="run the local gateway emulator",
                                   description="Run the gateway emulator until interrupted.")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    add_emulator_options(emulator)
    emulator.set_defaults(handler=cmd_emulator)
    return parser


def _add_media_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("media")
    group.add_argument("--kinds", type=_kinds, default=("video",), metavar="MEDIA_KINDS",
                       help="comma-separated: video, cover, music (default: video)")
    group.add_argument("--watermark", action="store_true", help="the watermarked video stream (default: without)")
    group.add_argument("--overwrite", action="store_true", help="download again files that exist")


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in MEDIA_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"kinds are {', '.join(MEDIA_KINDS)}; not {', '.join(unknown) or 'empty'}")
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return _run(args.handler(args))
    except (InputError, ValueError) as exc:
        print(f"douyin-async: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _run(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed (faster), else on the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coroutine)
    return asyncio.run(coroutine)  # pragma: no cover - uvloop's policy API changed across versions


@asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[DouyinClient]:
    """The client the options describe, on a fresh local emulator with ``--emulator``."""
    options: dict[str, Any] = {
        "rate_limit": args.rate or None, "max_concurrency": args.concurrency or None,
        "max_retries": args.retries, "timeout": args.timeout, "cache": args.cache, "lang": args.lang,
        "base_url": args.base_url,
    }
    key, secret = args.key, args.secret
    async with AsyncExitStack() as stack:
        if args.emulator:
            key, secret = key or EMULATOR_KEY, secret or EMULATOR_SECRET
            # Self-contained: every media URL and share link it serves is on 127.0.0.1, so a demo
            # (downloads of the seed video included) never leaves the machine.
            emulator = Emulator(keys={key: secret}, latency=0.02, jitter=0.03, seed=1, self_contained=True)
            await stack.enter_async_context(emulator)
            options["base_url"] = emulator.base_url
            options["short_links"] = ShortLinkOptions(hosts=(*DEFAULT_SHORT_LINK_HOSTS, emulator.short_link_host))
        yield await stack.enter_async_context(DouyinClient(key, secret, **options))


async def _for_each(targets: list[str], action: Callable[[str], Awaitable[None]]) -> int:
    """``action`` for every target; failures go to stderr, and a fatal one stops at once."""
    failed = False
    for target in targets:
        try:
            await action(target)
        except DouyinError as exc:
            print(f"{target}: {exc}", file=sys.stderr)
            if exc.fatal:
                return EXIT_FATAL
            failed = True
    return EXIT_FAILED if failed else EXIT_OK


async def cmd_get(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        async def show(target: str) -> None:
            response = await client.item_get_video(await client.resolve_item_id(target))
            if args.json:
                print(response.raw_item.decode())
            else:
                print(_summary(response.item))

        return await _for_each(args.targets, show)


def _summary(item: Any) -> str:
    video, music = item.video, item.music
    lines = [f"{item.num_iid}  {item.title}", f"  author  {item.nick} (uid {item.uid})"]
    if video.url_raw or video.url:
        label = "no watermark" if video.url_raw else "watermarked"
        lines.append(f"  video   {video.url_raw or video.url}  ({label})")
    if video.pic_url:
        lines.append(f"  cover   {video.pic_url}")
    if music.url:
        lines.append(f"  music   {music.title}  {music.url}")
    return "\n".join(lines)


class _Counted:
    """An iterable with a known length, so progress can show done/total."""

    def __init__(self, values: Iterable[str], total: int) -> None:
        self._values, self._total = values, total

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return self._total


async def cmd_batch(args: argparse.Namespace) -> int:
    def inputs() -> Iterator[str]:
        return read_inputs(args.input, fmt=args.format, column=args.column, field=args.field)

    journal = Journal(args.output, args.errors)
    skipped = 0
    try:
        if args.input == "-":
            def todo_stream() -> Iterator[str]:
                nonlocal skipped
                for value in inputs():
                    if journal.skip(value):
                        skipped += 1
                    else:
                        yield value
            todo: Iterable[str] = todo_stream()
        else:
            total = 0
            for value in inputs():  # a first pass: validates the file and counts what is left
                if journal.skip(value):
                    skipped += 1
                else:
                    total += 1
            todo = _Counted((v for v in inputs() if not journal.skip(v)), total)
        return await _fetch_all(args, journal, todo, skipped)
    finally:
        journal.close()


class _Downloads:
    """Media downloads started by a batch, all awaited before the summary.

    At most four are pending at once, so a batch that fetches faster than media downloads waits
    for them instead of piling up tasks (the client limits the downloads running at once).
    """

    def __init__(self, client: DouyinClient, args: argparse.Namespace, reporter: ProgressReporter) -> None:
        self._client, self._args, self._reporter = client, args, reporter
        self._slots = asyncio.Semaphore(4)
        self._tasks: set[asyncio.Task[None]] = set()
        self.failed = 0

    async def submit(self, response: ItemGetVideoResponse) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._one(response))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, response: ItemGetVideoResponse) -> None:
        try:
            await self._client.download(response, self._args.download, kinds=self._args.kinds,
                                        watermark=self._args.watermark, overwrite=self._args.overwrite,
                                        on_bytes=self._reporter.add_bytes)
        except DouyinError as exc:
            self.failed += 1
            print(f"download {response.item.num_iid}: {exc}", file=sys.stderr)
        finally:
            self._slots.release()

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks)


async def _fetch_all(args: argparse.Namespace, journal: Journal, todo: Iterable[str], skipped: int) -> int:
    reporter = ProgressReporter(bar=args.bar)
    progress: BatchProgress | None = None
    aborted = 0
    codes: Counter[str] = Counter()
    downloads_failed = 0
    try:
        async with open_client(args) as client:
            downloads = _Downloads(client, args, reporter) if args.download else None
            results = client.iter_videos(todo, max_charged_calls=args.max_charged, progress=reporter)
            async with aclosing(results):
                async for result in results:
                    journal.write(result)
                    if isinstance(result.error, BatchAbortedError):
                        aborted += 1
                    elif result.error is not None:
                        codes[result.error.code or type(result.error).__name__] += 1
                    elif downloads is not None and result.response is not None:
                        await downloads.submit(result.response)
            if downloads is not None:
                await downloads.drain()
                downloads_failed = downloads.failed
            progress = reporter.last
            quota = client.quota
    finally:
        reporter.close(progress)
    stopped_by = progress.stopped_by if progress else None
    print(f"ok {progress.ok if progress else 0}, failed {sum(codes.values())}"
          + "".join(f" [{code}: {n}]" for code, n in sorted(codes.items()))
          + f", not attempted {aborted}, skipped (already in {args.output}) {skipped}")
    print(f"billed calls {progress.billed if progress else 0}, "
          f"possibly billed {progress.possibly_billed if progress else 0} (sent, answer unreadable)"
          + (f", quota left {quota.remaining} of {quota.limit}" if quota and quota.remaining is not None else "")
          + (f", daily quota {quota.limit}" if quota and quota.remaining is None else "")
          + f", elapsed {progress.elapsed if progress else 0:.1f}s")
    if args.download:
        print(f"media downloaded {reporter.bytes / 2**20:.1f} MiB into {args.download}, "
              f"{downloads_failed} downloads failed")
    if stopped_by is not None:
        print(f"stopped: {stopped_by}. The {aborted} ids not attempted stay undone for the next run.",
              file=sys.stderr)
        return EXIT_FATAL
    return EXIT_FAILED if codes or downloads_failed else EXIT_OK


async def cmd_download(args: argparse.Namespace) -> int:
    reporter = ProgressReporter()
    try:
        async with open_client(args) as client:
            async def fetch(target: str) -> None:
                paths = await client.download(target, args.dir, kinds=args.kinds, watermark=args.watermark,
                                              overwrite=args.overwrite, on_bytes=reporter.add_bytes)
                print("\n".join(map(str, paths)))

            return await _for_each(args.targets, fetch)
    finally:
        reporter.close(None)


async def cmd_emulator(args: argparse.Namespace) -> int:
    await serve(config_from_args(args), args.host, args.port)
    return EXIT_OK


__all__ = ["build_parser", "main"]
