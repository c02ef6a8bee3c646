"""What the client did, one frozen event at a time: every attempt, call, limit change and media fetch.

Pass a listener (or several) as ``DouyinClient(on_event=...)``, or to one batch as
``iter_videos(..., on_event=...)``. Listeners are called synchronously, in the task that made the
attempt, so a caller's tracing context is current; one that raises is logged and detached. With
no listener, no event is built.

>>> def show(event: Event) -> None:
...     if isinstance(event, AttemptEnded):
...         print(event.item_id, event.code, event.charge, f"{event.duration:.3f}s")
>>> client = DouyinClient(on_event=show)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import msgspec

ChargeName = Literal["billed", "possibly_billed", "not_billed"]


class AttemptStarted(msgspec.Struct, frozen=True, gc=False):
    """A request is about to go to the gateway (it has its throttle slot)."""

    item_id: str
    attempt: int
    host: str
    waited: float
    """Seconds it waited in the throttle."""


class AttemptEnded(msgspec.Struct, frozen=True, gc=False):
    """One request to the gateway, answered or not."""

    item_id: str
    attempt: int
    """1 for a call's first attempt, 2 for its first retry, and so on."""
    host: str
    """The base URL the attempt went to, without credentials (no query, no ``user:password@``)."""
    status: int | None
    """The HTTP status, or None when no response came."""
    code: str | None
    """The gateway's code ("0000", "4008", ...), or None when no envelope was read."""
    error: str | None
    """The error's class name, or None for a success."""
    charge: ChargeName
    request_id: str | None
    """The gateway's ``request_id``: what its bill lists, for reconciling."""
    waited: float
    """Seconds in the throttle before the request went."""
    duration: float
    """Seconds from sending to the answer or the failure."""
    started_at: float
    """Wall-clock time (``time.time()``) the request went."""


class CallEnded(msgspec.Struct, frozen=True, gc=False):
    """One ``item_get_video`` call, over all its attempts."""

    item_id: str
    attempts: int
    billed: int
    possibly_billed: int
    ok: bool
    error: str | None
    """The class name of the error the call ended with, or None."""
    started_at: float
    """Wall-clock time (``time.time()``) the call began."""
    duration: float
    """Seconds from its start to its end, throttle waits and retry backoffs included."""


class LimitsChanged(msgspec.Struct, frozen=True, gc=False):
    """The throttle moved its limits (after a 4008, or probing back up)."""

    rate_limit: float | None
    max_concurrency: int | None
    reason: str
    """``refused`` after a 4008, ``probe`` when it raised them again."""


class MediaFetched(msgspec.Struct, frozen=True, gc=False):
    """One media file downloaded (or found whole on disk)."""

    item_id: str
    kind: str
    """``video``, ``cover`` or ``music``."""
    bytes: int
    """Bytes received for it (0 when it was already on disk)."""
    refreshed: bool
    """Whether a gateway call was made to refresh its URL (a billed call, like any other)."""
    charge: ChargeName | None
    """That call's charge, or None when none was made."""


Event = AttemptStarted | AttemptEnded | CallEnded | LimitsChanged | MediaFetched
"""Any of the events."""

Listener = Callable[[Event], object]
"""What ``on_event`` takes: a callable of one event (its result is ignored)."""

EVENTS: tuple[type[Event], ...] = (AttemptStarted, AttemptEnded, CallEnded, LimitsChanged, MediaFetched)
"""Every kind of event."""
ALL_EVENTS = frozenset(EVENTS)

_KINDS = "__douyin_async_events__"
"""The attribute ``listens_to`` sets on a listener."""

L = TypeVar("L", bound=Callable[..., object])


def listens_to(*kinds: type[Event]) -> Callable[[L], L]:
    """Mark a listener as hearing only events of ``kinds``: the client builds no other event for it.

    Building an event costs a request a few microseconds; a listener that wants one kind saves the
    others'. Mark a function, or a method where it is defined (a bound method takes its mark).
    """
    unknown = [kind for kind in kinds if kind not in EVENTS]
    if unknown or not kinds:
        raise TypeError(f"listens_to{kinds!r}: give one or more of {', '.join(kind.__name__ for kind in EVENTS)}")

    def mark(listener: L) -> L:
        try:
            setattr(listener, _KINDS, frozenset(kinds))
        except AttributeError:
            raise TypeError(f"listens_to: {listener!r} takes no mark; wrap it in a function of your own") from None
        return listener

    return mark


def kinds_heard(listener: Listener) -> frozenset[type[Event]]:
    """The kinds of event ``listener`` hears: those ``listens_to`` marked it with, else all."""
    try:
        kinds = getattr(listener, _KINDS, None)
    except Exception:  # a proxy that answers every attribute its own way
        kinds = None
    return kinds if isinstance(kinds, frozenset) and kinds <= ALL_EVENTS and kinds else ALL_EVENTS


__all__ = [
    "EVENTS", "AttemptEnded", "AttemptStarted", "CallEnded", "ChargeName", "Event", "LimitsChanged", "Listener",
    "MediaFetched", "kinds_heard", "listens_to",
]
