"""What the commands share: exit codes, the client the options describe, and Ctrl-C handling."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any

from .. import (
    DEFAULT_SHORT_LINK_HOSTS,
    ENV_KEY,
    ENV_SECRET,
    DouyinClient,
    InvalidSettingError,
    Redactor,
    ShortLinkOptions,
    ThrottleUnavailableError,
)
from ..emulator import EMULATOR_KEY, EMULATOR_SECRET, Emulator
from ..events import Listener
from ._checks import UsageError, setting_message, shown
from ._telemetry import listeners

"""Where the command line finds the credentials, as the client does."""
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_FATAL = 3
EXIT_BUG = 70
"""A bug of ours (sysexits' EX_SOFTWARE): a short message, and the traceback with ``-v``."""
EXIT_INTERRUPTED = 130


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The client settings the command-line options describe (the limits go to a Redis throttle with --redis)."""
    options: dict[str, Any] = {
        "max_retries": args.retries, "timeout": args.timeout, "cache": args.cache, "lang": args.lang,
        "base_url": args.base_url,
    }
    if not args.redis:
        options.update(rate_limit=args.rate or None, max_concurrency=args.concurrency or None)
    return options


def redis_throttle(args: argparse.Namespace, key: str | None) -> Any:
    """The shared throttle ``--redis`` asks for (imported only then: redis is an extra)."""
    if importlib.util.find_spec("redis") is None:
        raise UsageError("--redis needs the redis client: pip install 'douyin-async[redis]'")
    from ..redis import RedisThrottle

    try:
        return RedisThrottle(args.redis, key=key, rate_limit=args.rate or None,
                             max_concurrency=args.concurrency or None)
    except InvalidSettingError as exc:
        raise UsageError(setting_message(exc)) from None


def check_client(args: argparse.Namespace) -> None:
    """Build (and drop) the client the options describe: its complaints, in the flags' words."""
    options = client_options(args)
    key, secret = args.key, args.secret
    if args.emulator:
        key, secret = key or EMULATOR_KEY, secret or EMULATOR_SECRET
        options["base_url"] = "http://127.0.0.1:1/douyin"  # the emulator's address is not known yet
    if args.redis:
        options["throttle"] = redis_throttle(args, key)
    try:
        DouyinClient(key, secret, **options)
    except InvalidSettingError as exc:
        raise UsageError(setting_message(exc)) from None


@asynccontextmanager
async def open_client(args: argparse.Namespace, listener: Listener | None = None) -> AsyncIterator[DouyinClient]:
    """The client the options describe, on a fresh local emulator with ``--emulator``; ``listener``
    hears its events besides the audit file and telemetry the options ask for."""
    options = client_options(args)
    key, secret = args.key, args.secret
    async with AsyncExitStack() as stack:
        if args.emulator:
            key, secret = key or EMULATOR_KEY, secret or EMULATOR_SECRET
            # Self-contained: every media URL and share link it serves is on 127.0.0.1, so a demo
            # (downloads of the seed video included) never leaves the machine.
            emulator = Emulator(keys={key: secret}, latency=0.02, jitter=0.03, seed=1, self_contained=True)
            await stack.enter_async_context(emulator)
            options["base_url"] = emulator.base_url
            args.short_link_hosts = (*DEFAULT_SHORT_LINK_HOSTS, emulator.short_link_host)
            options["short_links"] = ShortLinkOptions(hosts=args.short_link_hosts)
        if args.redis:
            throttle = redis_throttle(args, key if key is not None else os.environ.get(ENV_KEY))
            try:
                options["throttle"] = await stack.enter_async_context(throttle)
            except ThrottleUnavailableError as exc:
                raise UsageError(f"--redis {shown(args.redis)}: {exc}") from None
        heard = stack.enter_context(listeners(getattr(args, "audit_path", None), getattr(args, "otel", False)))
        options["on_event"] = heard if listener is None else [*heard, listener]
        yield await stack.enter_async_context(DouyinClient(key, secret, **options))


class Interrupt:
    """SIGINT or SIGTERM: the first stops sending and waits ``grace`` seconds for the requests in
    flight (their answers may be billed: they are kept); the second leaves at once.

    Lines are written whole between two event-loop steps, so leaving at once never tears one.
    """

    def __init__(self, grace: float) -> None:
        self.stop = asyncio.Event()
        self.gave_up = False
        self._grace = grace
        self._signals = 0
        self._installed: list[signal.Signals] = []
        self._timer: asyncio.TimerHandle | None = None

    def __enter__(self) -> Interrupt:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for number in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(number, self._on_signal)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
                continue
            self._installed.append(number)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for number in self._installed:
            self._loop.remove_signal_handler(number)
        if self._timer is not None:
            self._timer.cancel()
        if self.gave_up and self._task is not None and hasattr(self._task, "uncancel"):
            self._task.uncancel()

    def _on_signal(self) -> None:
        self._signals += 1
        if self._signals > 1:
            sys.stdout.flush()
            print("\ninterrupted again: leaving now; every line written is complete", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
        self.stop.set()
        print(f"\ninterrupted: sending nothing more; waiting up to {self._grace:.0f}s for the requests in "
              "flight (press Ctrl-C again to leave now)", file=sys.stderr, flush=True)
        self._timer = self._loop.call_later(self._grace, self._give_up)

    def _give_up(self) -> None:
        self.gave_up = True
        if self._task is not None:
            self._task.cancel()


def redactor_for(args: argparse.Namespace) -> Redactor:
    """Masks every secret the command knows: the key and secret, and the password of ``--redis``."""
    redis = getattr(args, "redis", None)
    userinfo = redis.partition("://")[2].rpartition("@")[0] if redis else ""
    return Redactor([getattr(args, "key", None), getattr(args, "secret", None), os.environ.get(ENV_KEY),
                     os.environ.get(ENV_SECRET), userinfo, userinfo.partition(":")[2]])
