"""One in-process throttle per key, gateway and limits: clients made alike share it."""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from collections.abc import Sequence

from .._checks import check_limits
from ._local import LocalThrottle

log = logging.getLogger("douyin_async")

_SHARED: weakref.WeakValueDictionary[tuple[object, ...], LocalThrottle] = weakref.WeakValueDictionary()


def shared_throttle(
    key: str, base_urls: Sequence[str], rate_limit: float | None, max_concurrency: int | None
) -> LocalThrottle:
    """The throttle of every client in this process (and thread) with this key, gateway and limits.

    The gateway counts a key's requests whoever sends them: six clients each given the key's
    full limits would together send six times too many. Clients made alike share one throttle
    for as long as any of them lives (weakly held); a client given ``throttle=`` has its own.
    The key is held only as a digest.
    """
    check_limits(rate_limit, max_concurrency)
    digest = hashlib.sha256(key.encode()).hexdigest()
    hosts = tuple(sorted(base_urls))
    slot = (digest, hosts, threading.get_ident(), rate_limit, max_concurrency)
    name = slot[:3]
    throttle = _SHARED.get(slot)
    if throttle is None:
        others = [t for k, t in list(_SHARED.items()) if k[:3] == name]
        if others:
            log.warning(
                "another client with this key uses other limits (%s); their requests add up at the gateway: "
                "give every client of a key the same limits, or one throttle (throttle=)", others[0].limits,
            )
        throttle = _SHARED[slot] = LocalThrottle(rate_limit, max_concurrency)
    return throttle
