"""The key and secret: held where nothing can show them, and masked wherever a URL or a server's
text becomes a message.

``Credentials`` holds them; ``Redactor`` masks text and bodies; ``seal`` is the one boundary an error passes before it
leaves the client: every text it and its chain carry is masked, links that are not ours are cut,
and its traceback (whose frames may hold a URL or a body) is dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import msgspec

from .errors import DouyinError

MASK = "***"
_SECRET_PARAMS = re.compile(r"(?i)\b(key|secret|api_key|apikey|token|password|passwd|sslpassword)=([^&\s#'\"<>]*)")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)\S*@")
"""The ``user:password@`` of a URL (a Redis or proxy address), up to its last ``@``: a password
may hold ``@``, ``/`` or ``?`` that its owner did not escape."""


class Redactor:
    """Masks credential query parameters, the user and password of URLs, and every literal
    occurrence of the given secrets."""

    __slots__ = ("_literals", "_probes", "_secrets")

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        given = sorted({s for s in secrets if s}, key=len, reverse=True)
        # Longest first, so a secret containing another is masked whole.
        self._literals = given
        # A secret also travels URL-encoded (a server that echoes the query echoes that form),
        # and JSON-escaped in a body (PHP writes / as \/).
        self._secrets = sorted({form for s in given for form in _forms(s)}, key=len, reverse=True)
        # One search a secret in every body: its longest run of characters that no encoding
        # rewrites; only when it is there are its forms looked for.
        self._probes = [(_probe(s), sorted({f.encode() for f in _forms(s)}, key=len, reverse=True)) for s in given]

    def __call__(self, text: str) -> str:
        text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={MASK}", text)
        if "@" in text:
            text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def answer(self, body: bytes, charset: str | None = None) -> tuple[bytes, str | None]:
        """A response body with every form of the secrets masked, and the charset it is now in.

        A body with ``\\u`` escapes, or in a charset other than UTF-8, may spell a secret in a way
        no byte search finds: it is read as JSON and, when a text in it holds a secret, written
        again as UTF-8 with the secret masked. Anything that is not JSON is shown only through
        excerpts, which are masked as text.
        """
        # find(), not `in`: CPython's `in` first tries the needle as an int, and that failure costs
        # more than the search. The one-byte search goes first (most bodies hold no backslash), and
        # the two-byte one is a regex from there: bytes.find skips at most three bytes at a time.
        for probe, forms in self._probes:
            if body.find(probe) != -1:
                for form in forms:
                    body = body.replace(form, _MASK_BYTES)
        backslash = body.find(b"\\")
        escaped = backslash != -1 and _UNICODE_ESCAPE.search(body, backslash) is not None
        if not self._literals or (not escaped and (charset is None or charset.lower() in _UTF8)):
            return body, charset
        try:
            value = _JSON.decode(body.decode(charset or "utf-8"))
        except (ValueError, LookupError, RecursionError, msgspec.DecodeError):
            return body, charset
        masked = _masked(value, self._mask_literals)
        return (body, charset) if masked == value else (msgspec.json.encode(masked), None)

    def body(self, body: bytes) -> bytes:
        """``body`` (UTF-8) with every form of the secrets masked: a server that echoes them echoes nothing."""
        return self.answer(body)[0]

    def _mask_literals(self, text: str) -> str:
        for secret in self._literals:
            text = text.replace(secret, MASK)
        return text

    def excerpt(self, body: bytes, limit: int = 200) -> str:
        """A redacted, printable, truncated start of a response body."""
        return body_excerpt(body, self, limit)


def body_excerpt(body: bytes, redact: Callable[[str], str], limit: int = 200) -> str:
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
    error.args = _masked(error.args, redact)
    for name, value in vars(error).items():  # __notes__ (add_note) included
        masked = _masked(value, redact)
        if masked is not value:
            setattr(error, name, masked)


def _masked(value: Any, redact: Callable[[str], str], depth: int = 0) -> Any:
    """``value`` with every text in it masked: a str, bytes, or one inside lists, tuples, sets and
    dicts. Any other object whose repr shows a secret (a ``yarl.URL``, a ``SplitResult``, nesting
    too deep to walk) is replaced by its masked repr."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    kind = type(value)
    if isinstance(value, (bytes, bytearray)):
        text = value.decode("utf-8", "replace")
        masked_text = redact(text)
        return value if masked_text == text else kind(masked_text.encode())
    if depth <= 8 and kind in (list, tuple, set, frozenset):
        return kind(_masked(item, redact, depth + 1) for item in value)
    if depth <= 8 and kind is dict:
        return {_masked(key, redact, depth + 1): _masked(item, redact, depth + 1) for key, item in value.items()}
    try:
        shown = repr(value)
    except Exception:
        return "(an object that cannot be shown)"
    masked_repr = redact(shown)
    return value if masked_repr == shown else masked_repr


def _forms(secret: str) -> set[str]:
    """How a secret may appear: as is, URL-encoded, JSON-escaped (with ``/`` as ``\\/`` too)."""
    escaped = json.dumps(secret)[1:-1]
    return {secret, quote_plus(secret), quote(secret, safe=""), escaped, escaped.replace("/", "\\/")}


def _probe(secret: str) -> bytes:
    """The longest run of ``secret`` that URL-encoding and JSON-escaping leave as it is."""
    runs = re.findall(r"[A-Za-z0-9._~-]+", secret)
    longest = max(runs, key=len, default="")
    return longest.encode() if len(longest) >= 4 else b""  # b"" is in every body: every form is looked for


_MASK_BYTES = MASK.encode()
_UTF8 = frozenset({"utf-8", "utf8"})
_JSON = msgspec.json.Decoder()
_UNICODE_ESCAPE = re.compile(rb"\\u")


CREDENTIAL_PARAMS = Redactor()
"""Masks credential query parameters only: for text that no client's secrets are known to."""


def without_userinfo(url: str) -> str:
    """``url`` without the ``user:password@`` of its address: how events, log lines and spans name a host."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl() if "@" in parts.netloc else url


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
