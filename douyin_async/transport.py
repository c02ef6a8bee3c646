"""The transport seam, for those who write their own: the protocol, its messages, and the two we ship.

The same names are importable from ``douyin_async``.
"""

from ._http._aiohttp import AiohttpTransport
from ._http._messages import Request, Response, Stream, Transport
from ._http._mock import MockTransport

__all__ = ["AiohttpTransport", "MockTransport", "Request", "Response", "Stream", "Transport"]
