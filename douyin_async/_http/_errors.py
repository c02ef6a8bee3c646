"""The one place a transport's exceptions become our typed, redacted errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from ..errors import RequestTimeoutError, ResponseTooLargeError, TransportError
from ._messages import Request

Redact = Callable[[str], str]
# Python 3.10's asyncio.TimeoutError is not the builtin TimeoutError (they merged in 3.11).
TIMEOUTS = (TimeoutError, asyncio.TimeoutError)
FAILURES = (*TIMEOUTS, aiohttp.ClientError)


def transport_error(exc: BaseException, request: Request, redact: Redact) -> TransportError:
    """aiohttp's exception for ``request`` as our typed error; every text in it is redacted."""
    if isinstance(exc, TIMEOUTS):
        limit = request.timeout if request.timeout is not None else request.read_timeout
        return RequestTimeoutError(f"no complete response within {limit}s")
    if isinstance(exc, aiohttp.InvalidURL):
        return TransportError(f"invalid URL: {redact(str(exc))}", retryable=False, sent=False)
    # No connection, no request: nothing can have been billed.
    sent = not isinstance(exc, aiohttp.ClientConnectorError)
    return TransportError(f"{type(exc).__name__}: {redact(text_of(exc))}", sent=sent)


def foreign_error(exc: Exception, request: Request, redact: Redact) -> TransportError:
    """An exception not of ours from a transport of the caller's, as our typed, redacted error.

    Timeouts, connection failures and aiohttp's errors map as the default transport's do; anything
    else is that transport's bug: not retried, since the request may have gone out and been billed.
    """
    if isinstance(exc, FAILURES):
        return transport_error(exc, request, redact)
    if isinstance(exc, OSError):
        return TransportError(f"{type(exc).__name__}: {redact(text_of(exc))}",
                              sent=not isinstance(exc, ConnectionRefusedError))
    return TransportError(f"the transport raised {type(exc).__name__}: {redact(text_of(exc))}", retryable=False)


def text_of(exc: BaseException) -> str:
    """``str(exc)``, or a word on why there is none: an exception of someone else's may fail even that."""
    try:
        return str(exc)
    except Exception:
        return "(its text cannot be read)"


def too_large(limit: int) -> ResponseTooLargeError:
    """The error for a body past ``limit`` bytes (one wording for every transport)."""
    return ResponseTooLargeError(f"response body larger than {limit} bytes (max_body_size)", limit=limit)
