"""The one record of what requests cost, and the listeners told of each event.

A ledger counts every attempt sent (billed, possibly billed, not billed, refused, retries, media
refetches) and passes each record up to its parent: a batch's ledger to its client's. So the
client's ``usage``, a batch's progress, the numbers on an error and the command line's summary are
read from one record and cannot disagree. An event is built only when a listener hears its kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import msgspec

from ._call._billing import Charge
from ._checks import check
from .events import Event, Listener, kinds_heard

log = logging.getLogger("douyin_async")

_REFETCH_SLOT = {Charge.BILLED: 1, Charge.POSSIBLY_BILLED: 2, Charge.NOT_BILLED: 3}


class Refetches(msgspec.Struct, frozen=True, gc=False):
    """Gateway calls made to refresh expired media URLs, split like every call."""

    requests: int = 0
    billed: int = 0
    possibly_billed: int = 0
    not_billed: int = 0


class Usage(msgspec.Struct, frozen=True, gc=False):
    """What the client (or one batch) has sent and what it cost, as one snapshot."""

    requests: int = 0
    """Requests sent to the gateway, media URL refreshes included."""
    billed: int = 0
    """Answered with a code the gateway bills (0000, 2000)."""
    possibly_billed: int = 0
    """Sent, but no answer could be read: the gateway may have billed them."""
    not_billed: int = 0
    refused: int = 0
    """4008 answers: refused for the rate or for too many in flight (not billed)."""
    retries: int = 0
    """Requests that were a second or later attempt of their call."""
    refetches: Refetches = Refetches()
    """The share of the above that refreshed media URLs for downloads."""

    @property
    def charged(self) -> int:
        """Billed plus possibly billed: what a budget must count."""
        return self.billed + self.possibly_billed


class Ledger:
    """Counts of attempts by charge, passed up to ``parent``; the listeners of one scope."""

    __slots__ = ("_listeners", "billed", "heard", "not_billed", "parent", "possibly_billed", "refetch", "refused",
                 "requests", "retries")

    def __init__(self, parent: Ledger | None = None, listeners: Iterable[Listener] = ()) -> None:
        self.parent = parent
        self._listeners = tuple((listener, kinds_heard(listener)) for listener in listeners)
        own: frozenset[type[Event]] = frozenset().union(*(kinds for _, kinds in self._listeners))
        self.heard: frozenset[type[Event]] = own if parent is None else own | parent.heard
        """The kinds of event some listener here or above hears (no other is built), asked for each
        call: taken once, here. A listener detached since may leave its kinds in it: only a look is lost."""
        self.requests = self.billed = self.possibly_billed = self.not_billed = self.refused = self.retries = 0
        self.refetch = [0, 0, 0, 0]  # requests, billed, possibly billed, not billed

    def attempt(self, charge: Charge, *, refused: bool = False, retry: bool = False, refetch: bool = False) -> None:
        """One request was sent; ``charge`` is what it cost."""
        ledger: Ledger | None = self
        while ledger is not None:
            ledger.requests += 1
            if charge is Charge.BILLED:
                ledger.billed += 1
            elif charge is Charge.POSSIBLY_BILLED:
                ledger.possibly_billed += 1
            else:
                ledger.not_billed += 1
            ledger.refused += refused
            ledger.retries += retry
            if refetch:
                ledger.refetch[0] += 1
                ledger.refetch[_REFETCH_SLOT[charge]] += 1
            ledger = ledger.parent

    def emit(self, kind: type[Event], make: Callable[[], Event]) -> None:
        """Build the event of ``kind`` with ``make`` (only when someone hears it) and tell every
        listener of that kind, here and above."""
        event: Event | None = None
        ledger: Ledger | None = self
        while ledger is not None:
            for entry in ledger._listeners:  # a tuple: one detached meanwhile leaves the loop whole
                listener, heard = entry
                if kind not in heard:
                    continue
                if event is None:
                    event = make()
                try:
                    listener(event)
                except Exception as exc:  # a listener's bug never breaks a call: logged once, then detached
                    ledger._listeners = tuple(other for other in ledger._listeners if other is not entry)
                    # Its context is the failure the attempt was ending with, which may quote a request's
                    # URL (a caller's transport): the log shows the listener's error alone.
                    exc.__context__ = None
                    log.exception("event listener %r raised; it is detached", listener)
            ledger = ledger.parent

    def usage(self) -> Usage:
        """The counts now, as a frozen snapshot."""
        return Usage(
            requests=self.requests, billed=self.billed, possibly_billed=self.possibly_billed,
            not_billed=self.not_billed, refused=self.refused, retries=self.retries,
            refetches=Refetches(*self.refetch),
        )


def listeners_of(on_event: Listener | Iterable[Listener] | None) -> list[Listener]:
    """``on_event`` as a list: one callable, several, or none; anything else is refused."""
    if on_event is None:
        return []
    if callable(on_event):
        return [on_event]
    listeners = list(on_event) if isinstance(on_event, Iterable) and not isinstance(on_event, (str, bytes)) else None
    check("on_event", on_event, listeners is not None and all(map(callable, listeners)),
          "a callable of one event, a sequence of them, or None")
    assert listeners is not None
    return listeners
