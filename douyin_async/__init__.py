"""douyin-async: an asyncio SDK for the gateway's Douyin ``item_get_video`` endpoint."""

from importlib import metadata as _metadata

from ._adaptive import Ticket
from ._batch import BatchIterator, BatchProgress, BatchResult
from ._billing import Charge
from ._client import DEFAULT_BASE_URL, DouyinClient
from ._decode import decode_item_get_video
from ._download import MEDIA_KINDS, DownloadResult
from ._ids import normalize_item_id
from ._models import ItemGetVideoResponse, ItemImage, Music, Video, VideoStreams
from ._options import MediaOptions, ResponseOptions, RetryOptions, ShortLinkOptions
from ._parse import DEFAULT_SHORT_LINK_HOSTS, extract_item_ids, find_short_link, parse_item_id
from ._quota import Quota
from ._redact import Redactor
from ._throttle import LocalThrottle, Outcome, Throttle, ThrottleLimits
from ._transport import AiohttpTransport, MockTransport, Request, Response, Stream, Transport
from .errors import (
    AccountDisabledError,
    ApiError,
    AuthError,
    BatchAbortedError,
    BatchStoppedError,
    BudgetExhaustedError,
    ClientClosedError,
    ConfigurationError,
    DouyinError,
    DownloadError,
    DownloadInProgressError,
    EndpointNotFoundError,
    HTTPStatusError,
    InsufficientBalanceError,
    InvalidParamError,
    InvalidSettingError,
    MaintenanceError,
    MalformedItemError,
    MalformedResponseError,
    MediaContentError,
    MediaStalledError,
    MediaTooLargeError,
    MediaUnavailableError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ServerError,
    ThrottleUnavailableError,
    TransportError,
    UnexpectedItemError,
)

try:
    __version__ = _metadata.version("douyin-async")
    """This package's version: pyproject.toml's, the one place it is written."""
except _metadata.PackageNotFoundError:  # pragma: no cover - imported from a source tree never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_SHORT_LINK_HOSTS",
    "MEDIA_KINDS",
    "AccountDisabledError",
    "AiohttpTransport",
    "ApiError",
    "AuthError",
    "BatchAbortedError",
    "BatchIterator",
    "BatchProgress",
    "BatchResult",
    "BatchStoppedError",
    "BudgetExhaustedError",
    "Charge",
    "ClientClosedError",
    "ConfigurationError",
    "DouyinClient",
    "DouyinError",
    "DownloadError",
    "DownloadInProgressError",
    "DownloadResult",
    "EndpointNotFoundError",
    "HTTPStatusError",
    "InsufficientBalanceError",
    "InvalidParamError",
    "InvalidSettingError",
    "ItemGetVideoResponse",
    "ItemImage",
    "LocalThrottle",
    "MaintenanceError",
    "MalformedItemError",
    "MalformedResponseError",
    "MediaContentError",
    "MediaOptions",
    "MediaStalledError",
    "MediaTooLargeError",
    "MediaUnavailableError",
    "MockTransport",
    "Music",
    "NotFoundError",
    "Outcome",
    "Quota",
    "QuotaExceededError",
    "RateLimitError",
    "Redactor",
    "Request",
    "RequestTimeoutError",
    "Response",
    "ResponseOptions",
    "ResponseTooLargeError",
    "RetryOptions",
    "ServerError",
    "ShortLinkOptions",
    "Stream",
    "Throttle",
    "ThrottleLimits",
    "ThrottleUnavailableError",
    "Ticket",
    "Transport",
    "TransportError",
    "UnexpectedItemError",
    "Video",
    "VideoStreams",
    "__version__",
    "decode_item_get_video",
    "extract_item_ids",
    "find_short_link",
    "normalize_item_id",
    "parse_item_id",
]
