"""Command-line options for running the emulator standalone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import math
import signal
import sys
from typing import Any

from ._config import EMULATOR_KEY, EMULATOR_SECRET, FAULTS, EmulatorConfig
from ._server import Emulator


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _number(minimum: float, maximum: float = math.inf, *, whole: bool = False, above: bool = False) -> Any:
    """An argparse type: a finite number in range, with a message that says the range."""
    low = f"more than {minimum:g}" if above else f"at least {minimum:g}"
    what = f"{'a whole number' if whole else 'a number'} {low}"
    if maximum < math.inf:
        what += f" and at most {maximum:g}"

    def parse(text: str) -> float:
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value) or value < minimum or (above and value == minimum) or value > maximum:
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {what}")
        return value

    return parse


def add_emulator_options(parser: argparse.ArgumentParser) -> None:
    """Every EmulatorConfig knob as a flag; shared by ``python -m`` and ``douyin-async emulator``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    add("--port", type=_number(0, 65535, whole=True), default=8765,
        help="port to listen on, 0 for any free one (default: %(default)s)")
    add("--key", action="append", type=_pair, metavar="KEY=SECRET",
        help="accepted credentials (repeatable); default test-key=test-secret")
    add("--stopped", action="append", type=_pair, metavar="KEY=CODE",
        help="answer this key with 4006, 4007 or 4012")
    add("--rate-limit", type=_number(0, above=True), help="requests per key in any one-second window (4008 above)")
    add("--concurrency", type=_number(1, whole=True), help="requests per key in flight at once (4008 above)")
    add("--daily-quota", type=_number(0, whole=True), help="charged calls per key before 4013")
    add("--balance", type=_number(0, whole=True), help="charged calls the account can pay for before 4016")
    add("--maintenance", action="store_true", help="answer every call with 4009")
    add("--found-ratio", type=_number(0, 1), default=0.9, help="share of ids that hold a video (default 0.9)")
    add("--fault", action="append", type=_pair, metavar="NAME=P",
        help=f"fault probability per request (repeatable); names: {', '.join(FAULTS)}")
    add("--media-fault", action="append", type=_pair, metavar="NAME=P",
        help="media fault probability: reset, http403, http404, http410, html, trickle")
    add("--no-media-range", action="store_true", help="ignore Range requests on media")
    add("--self-contained", action="store_true",
        help="point every media URL and share link (the seed's too) at the emulator, for offline demos")
    add("--latency", type=_number(0), default=None,
        help="seconds before every answer (default: a realistic model, ~1 s median, heavy tail)")
    add("--jitter", type=_number(0), default=0.0, help="random extra seconds, up to this")
    add("--fast", action="store_true", help="no latency unless --latency is given (for tests)")
    add("--slow-body", type=_number(0), default=0.0, help="seconds spent sending each body")
    add("--timeout-delay", type=_number(0), default=30.0,
        help="seconds the 'timeout' fault holds a request before 4017, and 'slow_headers' and "
             "'slow_body' take (default 30)")
    add("--video-size", type=_number(1, whole=True), default=256 * 1024,
        help="bytes of each video file (default 262144)")
    add("--image-size", type=_number(1, whole=True), default=16 * 1024,
        help="bytes of each cover and avatar (default 16384)")
    add("--audio-size", type=_number(1, whole=True), default=64 * 1024,
        help="bytes of each music file (default 65536)")
    add("--seed", type=int, default=0, help="seed of the fault, latency and jitter draws")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    def floats(pairs: list[tuple[str, str]] | None) -> dict[str, float]:
        return {name: float(value) for name, value in pairs or []}

    return EmulatorConfig(
        keys=dict(args.key) if args.key else {EMULATOR_KEY: EMULATOR_SECRET},
        stopped=dict(args.stopped or []),
        rate_limit=args.rate_limit,
        concurrency=args.concurrency,
        daily_quota=args.daily_quota,
        balance=args.balance,
        maintenance=args.maintenance,
        found_ratio=args.found_ratio,
        faults=floats(args.fault),
        media_faults=floats(args.media_fault),
        media_range=not args.no_media_range,
        self_contained=args.self_contained,
        latency=args.latency,
        jitter=args.jitter,
        fast=args.fast,
        slow_body=args.slow_body,
        timeout_delay=args.timeout_delay,
        video_size=args.video_size,
        image_size=args.image_size,
        audio_size=args.audio_size,
        seed=args.seed,
    )


async def serve(config: EmulatorConfig, host: str, port: int) -> int:
    """Run until SIGINT or SIGTERM (exit 0), or say why it cannot listen (exit 2)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            loop.add_signal_handler(number, stop.set)
    emulator = Emulator(config, host=host, port=port)
    try:
        await emulator.start()
    except OSError as exc:
        await emulator.close()
        reason = "already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        print(f"emulator: cannot listen on {host}:{port}: {reason}; pick another --port "
              "(0 for any free one) or --host", file=sys.stderr)
        return 2
    try:
        print(f"emulator listening: base_url={emulator.base_url} (Ctrl-C stops it)", flush=True)
        await stop.wait()
    finally:
        await emulator.close()
    print("emulator stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m douyin_async.emulator",
        description="A local item_get_video gateway for tests and demos.",
    )
    add_emulator_options(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return asyncio.run(serve(config, args.host, args.port))
    except KeyboardInterrupt:  # where signal handlers cannot be installed
        return 0
