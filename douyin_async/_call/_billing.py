"""What one attempt may have cost: billed, possibly billed, or not billed."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ..errors import ApiError, DouyinError, TransportError
from ..events import ChargeName


class Charge(enum.Enum):
    """The billing of one attempt that was (or may have been) sent."""

    BILLED = "billed"
    """The gateway answered with a code it bills (0000, 2000)."""
    POSSIBLY_BILLED = "possibly_billed"
    """Sent, but no answer could be read: the gateway may have billed it."""
    NOT_BILLED = "not_billed"
    """Answered with a code the gateway does not bill, or never sent."""

    @property
    def label(self) -> ChargeName:
        """The charge's name in events and files: ``billed``, ``possibly_billed`` or ``not_billed``."""
        return self.value


def charge_of(failure: BaseException) -> Charge:
    """The charge of an attempt that failed with ``failure`` after it was sent."""
    if isinstance(failure, ApiError):
        return Charge.BILLED if failure.charged else Charge.NOT_BILLED
    if isinstance(failure, TransportError):
        return Charge.POSSIBLY_BILLED if failure.sent else Charge.NOT_BILLED
    if isinstance(failure, DouyinError):
        return Charge.NOT_BILLED
    return Charge.POSSIBLY_BILLED  # cancelled, or a bug of ours, while the request was out


def count_charges(charges: Iterable[Charge]) -> tuple[int, int]:
    """``(billed, possibly billed)`` among the charges of these attempts."""
    billed = possibly = 0
    for charge in charges:
        billed += charge is Charge.BILLED
        possibly += charge is Charge.POSSIBLY_BILLED
    return billed, possibly
