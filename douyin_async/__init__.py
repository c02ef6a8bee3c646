"""douyin-async: an asyncio SDK for the gateway's Douyin ``item_get_video`` endpoint."""

from importlib import metadata as _metadata

from . import errors
from ._call._billing import Charge
from ._client import DEFAULT_BASE_URL, ENV_BASE_URL, ENV_KEY, ENV_SECRET, DouyinClient
from ._download import MEDIA_KINDS, DownloadResult
from ._fanout import BatchIterator, BatchProgress, BatchResult
from ._http._aiohttp import AiohttpTransport
from ._http._messages import Request, Response, Stream, Transport
from ._http._mock import MockTransport
from ._input._ids import DEFAULT_SHORT_LINK_HOSTS, extract_item_ids, find_short_link, normalize_item_id, parse_item_id
from ._ledger import Refetches, Usage
from ._logging import ENV_LOG, configure_from_env
from ._options import MediaOptions, ResponseOptions, RetryOptions, ShortLinkOptions
from ._secrets import Redactor
from ._throttle._adaptive import Ticket
from ._throttle._local import LocalThrottle
from ._throttle._protocol import Outcome, Throttle, ThrottleLimits
from ._wire._decode import decode_item_get_video
from ._wire._models import ItemGetVideoResponse, ItemImage, Music, Video, VideoStreams
from ._wire._quota import Quota
from .errors import *  # noqa: F403  (the error tree: its __all__ is the one list of its names)
from .events import AttemptEnded, AttemptStarted, CallEnded, Event, LimitsChanged, MediaFetched

try:
    __version__ = _metadata.version("douyin-async")
    """This package's version: pyproject.toml's, the one place it is written."""
except _metadata.PackageNotFoundError:  # pragma: no cover - imported from a source tree never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_SHORT_LINK_HOSTS",
    "ENV_BASE_URL",
    "ENV_KEY",
    "ENV_LOG",
    "ENV_SECRET",
    "MEDIA_KINDS",
    "AiohttpTransport",
    "AttemptEnded",
    "AttemptStarted",
    "BatchIterator",
    "BatchProgress",
    "BatchResult",
    "CallEnded",
    "Charge",
    "DouyinClient",
    "DownloadResult",
    "Event",
    "ItemGetVideoResponse",
    "ItemImage",
    "LimitsChanged",
    "LocalThrottle",
    "MediaFetched",
    "MediaOptions",
    "MockTransport",
    "Music",
    "Outcome",
    "Quota",
    "Redactor",
    "Refetches",
    "Request",
    "Response",
    "ResponseOptions",
    "RetryOptions",
    "ShortLinkOptions",
    "Stream",
    "Throttle",
    "ThrottleLimits",
    "Ticket",
    "Transport",
    "Usage",
    "Video",
    "VideoStreams",
    "__version__",
    "decode_item_get_video",
    "extract_item_ids",
    "find_short_link",
    "normalize_item_id",
    "parse_item_id",
]
__all__ += errors.__all__

configure_from_env()
