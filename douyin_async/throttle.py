"""The throttle seam, for those who write their own: the protocol, its ticket and feedback, and the
in-process throttle. ``RedisThrottle`` lives in ``douyin_async.redis`` (the ``redis`` extra).

The same names are importable from ``douyin_async``.
"""

from ._throttle._adaptive import Ticket
from ._throttle._local import LocalThrottle
from ._throttle._protocol import Outcome, Throttle, ThrottleLimits

__all__ = ["LocalThrottle", "Outcome", "Throttle", "ThrottleLimits", "Ticket"]
