"""douyin-async: an asyncio SDK for the gateway's Douyin ``item_get_video`` endpoint."""

from ._batch import BatchProgress, BatchResult
from ._client import DEFAULT_BASE_URL, DouyinClient
from ._ids import normalize_item_id
from ._models import ItemGetVideoResponse, ItemImage, Music, Quota, Video, VideoStreams
from ._parse import extract_item_ids, parse_item_id
from ._redact import Redactor
from ._throttle import ThrottleLimits
from .errors import (
    AccountDisabledError,
    ApiError,
    AuthError,
    BatchAbortedError,
    BudgetExhaustedError,
    ConfigurationError,
    DouyinError,
    DownloadError,
    HTTPStatusError,
    InsufficientBalanceError,
    InvalidParamError,
    MaintenanceError,
    MalformedResponseError,
    MediaContentError,
    MediaUnavailableError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnexpectedItemError,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "AccountDisabledError",
    "ApiError",
    "AuthError",
    "BatchAbortedError",
    "BatchProgress",
    "BatchResult",
    "BudgetExhaustedError",
    "ConfigurationError",
    "DouyinClient",
    "DouyinError",
    "DownloadError",
    "HTTPStatusError",
    "InsufficientBalanceError",
    "InvalidParamError",
    "ItemGetVideoResponse",
    "ItemImage",
    "MaintenanceError",
    "MalformedResponseError",
    "MediaContentError",
    "MediaUnavailableError",
    "Music",
    "NotFoundError",
    "Quota",
    "QuotaExceededError",
    "RateLimitError",
    "Redactor",
    "RequestTimeoutError",
    "ServerError",
    "ThrottleLimits",
    "TransportError",
    "UnexpectedItemError",
    "Video",
    "VideoStreams",
    "__version__",
    "extract_item_ids",
    "normalize_item_id",
    "parse_item_id",
]
