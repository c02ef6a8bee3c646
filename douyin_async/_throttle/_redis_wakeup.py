"""Waiting for a slot in flight without polling: one subscription per process wakes its waiters.

The release script publishes, on the key's channel, how many slots are free after it; every
process subscribed wakes that many of its own waiters (oldest first), which then run the acquire
script again. A waiter that loses the race to another process waits again. A message can be lost
(the subscription is being made or remade), so each wait also ends after a capped, jittered
timeout: at worst a waiter asks once a second, never in a tight loop.

A Redis user whose ACL refuses SUBSCRIBE or PUBLISH cannot hear releases at all: then (one
warning says so) a release in this process wakes one of its waiters directly, and every waiter
asks again at least every ``POLL_WAIT`` seconds for the slots other processes free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("douyin_async")

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)
"""What a call to Redis raises when the server cannot be reached, went away mid-call, or is a
replica during a failover (it still loads its data set: ``BusyLoadingError`` is a ConnectionError)."""
MAX_WAIT = 1.0
"""The longest a waiter sleeps without asking again, should a release message be lost."""
POLL_WAIT = 0.1
"""The longest a waiter sleeps without asking again when releases cannot be heard (an ACL)."""


def backoff(failures: int, *, base: float = 0.05, cap: float = 0.5) -> float:
    """Seconds before trying Redis again after ``failures`` failures in a row: capped full jitter."""
    return random.uniform(0, min(cap, base * 2 ** max(failures - 1, 0)))


class ReleaseListener:
    """Wakes this process's waiters for a slot when any process releases one."""

    def __init__(self, client: Redis, channel: str, *, deaf: bool = False) -> None:
        self._client = client
        self._channel = channel
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.deaf = deaf
        """Releases cannot be heard (SUBSCRIBE or PUBLISH refused): waiters poll."""

    def start(self) -> None:
        if self._task is None and not self.deaf:
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="douyin-redis-releases")

    async def wait(self, hint: float) -> None:
        """Until a release may have freed a slot, or about ``hint`` seconds (at most ``MAX_WAIT``)."""
        self.start()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        timeout = min(max(hint, 0.001), POLL_WAIT if self.deaf else MAX_WAIT)
        try:
            await asyncio.wait({waiter}, timeout=random.uniform(timeout / 2, timeout))
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def wake(self, count: int) -> None:
        """Wake up to ``count`` waiters, the longest waiting first."""
        while count > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def released(self) -> None:
        """This process gave a slot back: if no message will say so, wake one of its waiters now."""
        if self.deaf:
            self.wake(1)

    def refused(self, command: str, exc: BaseException) -> None:
        """Redis refused ``command`` (an ACL): releases cannot be heard, so waiters poll from now on."""
        if not self.deaf:
            self.deaf = True
            log.warning("the shared throttle's Redis user may not %s the release channel (%s); waiters ask "
                        "Redis every %.1f s instead of being woken: allow it in the ACL (+%s, &channel)",
                        command, type(exc).__name__, POLL_WAIT, command.lower())
        self.wake(len(self._waiters))

    async def _listen(self) -> None:
        failures = 0
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                failures = 0
                # Releases published before the subscription took effect were missed: look again.
                self.wake(len(self._waiters))
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=MAX_WAIT)
                    if message is not None:
                        self.wake(int(message["data"]))
            except UNREACHABLE as exc:
                failures += 1
                log.debug("release subscription lost (%s); subscribing again", type(exc).__name__)
            except RedisError as exc:  # answered with a refusal (NoPermissionError): no retry will cure it
                self.refused("SUBSCRIBE", exc)
                return
            finally:
                close: Callable[[], Awaitable[None]] = pubsub.aclose  # untyped in redis-py
                with contextlib.suppress(*UNREACHABLE):
                    await close()
            await asyncio.sleep(backoff(failures))

    async def aclose(self) -> None:
        """Stop listening and close the subscription's connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.wake(len(self._waiters))
