"""A cap on requests in flight whose limit can change while tasks wait for it."""

from __future__ import annotations

import asyncio


class ConcurrencyCap:
    """At most ``limit`` holders at once, ``limit`` adjustable between 1 and ``ceiling``.

    An ``asyncio.Semaphore`` of the ceiling's size does all the waiting (FIFO, safe under
    cancellation). A lower limit is enforced by parking permits: the cap keeps released permits,
    and takes free ones on the next acquire, until ``ceiling - limit`` are parked; a higher limit
    hands them back at once. It keeps no count of its holders: the throttle that holds it does.
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.limit = ceiling
        self._parked = 0
        self._semaphore = asyncio.Semaphore(ceiling)

    def _wants_parked(self) -> bool:
        return self._parked < self.ceiling - self.limit

    async def acquire(self) -> None:
        while True:
            await self._semaphore.acquire()
            if self._wants_parked():
                self._parked += 1
                continue
            return

    def release(self) -> None:
        if self._wants_parked():
            self._parked += 1
        else:
            self._semaphore.release()

    def set_limit(self, limit: int) -> None:
        self.limit = max(1, min(limit, self.ceiling))
        while self._parked > self.ceiling - self.limit:
            self._parked -= 1
            self._semaphore.release()
