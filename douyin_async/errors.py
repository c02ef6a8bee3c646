"""Typed errors, and the one table that maps every gateway code to its behaviour.

    DouyinError                       root; every error this package raises
    ├── ApiError                      the gateway answered with a non-success error_code
    │   ├── NotFoundError             2000: no such video (charged)
    │   ├── UnexpectedItemError       0000 whose item is missing or is another video (charged)
    │   │   └── MalformedItemError    0000 whose item does not fit the model (charged; raw_item kept)
    │   ├── InvalidParamError         4003, 4014, 4015, and ids rejected before sending
    │   ├── AuthError                 4004, 4005 (fatal for the key)
    │   ├── AccountDisabledError      4006, 4007, 4012 (fatal for the key)
    │   ├── QuotaExceededError        4013 (fatal until the quota resets)
    │   ├── InsufficientBalanceError  4016 (fatal for the key)
    │   ├── RateLimitError            4008 (throttle adapts, then retried)
    │   ├── ServerError               4000, 4001, 4002, 4017 (retried)
    │   ├── MaintenanceError          4009 (retried after a long pause)
    │   └── ConfigurationError        4010 (wrong API name or path; fatal)
    ├── TransportError                no usable envelope: connection, timeout, HTTP status, body
    │   ├── RequestTimeoutError
    │   ├── HTTPStatusError
    │   │   └── EndpointNotFoundError no gateway at the base URL: a 404/405 page (not billed), fatal
    │   ├── MalformedResponseError    body is not the JSON envelope, in any charset
    │   ├── ThrottleUnavailableError  a shared throttle's store (Redis) cannot be reached (fatal)
    │   └── ResponseTooLargeError     body above ResponseOptions.max_body_size (possibly billed)
    ├── InvalidSettingError           a setting outside its allowed range (also a ValueError)
    ├── DownloadError                 a media file could not be downloaded
    │   ├── MediaUnavailableError     403/404/410 on every URL tried, or no URL for that kind
    │   ├── MediaContentError         the body is not the media (an HTML page, wrong magic bytes)
    │   ├── MediaTooLargeError        larger than MediaOptions.max_size, or than it announced
    │   ├── MediaStalledError         slower than MediaOptions.min_progress per stall_timeout
    │   └── DownloadInProgressError   another process is writing the same file
    ├── BudgetExhaustedError          a batch's own limit on charged calls or the key's quota
    ├── ClientClosedError             the client was closed before or during the call
    ├── BatchStoppedError             the caller stopped a batch (its ``stop`` event)
    └── BatchAbortedError             input not sent (again): the batch stopped (fatal error or caller)

Every message is built from redacted text: no key or secret ever reaches ``str(error)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from ._wire._quota import Quota

__all__ = [
    "CODES",
    "AccountDisabledError",
    "ApiError",
    "AuthError",
    "BatchAbortedError",
    "BatchStoppedError",
    "BudgetExhaustedError",
    "ClientClosedError",
    "CodeInfo",
    "ConfigurationError",
    "DouyinError",
    "DownloadError",
    "DownloadInProgressError",
    "EndpointNotFoundError",
    "ForeignStoreError",
    "HTTPStatusError",
    "InsufficientBalanceError",
    "InvalidParamError",
    "InvalidSettingError",
    "MaintenanceError",
    "MalformedItemError",
    "MalformedResponseError",
    "MediaContentError",
    "MediaStalledError",
    "MediaTooLargeError",
    "MediaUnavailableError",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "ServerError",
    "StorageError",
    "ThrottleUnavailableError",
    "TransportError",
    "UnexpectedItemError",
    "code_info",
    "error_for_code",
    "normalize_code",
]


class DouyinError(Exception):
    """Root of every error raised by douyin_async.

    ``retryable`` and ``fatal`` drive retries and batch stops; ``attempts`` counts the requests made.
    ``charged`` says whether the last answer was billed; over every attempt of the call,
    ``billed`` counts the answers billed and ``possibly_billed`` the requests sent whose answer
    could not be read (a reset, a timeout, a cut body), which the gateway may have billed.
    """

    retryable: bool = False
    fatal: bool = False
    charged: bool = False

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.billed = 0
        self.possibly_billed = 0

    @property
    def code(self) -> str | None:
        """The gateway code behind this error, when there is one."""
        return None

    def __str__(self) -> str:
        suffix = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.message}{suffix}"


class ApiError(DouyinError):
    """The gateway answered with an ``error_code`` other than success."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        reason: str = "",
        request_id: str = "",
        charged: bool | None = None,
        retryable: bool | None = None,
        fatal: bool | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, attempts=attempts)
        info = CODES.get(code, _UNKNOWN)
        self._code = code
        self.reason = reason
        self.request_id = request_id
        self.charged = info.charged if charged is None else charged
        self.retryable = info.retryable if retryable is None else retryable
        self.fatal = info.fatal if fatal is None else fatal
        self.quota: Quota | None = None

    @property
    def code(self) -> str:
        return self._code

    def __str__(self) -> str:
        parts = [f"[{self._code}] {self.message}"]
        if self.reason and self.reason != self.message:
            parts.append(f"reason={self.reason!r}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.attempts > 1:
            parts.append(f"attempts={self.attempts}")
        return " ".join(parts)


class NotFoundError(ApiError):
    """2000: the call succeeded and was billed, but the video does not exist."""


class UnexpectedItemError(ApiError):
    """0000 with no item, or with another video than the one asked for. Billed; not retried.

    ``raw_item`` is the ``item`` as the gateway sent it (JSON bytes; empty when there was none).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        raw_item: bytes = b"",
        reason: str = "",
        request_id: str = "",
        charged: bool | None = None,
        retryable: bool | None = None,
        fatal: bool | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(
            message, code=code, reason=reason, request_id=request_id, charged=charged,
            retryable=retryable, fatal=fatal, attempts=attempts,
        )
        self.raw_item = raw_item


class MalformedItemError(UnexpectedItemError):
    """0000 whose ``item`` does not fit the model even read the PHP way (a list for a title).

    The call was billed, and asking again would most likely bring the same item, so it is not
    retried; ``raw_item`` holds the item as sent, for a person or a later version to read.
    """


class InvalidParamError(ApiError):
    """The caller's input is wrong: 4003, 4014, 4015, or an id rejected before sending."""


class AuthError(ApiError):
    """4004 account not found, 4005 invalid credentials."""


class AccountDisabledError(ApiError):
    """4006 API stopped, 4007 account stopped, 4012 API not added to the account."""


class QuotaExceededError(ApiError):
    """4013: the key's call quota is spent until it resets."""


class InsufficientBalanceError(ApiError):
    """4016: the account is out of money."""


class RateLimitError(ApiError):
    """4008: too many requests or too many in flight for this key."""


class ServerError(ApiError):
    """4000, 4001, 4002, 4017: a transient fault on the gateway's side."""


class MaintenanceError(ApiError):
    """4009: the API is under maintenance; retried after a long pause."""


class ConfigurationError(ApiError):
    """4010: the gateway does not know this API: the base URL or path is wrong (fatal: every id
    would get the same answer)."""


class TransportError(DouyinError):
    """No usable envelope came back: connection failure, timeout, bad status or body.

    ``sent`` is False only when the request cannot have reached the API (no connection was made,
    or a page said no API lives at that address); otherwise the gateway may have answered, and
    billed, what we could not read.
    """

    retryable = True

    def __init__(self, message: str, *, retryable: bool = True, sent: bool = True, attempts: int = 0) -> None:
        super().__init__(message, attempts=attempts)
        self.retryable = retryable
        self.sent = sent


class RequestTimeoutError(TransportError):
    """An attempt took longer than the client's ``timeout``."""


class HTTPStatusError(TransportError):
    """The server answered with a status other than 200 and no envelope."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, retryable=status == 429 or status >= 500, attempts=attempts)
        self.status = status
        self.retry_after = retry_after


class EndpointNotFoundError(HTTPStatusError):
    """No gateway at the base URL: fatal, so a batch stops before it sends the same mistake for every id.

    A 404 or 405 page with no envelope never reached the API (the gateway answers an unknown API
    with its own 4010 envelope): not billed. Other answers without an envelope (an HTML 200, a
    redirect, a 403) from a host that never sent one say the same after the first few calls;
    those were sent to something, so they count as possibly billed (``sent`` is True).
    """

    fatal = True

    def __init__(self, message: str, *, status: int, reached: bool = False, attempts: int = 0) -> None:
        super().__init__(message, status=status, attempts=attempts)
        self.retryable = False
        self.sent = reached


class MalformedResponseError(TransportError):
    """The body is not the gateway's JSON envelope; ``excerpt`` holds its redacted start."""

    def __init__(self, message: str, *, excerpt: str = "", attempts: int = 0) -> None:
        super().__init__(message, attempts=attempts)
        self.excerpt = excerpt


class ThrottleUnavailableError(TransportError):
    """A throttle shared between processes cannot reach its store (Redis) when first needed,
    or has not reached it for its ``outage_timeout`` mid-run.

    Nothing was sent, and nothing can be until the store is back, so it is fatal: a batch stops.
    ``RedisThrottle(fallback="local")`` uses an in-process throttle instead.
    """

    fatal = True

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message, retryable=False, sent=False, attempts=attempts)


