"""Option groups for the client's less common settings, each checked when it is made.

The keywords most people set stay on ``DouyinClient`` itself; the rest come in these groups,
as httpx groups ``Timeout`` and ``Limits``, so the constructor reads at a glance.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

from ._checks import check, check_count, check_positive
from ._input._ids import DEFAULT_SHORT_LINK_HOSTS

Sleep = Callable[[float], Awaitable[None]]
Jitter = Callable[[float, float], float]

BROWSER_HEADERS: Mapping[str, str] = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36"
    ),
    "Referer": "https://www.douyin.com/",
}


@dataclass(frozen=True)
class RetryOptions:
    """How retries behave beyond ``max_retries`` and the backoff bounds.

    ``rate_limit_retries``: 4008 answers allowed in a row before giving up; they do not use up
    ``max_retries``, because the throttle has already slowed down. ``retry_unknown_errors``
    retries 5000 and codes the contract does not list. ``sleep`` and ``jitter`` are injectable
    so that tests can record backoff without waiting.
    """

    rate_limit_retries: int = 20
    retry_unknown_errors: bool = False
    sleep: Sleep = asyncio.sleep
    jitter: Jitter = random.uniform

    def __post_init__(self) -> None:
        check_count("rate_limit_retries", self.rate_limit_retries, minimum=0)
        check("retry_unknown_errors", self.retry_unknown_errors, isinstance(self.retry_unknown_errors, bool),
              "True or False")
        check("sleep", self.sleep, callable(self.sleep), "an async function of seconds")
        check("jitter", self.jitter, callable(self.jitter), "a function (low, high) -> float")


@dataclass(frozen=True)
class ResponseOptions:
    """What the client accepts from the gateway: bodies up to ``max_body_size`` bytes, decompressed.

    A real envelope is a few KiB; a body past the limit (a proxy's page, a compression bomb, an
    endless stream) is refused as it arrives, before the rest is read into memory.
    """

    max_body_size: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        check_count("max_body_size", self.max_body_size, minimum=1024)


@dataclass(frozen=True)
class MediaOptions:
    """Media downloads: files at once, headers sent to the media host, and their limits.

    ``read_timeout`` bounds each read; ``stall_timeout`` and ``min_progress`` end a download
    that receives fewer than ``min_progress`` bytes in any ``stall_timeout`` seconds (a host
    trickling a byte at a time never trips the read timeout); ``max_size`` caps a file.
    """

    concurrency: int = 4
    headers: Mapping[str, str] = field(default_factory=lambda: dict(BROWSER_HEADERS))
    read_timeout: float = 60.0
    stall_timeout: float = 30.0
    min_progress: int = 16 * 1024
    max_size: int | None = 4 * 1024**3

    def __post_init__(self) -> None:
        check_count("media concurrency", self.concurrency, minimum=1)
        check("media headers", self.headers, isinstance(self.headers, Mapping)
              and all(isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()),
              "a mapping of header names to values, all str")
        check_positive("media read_timeout", self.read_timeout)
        check_positive("media stall_timeout", self.stall_timeout)
        check_count("media min_progress", self.min_progress, minimum=1)
        check_count("media max_size", self.max_size, minimum=1, optional=True)


@dataclass(frozen=True)
class ShortLinkOptions:
    """Short links (``https://v.douyin.com/CODE/``): hosts recognised, hops, timeout, lookups at once."""

    hosts: Collection[str] = DEFAULT_SHORT_LINK_HOSTS
    max_hops: int = 5
    timeout: float = 10.0
    concurrency: int = 4

    def __post_init__(self) -> None:
        check("short link hosts", self.hosts, not isinstance(self.hosts, str)
              and all(isinstance(host, str) and host for host in self.hosts), "a collection of host names (str)")
        check_count("short link max_hops", self.max_hops, minimum=1)
        check_positive("short link timeout", self.timeout)
        check_count("short link concurrency", self.concurrency, minimum=1)
