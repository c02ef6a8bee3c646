"""Command-line options for running the emulator standalone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from ._config import EMULATOR_KEY, EMULATOR_SECRET, FAULTS, EmulatorConfig
from ._server import Emulator


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def add_emulator_options(parser: argparse.ArgumentParser) -> None:
    """Every EmulatorConfig knob as a flag; shared by ``python -m`` and ``douyin-async emulator``."""
    add = parser.add_argument
    add("--key", action="append", type=_pair, metavar="KEY=SECRET",
        help="accepted credentials (repeatable); default test-key=test-secret")
    add("--stopped", action="append", type=_pair, metavar="KEY=CODE",
        help="answer this key with 4006, 4007 or 4012")
    add("--rate-limit", type=float, help="requests per key in any one-second window (4008 above)")
    add("--concurrency", type=int, help="requests per key in flight at once (4008 above)")
    add("--daily-quota", type=int, help="charged calls per key before 4013")
    add("--balance", type=int, help="charged calls the account can pay for before 4016")
    add("--maintenance", action="store_true", help="answer every call with 4009")
    add("--found-ratio", type=float, default=0.9, help="share of ids that hold a video (default 0.9)")
    add("--fault", action="append", type=_pair, metavar="NAME=P",
        help=f"fault probability per request (repeatable); names: {', '.join(FAULTS)}")
    add("--media-fault", action="append", type=_pair, metavar="NAME=P",
        help="media fault probability: reset, http403, http404, http410, html, trickle")
    add("--no-media-range", action="store_true", help="ignore Range requests on media")
    add("--self-contained", action="store_true",
        help="point every media URL and share link (the seed's too) at the emulator, for offline demos")
    add("--latency", type=float, default=None,
        help="seconds before every answer (default: a realistic model, ~1 s median, heavy tail)")
    add("--jitter", type=float, default=0.0, help="random extra seconds, up to this")
    add("--fast", action="store_true", help="no latency unless --latency is given (for tests)")
    add("--slow-body", type=float, default=0.0, help="seconds spent sending each body")
    add("--timeout-delay", type=float, default=30.0,
        help="seconds the 'timeout' fault holds a request before 4017, and 'slow_headers' and "
             "'slow_body' take (default 30)")
    add("--video-size", type=int, default=256 * 1024, help="bytes of each video file (default 262144)")
    add("--image-size", type=int, default=16 * 1024, help="bytes of each cover and avatar (default 16384)")
    add("--audio-size", type=int, default=64 * 1024, help="bytes of each music file (default 65536)")
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


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    """Run until cancelled (Ctrl-C)."""
    async with Emulator(config, host=host, port=port) as emulator:
        print(f"emulator listening: base_url={emulator.base_url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m douyin_async.emulator",
        description="A local item_get_video gateway for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    add_emulator_options(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, args.host, args.port))
    return 0
