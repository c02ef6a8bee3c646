"""Redaction of credentials wherever a URL or a server's text becomes a message.

``Redactor`` masks text and bodies; ``seal`` is the one boundary an error passes before it
leaves the client: every text it and its chain carry is masked, links that are not ours are cut,
and its traceback (whose frames may hold a URL or a body) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

from .errors import DouyinError

MASK = "***"
_SECRET_PARAMS = re.compile(r"(?i)\b(key|secret|api_key|apikey|token)=([^&\s#'\"<>]*)")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")
"""The ``user:password@`` of a URL (a Redis or proxy address)."""


class Redactor:
    """Masks credential query parameters, the user and password of URLs, and every literal
    occurrence of the given secrets."""

    __slots__ = ("_raw", "_secrets")

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        given = {s for s in secrets if s}
        # A secret also travels URL-encoded: a server that echoes the query echoes that form.
        forms = given | {quote_plus(s) for s in given} | {quote(s, safe="") for s in given}
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(forms, key=len, reverse=True)
        self._raw = [s.encode() for s in self._secrets]

    def __call__(self, text: str) -> str:
        text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={MASK}", text)
        if "@" in text:
            text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def body(self, body: bytes) -> bytes:
        """``body`` with every literal secret masked: a server that echoes them echoes nothing."""
        for secret in self._raw:
            if secret in body:
                body = body.replace(secret, MASK.encode())
        return body

    def excerpt(self, body: bytes, limit: int = 200) -> str:
        """A redacted, printable, truncated start of a response body."""
        return excerpt(body, self, limit)


def excerpt(body: bytes, redact: Callable[[str], str], limit: int = 200) -> str:
    """A redacted, printable start of ``body``, at most ``limit`` characters."""
    text = redact(body[: limit * 4].decode("utf-8", errors="replace"))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def seal(error: DouyinError, redact: Callable[[str], str]) -> DouyinError:
    """``error`` fit to leave the client: its texts and args masked, its traceback dropped, its
    ``__cause__``/``__context__`` chain kept only through errors of ours (sealed too).

    Error trackers record a traceback's frame locals; the frames below the boundary (a transport,
    the decoder) hold URLs and bodies, so they go.
    """
    todo: list[DouyinError] = [error]
    seen: set[int] = set()
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        _mask_texts(link, redact)
        link.__traceback__ = None
        if not isinstance(link.__cause__, DouyinError):
            link.__cause__ = None
        if not isinstance(link.__context__, DouyinError):
            link.__context__ = None
        todo += [e for e in (link.__cause__, link.__context__) if isinstance(e, DouyinError)]
    return error


def _mask_texts(error: DouyinError, redact: Callable[[str], str]) -> None:
    error.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in error.args)
    for name, value in vars(error).items():
        if isinstance(value, str):
            setattr(error, name, redact(value))


CREDENTIAL_PARAMS = Redactor()
"""Masks credential query parameters only: for text that no client's secrets are known to."""
