"""Redaction of credentials wherever a URL or a server's text becomes a message."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

MASK = "***"
_SECRET_PARAMS = re.compile(r"(?i)\b(key|secret|api_key|apikey|token)=([^&\s#'\"<>]*)")


class Redactor:
    """Masks credential query parameters and every literal occurrence of the given secrets."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={MASK}", text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def excerpt(self, body: bytes, limit: int = 200) -> str:
        """A redacted, printable, truncated start of a response body."""
        return excerpt(body, self, limit)


def excerpt(body: bytes, redact: Callable[[str], str], limit: int = 200) -> str:
    """A redacted, printable start of ``body``, at most ``limit`` characters."""
    text = redact(body[: limit * 4].decode("utf-8", errors="replace"))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


CREDENTIAL_PARAMS = Redactor()
"""Masks credential query parameters only: for text that no client's secrets are known to."""