class ResponseTooLargeError(TransportError):
    """The body (decompressed) is larger than ``limit`` bytes; the rest was never read.

    The request was sent, so it counts as possibly billed, and it is not retried: the same
    answer would cost again and come back just as large.
    """

    def __init__(self, message: str, *, limit: int, attempts: int = 0) -> None:
        super().__init__(message, retryable=False, attempts=attempts)
        self.limit = limit


class InvalidSettingError(DouyinError, ValueError):
    """A client, throttle or option setting is outside its allowed range; raised at construction."""


class DownloadError(DouyinError):
    """A media download failed; ``url`` is the (redacted) URL, ``path`` the file it was for."""

    def __init__(self, message: str, *, url: str = "", path: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.path = path
        self.retryable = retryable


class MediaUnavailableError(DownloadError):
    """The media host refused every URL for this file (403, 404, 410), or there was none."""


class MediaContentError(DownloadError):
    """The body is not the expected media: an HTML error page, or bytes of another format."""


class MediaTooLargeError(DownloadError):
    """The media is larger than ``MediaOptions.max_size``, or sent more than its announced length."""


class MediaStalledError(DownloadError):
    """Fewer than ``MediaOptions.min_progress`` bytes came in ``stall_timeout`` seconds: a host
    trickling a byte at a time never trips the per-read timeout, so this ends it (retried)."""


class DownloadInProgressError(DownloadError):
    """Another process holds the lock on this file's ``.part``: it is downloading the same file."""


class BudgetExhaustedError(DouyinError):
    """A batch stopped itself before exceeding ``max_billed_calls`` or the key's daily quota."""

    fatal = True


class BatchStoppedError(DouyinError):
    """The caller stopped the batch (set its ``stop`` event): the cause of the inputs left unsent."""


class ClientClosedError(DouyinError):
    """The client was closed while the call was in flight, or before it began.

    Fatal, so a batch running when its client closes stops at once; a closed client is opened
    again only explicitly (``async with``, ``await client.open()``).
    """

    fatal = True


class StorageError(DouyinError):
    """A sink could not read or write its database (a full disk, a lock, a server gone).

    Fatal: a batch whose results cannot be kept must not go on paying for them. What was
    committed before stays, and a rerun continues from it. The message never holds a password.
    """

    fatal = True


class ForeignStoreError(StorageError):
    """The database or table given holds something other than douyin-async results: never altered."""


class BatchAbortedError(DouyinError):
    """The batch stopped (on a fatal error, or by the caller: ``cause``) before this input was sent.

    ``attempts == 0``: never sent. More: it was being retried when the batch stopped.
    """

    def __init__(self, cause: DouyinError, *, attempts: int = 0) -> None:
        why = "after fatal error" if cause.fatal else "by request"
        super().__init__(f"not attempted: batch stopped {why}: {cause}", attempts=attempts)
        self.cause = cause

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class CodeInfo:
    """What one gateway ``error_code`` means and how the client treats it."""

    code: str
    message: str
    reason: str
    error: type[ApiError] | None
    charged: bool
    retryable: bool
    fatal: bool


def _table(*rows: tuple[str, str, str, type[ApiError] | None, bool, bool, bool]) -> dict[str, CodeInfo]:
    return {row[0]: CodeInfo(*row) for row in rows}


# The single source of truth: code, message, reason (as the gateway sends them), class,
# charged, retryable, fatal-for-the-key.
CODES = MappingProxyType(_table(
    ("0000", "success", "接口调用成功并返回相关数据", None, True, False, False),
    ("2000", "Search success but no result", "没找到", NotFoundError, True, False, False),
    ("4000", "Server internal error", "服务器内部错误", ServerError, False, True, False),
    ("4001", "Network error", "网络错误", ServerError, False, True, False),
    ("4002", "Target server error", "目标服务器错误", ServerError, False, True, False),
    ("4003", "Param error", "用户输入参数错误", InvalidParamError, False, False, False),
    ("4004", "Account not found", "用户帐号不存在", AuthError, False, False, True),
    ("4005", "Invalid authentication credentials", "授权失败", AuthError, False, False, True),
    ("4006", "API stopped", "您的当前API已停用", AccountDisabledError, False, False, True),
    ("4007", "Account stopped", "您的账户已停用", AccountDisabledError, False, False, True),
    ("4008", "API rate limit exceeded", "并发已达上限", RateLimitError, False, True, False),
    ("4009", "API maintenance", "API维护中", MaintenanceError, False, True, False),
    ("4010", "API not found with these values", "API不存在", ConfigurationError, False, False, True),
    ("4012", "Please add api first", "请先添加api", AccountDisabledError, False, False, True),
    ("4013", "Number of calls exceeded", "调用次数超限", QuotaExceededError, False, False, True),
    ("4014", "Missing url param", "参数缺失", InvalidParamError, False, False, False),
    ("4015", "Wrong pageToken", "参数pageToken有误", InvalidParamError, False, False, False),
    ("4016", "Insufficient balance", "余额不足", InsufficientBalanceError, False, False, True),
    ("4017", "timeout error", "请求超时", ServerError, False, True, False),
    ("5000", "unknown error", "未知错误", ApiError, False, False, False),
))

SUCCESS = "0000"
_UNKNOWN = CODES["5000"]


_WHOLE_NUMBER = re.compile(r"([0-9]+)(?:\.0*)?")


def normalize_code(value: str | int | float) -> str:
    """The 4-digit form of an ``error_code``, however PHP sent it.

    ``0``, ``"0"``, ``0.0`` and ``" 0000 "`` all become ``"0000"``; ``4008.0`` and ``"4008.0"``
    become ``"4008"``. Anything else is returned stripped, as an unknown code.
    """
    text = str(value).strip()
    whole = _WHOLE_NUMBER.fullmatch(text)
    return whole[1].zfill(4) if whole else text


def code_info(code: str) -> CodeInfo | None:
    """The table row for ``code``, or None for a code the contract does not list."""
    return CODES.get(code)


def error_for_code(
    code: str,
    *,
    reason: str = "",
    request_id: str = "",
    retry_unknown: bool = False,
) -> ApiError:
    """The typed error for a non-success ``code``; unknown codes become a plain ``ApiError``."""
    info = CODES.get(code)
    if info is None or info.error is None:
        return ApiError(
            f"unknown gateway code {code}",
            code=code,
            reason=reason,
            request_id=request_id,
            charged=False,
            retryable=retry_unknown,
            fatal=False,
        )
    retryable = info.retryable or (retry_unknown and code == "5000")
    error = next((kind for code_, words, kind in _REASONS if code_ == code and words in reason), info.error)
    return error(info.message, code=code, reason=reason, request_id=request_id, retryable=retryable)


# Codes the gateway also sends for another cause, told apart by their reason: 4005 comes with
# ``Key[…]已超量`` when the quota is spent and ``…请开通接口`` when the API is not enabled for the key.
# The code's row still says what it costs and whether it stops a batch; the class says why.
_REASONS: tuple[tuple[str, str, type[ApiError]], ...] = (
    ("4005", "已超量", QuotaExceededError),
    ("4005", "请开通接口", AccountDisabledError),
)
