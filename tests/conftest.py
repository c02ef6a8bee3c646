"""Shared fixtures: a real emulator on 127.0.0.1 and clients pointed at it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from douyin_async import DouyinClient, RetryOptions
from douyin_async.emulator import Emulator

from .postgres_server import AVAILABLE as POSTGRES_AVAILABLE
from .postgres_server import PostgresServer
from .redis_server import REDIS_SERVER, RedisServer

# PostgreSQL sinks spool under XDG_STATE_HOME: the tests', and the command line's they start, stay
# out of the user's own state directory.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="douyin-async-tests-state-")

KEY = "test-key"
SECRET = "test-secret"
SEED_ID = "7092264344980868359"

ClientFactory = Callable[..., DouyinClient]


class SleepRecorder:
    """An injected sleep: records the delays tenacity asks for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(fast=True) as emu:
        yield emu


@pytest.fixture
def make_client(emulator: Emulator, sleeps: SleepRecorder) -> ClientFactory:
    """Clients on the emulator with no throttle and an instant, recorded backoff sleep.

    ``retry`` takes a dict of :class:`RetryOptions` fields, added to the recorded sleep.
    """

    def factory(*, retry: dict[str, Any] | None = None, **overrides: Any) -> DouyinClient:
        options: dict[str, Any] = {
            "key": KEY,
            "secret": SECRET,
            "base_url": emulator.base_url,
            "rate_limit": None,
            "max_concurrency": None,
            "retry": RetryOptions(**{"sleep": sleeps, **(retry or {})}),
        }
        options.update(overrides)
        return DouyinClient(**options)

    return factory


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, stopped after the test."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the tests that do not stop it (each uses tables of its own)."""
    server = _postgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server of this test's own, to kill and restart."""
    server = _postgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


def _postgres() -> PostgresServer:
    if not POSTGRES_AVAILABLE:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)")
    return PostgresServer()


async def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess (unthrottled), without blocking the loop that serves the emulator."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "douyin_async", *args, "--rate", "0", "--concurrency", "8",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())
