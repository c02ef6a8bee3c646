"""The key and secret, held where no repr, str, log line or pickle can show them."""

from __future__ import annotations

from typing import NoReturn
from urllib.parse import urlencode

from ._redact import MASK


class Credentials:
    """A key and its secret. Shown as ``***``; refuses to be pickled or copied.

    They leave this object only as the query string written into a request URL, and to the
    client's redactor, which needs them to mask them.
    """

    __slots__ = ("_key", "_secret")

    def __init__(self, key: str, secret: str) -> None:
        self._key = key
        self._secret = secret

    @property
    def key(self) -> str:
        return self._key

    @property
    def secret(self) -> str:
        return self._secret

    def query(self) -> str:
        """``key=...&secret=...``, encoded, for the request URL."""
        return urlencode({"key": self._key, "secret": self._secret})

    def __repr__(self) -> str:
        return f"Credentials(key='{MASK}', secret='{MASK}')"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("Credentials are not pickled or copied: give each process its own key and secret")
