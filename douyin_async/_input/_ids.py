"""Video ids: the syntax of one (``normalize_item_id``), and ids from what users paste: bare ids,
video and share URLs, share texts.

Inside a URL the id is read from the URL's known shapes only (so ``mid=`` and other numbers in the
query are never taken for the video). Outside URLs, a bare number counts as an id only when it
has 15 to 32 digits and stands alone (no ASCII letter or digit on either side): share texts are
full of short numbers (``7.92 复制打开抖音``) that are not videos; Douyin ids are 19 digits today.
A whole input that is nothing but 1 to 32 digits is an id whatever its length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from urllib.parse import parse_qs, urlsplit

from .._secrets import CREDENTIAL_PARAMS
from ..errors import InvalidParamError

DEFAULT_SHORT_LINK_HOSTS = ("v.douyin.com",)
"""Hosts whose links are short links, resolved to an id by following their redirects."""


def normalize_item_id(value: object, redact: Callable[[str], str] = CREDENTIAL_PARAMS) -> str:
    """``value`` as the gateway's ``item_id``: 1 to 32 ASCII digits, from a str or an int.

    Raises InvalidParamError (code 4003, never sent) for anything else; the message quotes the
    input through ``redact``, since pasted input can hold credentials.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if value >= 0 else ""
    else:
        raise InvalidParamError(
            f"item_id must be a str or int of 1-32 digits, not {type(value).__name__}",
            code="4003",
        )
    if not (0 < len(text) <= 32 and text.isascii() and text.isdigit()):  # [0-9]{1,32}, without a regex
        masked = redact(text)
        shown = masked if len(masked) <= 40 else masked[:40] + "…"
        raise InvalidParamError(
            f"invalid item_id {shown!r}: expected 1-32 ASCII digits", code="4003"
        )
    return text


_URL = re.compile(
    r"(?:https?://[^\s<>\"'，。！？、（）【】《》]+"
    r"|(?<![\w.-])(?:[a-z0-9-]+\.)*(?:ies)?douyin\.com/[^\s<>\"'，。！？、（）【】《》]*)",
    re.IGNORECASE,
)
"""Both of its shapes hold a ``/``: a text without one holds no URL, and is not searched (a list of a
million lines that hold no video is read at the speed of the lines, not of this pattern)."""
_PATH_ID = re.compile(r"/(?:share/)?(?:video|note|slides)/([0-9]{1,32})(?:[/?#]|$)")
_QUERY_KEYS = ("modal_id", "aweme_id", "item_id", "vid")
_BARE_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{15,32}(?![0-9A-Za-z])")
_DOUYIN_HOST = re.compile(r"(?:^|\.)(?:ies)?douyin\.com$")


def _id_from_url(url: str) -> str | None:
    """The video id in a Douyin video or share URL, or None."""
    try:
        parts = urlsplit(url if "://" in url else f"https://{url}")
    except ValueError:  # a stray bracket, or a host that does not survive NFKC: no Douyin URL
        return None
    host = (parts.hostname or "").lower()
    if not _DOUYIN_HOST.search(host):
        return None
    if found := _PATH_ID.search(parts.path):
        return found[1]
    query = parse_qs(parts.query)
    for key in _QUERY_KEYS:
        for value in query.get(key, []):
            if re.fullmatch(r"[0-9]{1,32}", value):
                return value
    return None


def _scan(text: str) -> list[tuple[int, str]]:
    """(position, id) for every id in ``text``: URL ids, then bare ids outside URLs."""
    found: list[tuple[int, str]] = []
    outside: list[str] = []
    last = 0
    for match in _URL.finditer(text) if "/" in text else ():
        if (item_id := _id_from_url(match[0])) is not None:
            found.append((match.start(), item_id))
        outside.append(text[last:match.start()] + " " * (match.end() - match.start()))
        last = match.end()
    outside.append(text[last:])
    rest = "".join(outside)
    found += [(m.start(), m[0]) for m in _BARE_ID.finditer(rest)]
    return sorted(found)


def extract_item_ids(text: str) -> list[str]:
    """Every video id in a blob of text, in order of appearance, each once.

    >>> extract_item_ids("看看 https://www.douyin.com/video/7092264344980868359 和 7092264344980868360")
    ['7092264344980868359', '7092264344980868360']
    """
    seen: dict[str, None] = {}
    for _, item_id in _scan(text):
        seen.setdefault(item_id, None)
    return list(seen)


def parse_item_id(text: object, redact: Callable[[str], str] = CREDENTIAL_PARAMS) -> str:
    """The one video id in ``text``: a bare id (str or int), a video URL, or a share text.

    Raises InvalidParamError saying why when there is no id, or more than one, or only a short
    link (which needs a network lookup: use ``await client.resolve_item_id(text)``). Input quoted
    in the message passes through ``redact`` first.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return normalize_item_id(text, redact)
    if not isinstance(text, str):
        raise InvalidParamError(
            f"expected an id or a URL as str or int, not {type(text).__name__}", code="4003"
        )
    stripped = text.strip()
    if stripped.isascii() and stripped.isdigit():
        return normalize_item_id(stripped, redact)
    ids = extract_item_ids(stripped)
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise InvalidParamError(f"found {len(ids)} video ids where one was expected: {', '.join(ids[:5])}",
                                code="4003")
    if find_short_link(stripped) is not None:
        raise InvalidParamError("a short link needs a lookup: use await client.resolve_item_id(text)",
                                code="4003")
    raise InvalidParamError(_no_id_message(redact(stripped)), code="4003")


def find_short_link(text: str, hosts: Collection[str] = DEFAULT_SHORT_LINK_HOSTS) -> str | None:
    """The first short link (``https://v.douyin.com/CODE/``) in ``text``, or None."""
    if "/" not in text:
        return None
    for match in _URL.finditer(text):
        url = match[0] if "://" in match[0] else f"https://{match[0]}"
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        if parts.netloc.lower() in hosts and parts.path.strip("/"):
            return url
    return None


def id_from_location(location: str) -> str | None:
    """The video id a redirect points at, if its target is a Douyin video URL."""
    return _id_from_url(location)


def _no_id_message(text: str) -> str:
    if not text:
        return "empty input: expected a video id or a Douyin URL"
    shown = text if len(text) <= 60 else text[:60] + "…"
    if re.fullmatch(r"[0-9]{33,}", text):
        return f"{len(text)} digits is too long for a video id (at most 32): {shown!r}"
    if re.search(r"\d", text) and not text.isascii():
        return f"no ASCII video id in {shown!r} (full-width or other non-ASCII digits are not ids)"
    return f"no video id in {shown!r}: expected an id, a douyin.com video URL or a share text"
