"""``RedisThrottle``: the ``Throttle`` protocol on Redis, one gateway key's limits and learning shared
by every process that uses the key (public in ``douyin_async.redis``; see docs/scaling.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import secrets
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from .._checks import check, check_count, check_limits, check_positive
from .._client import ENV_KEY
from .._lifecycle import close_from_here, loop_moved
from .._secrets import CREDENTIAL_PARAMS
from ..errors import InvalidSettingError, ThrottleUnavailableError
from ._adaptive import AdaptivePolicy, Ticket
from ._local import LocalThrottle
from ._protocol import DEFAULT_MARGIN, UNLIMITED, Outcome, ThrottleLimits
from ._redis_scripts import ACQUIRE, RELEASE, RENEW, SETTLE_SECONDS, STATE_TTL_MS, Keys, policy_args
from ._redis_wakeup import UNREACHABLE, ReleaseListener, backoff

log = logging.getLogger("douyin_async")

DEFAULT_LEASE_SECONDS = 15.0
DEFAULT_OUTAGE_SECONDS = 30.0
"""How long Redis may stay unreachable mid-run before the throttle gives up on it."""
_GIVE_BACK_SECONDS = 1.0
"""How long closing waits for the leases still being given back to reach Redis."""
_PEERS_SEEN_SECONDS = 600.0
"""Limits another process used on the key this recently are compared with ours."""
_GRANTED, _FULL, _SETTLING = 1, 0, 2
_OUTCOMES = {Outcome.ANSWERED: "answered", Outcome.LIMITED: "limited", Outcome.NO_ANSWER: "none"}


@dataclass(slots=True)
class _Lease(Ticket):
    """A ticket that also names its lease in the shared sorted set."""

    lease: str = ""


_T = TypeVar("_T")


class RedisThrottle:
    """A ``Throttle`` whose limits and learning live in Redis, shared by processes.

    ``redis`` is a URL (``redis://host:port/db``; the throttle makes and closes its own client) or
    a ``redis.asyncio.Redis`` of the caller's (left open). ``key`` is the gateway key the limits
    belong to (default: the ``DOUYIN_API_KEY`` environment variable, as the client reads it); it
    is only ever used hashed, in the names of the Redis keys. ``rate_limit``, ``max_concurrency``,
    ``margin`` and ``adaptive`` mean what they mean for ``LocalThrottle``.

    A request's slot in flight is a lease that expires ``lease_seconds`` after it was last
    renewed; a background task renews the leases this process holds every third of that, so a
    process that dies loses its slots within ``lease_seconds``. With ``fallback="local"``, a Redis
    that cannot be reached when the throttle first needs it, or stays unreachable mid-run for
    ``outage_timeout`` seconds, is replaced, for the life of the throttle, by a ``LocalThrottle``
    with the limits divided by ``processes``; by default that raises ``ThrottleUnavailableError``
    (and so does every request until Redis answers again). Processes that share the key with
    other limits are warned about, once.

    >>> async with RedisThrottle("redis://127.0.0.1:6379", key="...", max_concurrency=4) as throttle:  # doctest: +SKIP
    ...     async with DouyinClient("...", "...", throttle=throttle) as client:
    ...         results = await client.get_videos(ids)
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        key: str | None = None,
        rate_limit: float | None = 5.0,
        max_concurrency: int | None = 5,
        prefix: str = "douyin-async",
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        fallback: Literal["local"] | None = None,
        processes: int = 1,
        adaptive: bool = True,
        margin: float = DEFAULT_MARGIN,
        outage_timeout: float = DEFAULT_OUTAGE_SECONDS,
    ) -> None:
        url_ok = isinstance(redis, str) and redis.startswith(("redis://", "rediss://", "unix://"))
        check("redis", _shown(redis), url_ok or isinstance(redis, Redis),
              "a redis://, rediss:// or unix:// URL, or a redis.asyncio.Redis client")
        key = key if key is not None else os.environ.get(ENV_KEY)
        check("key", "***", key is None or isinstance(key, str), "a str")
        if not key:
            raise InvalidSettingError(f"missing gateway key: pass key= or set {ENV_KEY}")
        check_limits(rate_limit, max_concurrency, margin)
        check("prefix", prefix, isinstance(prefix, str) and bool(prefix) and "{" not in prefix,
              "a non-empty str without braces")
        check_positive("lease_seconds", lease_seconds, minimum=0.1)
        check("fallback", fallback, fallback in (None, "local"), 'None or "local"')
        check_count("processes", processes, minimum=1)
        check("adaptive", adaptive, isinstance(adaptive, bool), "True or False")
        check_positive("outage_timeout", outage_timeout)
        self._url = redis if isinstance(redis, str) else None
        self._given = redis if isinstance(redis, Redis) else None
        self._keys = Keys.named(prefix, hashlib.sha256(key.encode()).hexdigest()[:16])
        self._rate_ceiling, self._concurrency_ceiling = rate_limit, max_concurrency
        self._lease_seconds = float(lease_seconds)
        self._lease_text = repr(self._lease_seconds)
        self._outage_timeout = float(outage_timeout)
        self._limits_key = f"{self._keys.policy.rpartition(':')[0]}:limits"
        self._limits_text = f"rate_limit={_number(rate_limit)}, max_concurrency={max_concurrency}"
        self._key_names = self._keys.all()
        self._fallback, self._processes = fallback, processes
        self._adaptive, self._margin = adaptive, margin
        self._policy_args = policy_args(rate_limit, max_concurrency, margin, adaptive)
        self._unlimited = rate_limit is None and max_concurrency is None
        self._token = secrets.token_hex(6)
        self._counter = itertools.count(1)
        self._held: set[str] = set()
        self._undoing: set[asyncio.Future[Any]] = set()
        starting = AdaptivePolicy(rate_limit, max_concurrency, margin, start_small=adaptive)
        self._rate, self._concurrency = starting.rate, starting.concurrency
        self._rate_limited = 0
        self._unlimited_in_flight = 0
        self._reached = False
        self._lost = False
        self._lost_since: float | None = None
        self._publish_refused = False
        self._warned: set[str] = set()
        self._local: LocalThrottle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Redis | None = None
        self._listener: ReleaseListener | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._acquire_script: AsyncScript | None = None
        self._release_script: AsyncScript | None = None
        self._renew_script: AsyncScript | None = None

    def __repr__(self) -> str:
        return (f"RedisThrottle(prefix={self._keys.policy.rpartition(':{')[0]!r}, key='***', "
                f"rate_limit={self._rate_ceiling}, max_concurrency={self._concurrency_ceiling})")

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> RedisThrottle:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Reach Redis now rather than on the first request (``async with`` does this).

        Raises ``ThrottleUnavailableError`` if it cannot be reached, unless ``fallback="local"``.
        """
        if self._unlimited or self._local is not None:
            return
        client = await self._bind()
        if self._reached:
            return
        try:
            await client.ping()
            await self._check_publish(client)
            await self._compare_limits(client)
        except UNREACHABLE as exc:
            self._unreachable(exc)
            return
        self._reached = True

    async def aclose(self) -> None:
        """Let the leases being given back reach Redis (for up to a second), stop the background
        tasks, and close the Redis client the throttle made (not one given)."""
        loop_moved(self._loop, "the shared throttle's Redis connections", owner="throttle")
        await self._unbind()

    async def _bind(self) -> Redis:
        """The client and scripts for the running event loop (made again if the loop changed)."""
        loop = asyncio.get_running_loop()
        if self._client is not None and loop is self._loop:
            return self._client
        if loop_moved(self._loop, "the shared throttle's Redis connections", owner="throttle"):
            await self._unbind()
            if self._client is not None and loop is self._loop:  # bound meanwhile, by another call
                return self._client
        self._loop = loop
        if self._given is not None:
            client = self._given
        else:
            assert self._url is not None
            client = Redis.from_url(self._url, socket_connect_timeout=2.0, socket_timeout=5.0)
        self._client = client
        self._acquire_script = client.register_script(ACQUIRE)
        self._release_script = client.register_script(RELEASE)
        self._renew_script = client.register_script(RENEW)
        self._listener = ReleaseListener(client, self._keys.channel, deaf=self._publish_refused)
        self._renewer = None
        return client

    async def _unbind(self) -> None:
        """Close what is bound to a loop. On its own loop, the give-backs finish (or are cancelled
        after ``_GIVE_BACK_SECONDS``) and the tasks stop; those of a closed loop ended with it."""
        own_loop = self._loop is asyncio.get_running_loop()
        undoing, self._undoing = self._undoing, set()
        renewer, self._renewer = self._renewer, None
        listener, self._listener = self._listener, None
        client, self._client, self._loop = self._client, None, None
        try:
            if own_loop:
                if undoing:
                    _, late = await asyncio.wait(undoing, timeout=_GIVE_BACK_SECONDS)
                    await _stopped(*late)
                await _stopped(renewer)
                if listener is not None:
                    await listener.aclose()
        finally:
            if client is not None and client is not self._given:
                if own_loop:
                    await client.aclose()
                else:
                    await close_from_here(client.aclose)

    def _unreachable(self, exc: BaseException, *, mid_run: bool = False) -> None:
        """Redis cannot be reached on first contact, or for ``outage_timeout`` mid-run: fail, or
        fall back to a local throttle."""
        where = _shown(self._url) if self._url is not None else "the given Redis client"
        what = (f"has not answered for {self._outage_timeout:g} s (outage_timeout)" if mid_run
                else "cannot be reached")
        if self._fallback is None:
            raise ThrottleUnavailableError(
                f"the shared throttle's Redis ({where}) {what}: {type(exc).__name__}"
            ) from None
        divided = self._processes
        self._local = LocalThrottle(
            None if self._rate_ceiling is None else self._rate_ceiling / divided,
            None if self._concurrency_ceiling is None else max(1, self._concurrency_ceiling // divided),
            margin=self._margin, adaptive=self._adaptive,
        )
        log.warning("the shared throttle's Redis (%s) %s (%s); using a local throttle "
                    "with the limits divided by %d processes", where, what, type(exc).__name__, divided)

    def _warn_once(self, kind: str, message: str, *args: object) -> None:
        """A warning the first time, a debug line after: a lasting fault is told once, not per request."""
        level = logging.DEBUG if kind in self._warned else logging.WARNING
        self._warned.add(kind)
        log.log(level, message, *args)

    async def _check_publish(self, client: Redis) -> None:
        """Whether this Redis user may PUBLISH releases (an ACL may refuse it): waiters poll if not."""
        try:
            await client.publish(self._keys.channel, 0)  # wakes nobody: a release of no slot
        except UNREACHABLE:
            raise
        except RedisError as exc:  # NoPermissionError from an ACL, or a server without PUBLISH
            self._publish_refused = True
            if self._listener is not None:
                self._listener.refused("PUBLISH", exc)

    async def _compare_limits(self, client: Redis) -> None:
        """Warn once if another process shares the key with other limits (naming both, never the key)."""
        if "limits" in self._warned:
            return
        now = time.time()
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.zadd(self._limits_key, {self._limits_text: now})
                pipe.zremrangebyscore(self._limits_key, "-inf", now - _PEERS_SEEN_SECONDS)
                pipe.pexpire(self._limits_key, STATE_TTL_MS)
                pipe.zrange(self._limits_key, 0, -1)
                *_, members = await pipe.execute()
        except UNREACHABLE:
            raise
        except RedisError as exc:  # an ACL that keeps this key out: the comparison is advice only
            log.debug("the shared throttle cannot compare limits with other processes (%s)", type(exc).__name__)
            return
        others = sorted({m.decode() if isinstance(m, bytes) else str(m) for m in members} - {self._limits_text})
        if others:
            self._warn_once("limits", "another process shares this gateway key through Redis with other limits "
                            "(%s) than this one (%s): the key's shared state follows whichever last asked; "
                            "give every process the same limits", "; ".join(others), self._limits_text)

    # -- the Throttle protocol ----------------------------------------------------------------

    async def acquire(self) -> Ticket:
        """Wait for a lease in flight and a time slot from Redis, then for that slot to come."""
        if self._unlimited:
            self._unlimited_in_flight += 1
            return UNLIMITED
        if self._local is None and not self._reached:
            await self.open()
        if self._local is not None:
            return await self._local.acquire()
        lease = f"{self._token}:{next(self._counter)}"
        failures = 0
        while True:
            if self._client is None or self._loop is not asyncio.get_running_loop():
                await self._bind()
            if self._local is not None:  # another waiter gave up on Redis meanwhile
                return await self._local.acquire()
            assert self._acquire_script is not None
            assert self._listener is not None
            try:
                if self._lost:
                    await self._renew()
                reply = await self._run_acquire(self._acquire_script, lease)
            except UNREACHABLE as exc:
                failures += 1
                self._lost_redis(exc, failures)
                assert self._lost_since is not None
                if time.monotonic() - self._lost_since >= self._outage_timeout:
                    self._unreachable(exc, mid_run=True)  # raises, or falls back to a local throttle
                    continue
                await asyncio.sleep(backoff(failures))
                continue
            except RedisError as exc:  # Redis answered, with an error no wait will cure
                raise ThrottleUnavailableError(
                    f"the shared throttle's Redis refused its script: {type(exc).__name__}: {str(exc)[:200]}"
                ) from None
            failures, self._lost, self._lost_since = 0, False, None
            status, seconds, in_flight = int(reply[0]), float(reply[1]), int(reply[2])
            self._note_limits(reply[3], reply[4])
            if status == _FULL:
                await self._listener.wait(seconds)
            elif status == _SETTLING:
                await asyncio.sleep(seconds)
            else:
                break
        self._held.add(lease)
        self._start_renewer()
        try:
            if seconds > 0:
                await asyncio.sleep(seconds)
        except BaseException:
            await self._release(lease, 0, Outcome.NO_ANSWER)
            raise
        return _Lease(0.0, in_flight, lease)

    async def _run_acquire(self, script: AsyncScript, lease: str) -> list[bytes | str | int]:
        """The acquire script's reply; if the caller is cancelled meanwhile, a lease it granted
        all the same is given back as soon as the reply comes, rather than held until it expires."""
        call = asyncio.ensure_future(
            script(keys=self._key_names, args=[self._policy_args, lease, self._lease_text, int(self._lost),
                                               SETTLE_SECONDS])
        )
        try:
            reply: list[bytes | str | int] = await asyncio.shield(call)
        except asyncio.CancelledError:
            self._track(asyncio.ensure_future(self._give_back(call, lease)))
            raise
        return reply

    def _track(self, give_back: asyncio.Future[_T]) -> asyncio.Future[_T]:
        """A lease on its way back to Redis: closing waits for it."""
        self._undoing.add(give_back)
        give_back.add_done_callback(self._undoing.discard)
        return give_back

    async def _give_back(self, call: asyncio.Future[list[bytes | str | int]], lease: str) -> None:
        with contextlib.suppress(RedisError, OSError):  # an error here was the caller's, who is gone
            if int((await call)[0]) == _GRANTED:
                await self._release(lease, 0, Outcome.NO_ANSWER)

    async def release(self, ticket: Ticket, outcome: Outcome) -> None:
        """Give the lease back and let the shared policy learn from ``outcome``.

        The script runs to the end even if the caller is cancelled meanwhile; if Redis cannot be
        reached, the lease is dropped here and expires there (or went with a restart).
        """
        if ticket is UNLIMITED:
            self._unlimited_in_flight -= 1
            return
        if self._local is not None and not isinstance(ticket, _Lease):
            await self._local.release(ticket, outcome)
            return
        if outcome is Outcome.LIMITED:
            self._rate_limited += 1
        lease = ticket.lease if isinstance(ticket, _Lease) else ""
        learned = await asyncio.shield(
            self._track(asyncio.ensure_future(self._release(lease, ticket.in_flight, outcome))))
        if outcome is Outcome.LIMITED:
            log.info("rate limited (4008) with %d in flight on the key; shared throttle now %s",
                     ticket.in_flight if learned is None else learned, self.limits)

    async def _release(self, lease: str, in_flight: int, outcome: Outcome) -> int | None:
        """Give the lease back; the count in flight the policy learned from (``in_flight`` is the
        count when the lease was granted, used only if Redis holds no record of when it was sent)."""
        self._held.discard(lease)
        script = self._release_script
        if script is None:
            return None
        try:
            reply = await script(
                keys=self._key_names,
                args=[self._policy_args, lease, _OUTCOMES[outcome], in_flight, self._keys.channel],
            )
        except UNREACHABLE as exc:
            self._lost_redis(exc, 1)
            return None
        except RedisError as exc:
            if self._publish_refused:  # the script gave the lease back and learned, then could not PUBLISH
                self._wake_after_release()
                return None
            self._warn_once("release", "the shared throttle could not release a lease (%s: %s); it will expire",
                            type(exc).__name__, str(exc)[:200])
            return None
        self._lost_since = None
        self._note_limits(reply[0], reply[1])
        self._wake_after_release()
        return int(reply[2])

    def _wake_after_release(self) -> None:
        if self._listener is not None:
            self._listener.released()

    @property
    def limits(self) -> ThrottleLimits:
        """The shared rate and concurrency as this process last read them; ``in_flight`` and
        ``rate_limited`` count this process's own requests and 4008s."""
        if self._local is not None:
            return self._local.limits
        return ThrottleLimits(
            rate=self._rate,
            concurrency=self._concurrency,
            in_flight=len(self._held) + self._unlimited_in_flight,
            rate_ceiling=self._rate_ceiling,
            concurrency_ceiling=self._concurrency_ceiling,
            rate_limited=self._rate_limited,
        )

    # -- helpers ------------------------------------------------------------------------------

    def _note_limits(self, rate: bytes | str | int, concurrency: bytes | str | int) -> None:
        if self._rate_ceiling is not None:
            self._rate = float(rate)
        if self._concurrency_ceiling is not None:
            self._concurrency = int(concurrency)

    def _lost_redis(self, exc: BaseException, failures: int) -> None:
        """Redis went away mid-run: fail closed (callers wait) and re-seed when it is back."""
        if self._lost_since is None:
            self._lost_since = time.monotonic()
        if not self._lost:
            log.warning("the shared throttle lost Redis (%s); requests wait until it answers again, for up "
                        "to %g s (outage_timeout)", type(exc).__name__, self._outage_timeout)
        elif failures > 1:
            log.debug("Redis still unreachable (%s), %d attempts", type(exc).__name__, failures)
        self._lost = True

    async def _renew(self) -> None:
        """Push the expiry of every lease this process holds; put them back if Redis lost them."""
        held = list(self._held)
        if held and self._renew_script is not None:
            await self._renew_script(keys=[self._keys.leases], args=[repr(self._lease_seconds), *held])

    def _start_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_leases(), name="douyin-redis-leases")

    async def _renew_leases(self) -> None:
        """While this process holds leases, renew them every third of their lifetime."""
        failures = 0
        while self._held:
            await asyncio.sleep(backoff(failures) if failures else self._lease_seconds / 3)
            try:
                await self._renew()
            except UNREACHABLE as exc:
                failures += 1
                self._lost_redis(exc, failures)
                continue
            except RedisError as exc:
                self._warn_once("renew", "the shared throttle could not renew its leases (%s)", type(exc).__name__)
            else:
                self._lost_since = None
                if self._client is not None:
                    with contextlib.suppress(*UNREACHABLE):
                        await self._compare_limits(self._client)
            failures = 0


async def _stopped(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel ``tasks`` and wait until they have ended."""
    for task in tasks:
        if task is not None:
            task.cancel()
    for task in tasks:
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _number(value: float | None) -> str:
    return "None" if value is None else f"{float(value):g}"


def _shown(redis: object) -> str:
    """A Redis URL without its password, or the type of anything else."""
    if not isinstance(redis, str):
        return type(redis).__name__
    scheme, sep, rest = redis.partition("://")
    _, at, host = rest.rpartition("@")
    return CREDENTIAL_PARAMS(f"{scheme}{sep}{'***@' if at else ''}{host}") if sep else "***"
