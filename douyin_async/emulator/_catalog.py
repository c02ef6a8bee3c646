"""The emulator's data: the seed's example video, and videos derived from any other id.

Nothing is stored: an id's video (or its absence) and its media bytes are pure functions of the
id, so the same id gives the same answer across runs and processes, and a million ids cost nothing.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SEED_ITEM_ID = "7092264344980868359"

SEED_ITEM: dict[str, Any] = {
    "num_iid": "7092264344980868359",
    "detail_url": "https://www.iesdouyin.com/share/video/7092264344980868359/?region=&mid=7090863251021515533&u_code=0&did=MS4wLjABAAAANwkJuWIRFOzg5uCpDRpMj4OX-QryoDgn-yYlXQnRwQQ&iid=MS4wLjABAAAANwkJuWIRFOzg5uCpDRpMj4OX-QryoDgn-yYlXQnRwQQ&with_sec_did=1&titleType=title",
    "title": "修以美好,与君相遇#就算无人欣赏也要独自芬芳",
    "type": "video",
    "nick": "花草日记 🪴 麦麦",
    "signature": "🐌不谈悲喜、只闻花香\n\n🐌手机随拍、装点生活",
    "uid": "5698411035",
    "short_id": "969898359",
    "video": {
        "url": "https://aweme.snssdk.com/aweme/v1/playwm/?video_id=v0200fg10000c9mcherc77ufa73socn0&ratio=720p&line=0",
        "url_raw": "https://aweme.snssdk.com/aweme/v1/play/?video_id=v0200fg10000c9mcherc77ufa73socn0&ratio=720p&line=0",
        "pic_url": "https://p6-sign.douyinpic.com/tos-cn-p-0015/871cb3034d9b4073bd2aa8960bff93fd~c5_300x400.jpeg?x-expires=1657267200&x-signature=B51pWtm1i1Mljef8gNaulIXDdgk%3D&from=4257465056_large&s=PackSourceEnum_DOUYIN_REFLOW&se=false&sc=cover&l=202206241654240102080650503702D0F0",
    },
    "music": {
        "title": "@若然若创作的原声一若然若",
        "nick": "若然若",
        "url": "https://sf6-cdn-tos.douyinstatic.com/obj/ies-music/7090863247943109407.mp3",
        "pic_url": "https://p3.douyinpic.com/aweme/1080x1080/aweme-avatar/tos-cn-avt-0015_1e7c8177679e3c9b4743da4968714762.jpeg?from=116350172",
    },
    "item_imgs": [],
}

SEED_SUCCESS: dict[str, Any] = {
    "item": SEED_ITEM, "error": "", "reason": "", "error_code": "0000", "cache": 0,
    "api_info": "today:60 max:10100 all[110=60+19+31];expires:2030-12-31",
    "execution_time": "0.237", "server_time": "Beijing/2022-06-24 16:54:24",
    "client_ip": "106.6.39.153", "call_args": [], "api_type": "douyin",
    "translate_language": "zh-CN", "translate_engine": "google_new", "server_memory": "3.04MB",
    "request_id": "1.62b57bc005cc9", "last_id": "1038207645",
}
"""The seed document's success example, verbatim."""

SEED_ERROR: dict[str, Any] = {
    "error": "item-not-found", "reason": "没找到", "error_code": "2000", "success": 0, "cache": 0,
    "api_info": "today:0 max:10000", "execution_time": 0.081,
    "server_time": "Beijing/2020-06-10 23:44:00", "call_args": [], "api_type": "douyin",
    "request_id": "1ee0ffc041242",
}
"""The seed document's error example, verbatim."""


def _path(url: str) -> str:
    return urlsplit(url).path


SEED_MEDIA: dict[str, tuple[str, bool]] = {
    _path(SEED_ITEM["video"]["url"]): ("video", True),
    _path(SEED_ITEM["video"]["url_raw"]): ("video", False),
    _path(SEED_ITEM["video"]["pic_url"]): ("cover", False),
    _path(SEED_ITEM["music"]["url"]): ("music", False),
    _path(SEED_ITEM["music"]["pic_url"]): ("avatar", False),
}
"""The seed's media paths, served by a self-contained emulator: (media kind, watermarked)."""

_WORDS = {
    "cn": ["花草", "日记", "美食", "旅行", "猫咪", "日落", "城市", "音乐", "舞蹈", "海边", "春天", "咖啡"],
    "en": ["flowers", "diary", "food", "travel", "cat", "sunset", "city", "music", "dance", "seaside",
           "spring", "coffee"],
    "ru": ["цветы", "дневник", "еда", "путешествие", "кошка", "закат", "город", "музыка", "танец",
           "море", "весна", "кофе"],
}
_AUTHOR = {"cn": "创作者", "en": "creator", "ru": "автор"}
_SOUND = {"cn": "原声", "en": "original sound", "ru": "оригинальный звук"}

# The seed item's text fields in the languages the emulator translates to.
_SEED_TEXT = {
    "en": {
        "title": "Cultivate beauty, to meet you #Bloom alone even if no one admires you",
        "nick": "Flower Diary 🪴 Maimai",
        "signature": "🐌No talk of joy or sorrow, only the scent of flowers\n\n🐌Phone snapshots to brighten life",
        "music.title": "@Ruoranruo's original sound - Ruoranruo",
        "music.nick": "Ruoranruo",
    },
    "ru": {
        "title": "Взращивать прекрасное, чтобы встретить тебя #Цвести, даже если никто не любуется",
        "nick": "Дневник цветов 🪴 Маймай",
        "signature": "🐌Ни радостей, ни печалей, только аромат цветов\n\n🐌Снимки на телефон, украшающие жизнь",
        "music.title": "@Оригинальный звук от Жожаньжо - Жожаньжо",
        "music.nick": "Жожаньжо",
    },
}

# The gateway's language codes: 2-3 letters, optionally a region (CN, TW, BR), a UN M.49 area
# (419) or a script (Hans), after "-" or "_". Anything else is a parameter error.
_LANG = re.compile(r"[A-Za-z]{2,3}(?:[-_](?:[A-Za-z]{2}|[0-9]{3}|[A-Za-z]{4}))?")
DEFAULT_LANG = "cn"


def valid_lang(lang: str) -> bool:
    """Whether ``lang`` has the shape of a language code the gateway accepts."""
    return _LANG.fullmatch(lang) is not None


def text_language(lang: str) -> str:
    """The language the emulator writes text fields in for ``lang``: ``en``, ``ru`` or ``cn``.

    ``cn``, ``zh`` and every ``zh-*`` are Chinese; any language the emulator cannot translate
    to (``ko``, ``ja``, ``pt-BR`` ...) gets the text as is, which is Chinese too.
    """
    primary = re.split(r"[-_]", lang, maxsplit=1)[0].lower()
    return primary if primary in _SEED_TEXT else DEFAULT_LANG

MEDIA_TYPES = {
    "video": ("mp4", "video/mp4"),
    "cover": ("jpg", "image/jpeg"),
    "music": ("mp3", "audio/mpeg"),
    "avatar": ("jpg", "image/jpeg"),
}
_MAGIC = {
    "mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
    "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
}


def _digest(item_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big")


def exists(item_id: str, found_ratio: float) -> bool:
    """Whether ``item_id`` holds a video: the seed's id always, others by a stable hash."""
    if item_id == SEED_ITEM_ID:
        return True
    return (_digest(item_id) % 10_000) < found_ratio * 10_000


def _seed_item(lang: str) -> dict[str, Any]:
    """The seed's video with its text fields in ``lang`` (``cn``: the seed verbatim)."""
    if lang == DEFAULT_LANG:
        return SEED_ITEM
    text = _SEED_TEXT[lang]
    return {
        **SEED_ITEM,
        "title": text["title"],
        "nick": text["nick"],
        "signature": text["signature"],
        "music": {**SEED_ITEM["music"], "title": text["music.title"], "nick": text["music.nick"]},
    }


def item(item_id: str, media_base: str, lang: str = DEFAULT_LANG) -> dict[str, Any]:
    """The video for an existing ``item_id``, text in ``lang``; media URLs point at ``media_base``."""
    lang = text_language(lang)
    if item_id == SEED_ITEM_ID:
        return _seed_item(lang)
    rng = random.Random(_digest(item_id))
    words = _WORDS[lang]
    title = " ".join(rng.choice(words) for _ in range(3)) + f" #{rng.choice(words)}"
    uid = str(rng.randrange(10**9, 10**10))
    author = f"{_AUTHOR[lang]} {uid[-4:]}"
    media = f"{media_base}/media"
    return {
        "num_iid": item_id,
        "detail_url": f"https://www.iesdouyin.com/share/video/{item_id}/?region=&titleType=title",
        "title": title,
        "type": "video",
        "nick": author,
        "signature": " ".join(rng.choice(words) for _ in range(2)),
        "uid": uid,
        "short_id": str(rng.randrange(10**8, 10**9)),
        "video": {
            "url": f"{media}/video/{item_id}.mp4?watermark=1",
            "url_raw": f"{media}/video/{item_id}.mp4",
            "pic_url": f"{media}/cover/{item_id}.jpg",
        },
        "music": {
            "title": f"@{author} {_SOUND[lang]}",
            "nick": author,
            "url": f"{media}/music/{item_id}.mp3",
            "pic_url": f"{media}/avatar/{item_id}.jpg",
        },
        "item_imgs": [],
    }


def rehosted(value: Any, origin: str) -> Any:
    """``value`` with every http(s) URL in it moved to ``origin``, path and query kept.

    What a self-contained emulator serves: the seed's media and share URLs keep their shape
    (``/aweme/v1/play/?video_id=...``), and the emulator answers those paths itself.
    """
    if isinstance(value, dict):
        return {name: rehosted(inner, origin) for name, inner in value.items()}
    if isinstance(value, list):
        return [rehosted(inner, origin) for inner in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        return origin + urlunsplit(("", "", parts.path, parts.query, parts.fragment))
    return value


def media_bytes(kind: str, item_id: str, size: int, watermark: bool = False) -> bytes:
    """Deterministic bytes for one media file, starting with its format's magic."""
    ext, _ = MEDIA_TYPES[kind]
    magic = _MAGIC[ext]
    rng = random.Random(f"{kind}:{item_id}:{int(watermark)}")
    return magic + rng.randbytes(max(size - len(magic), 0))


_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def short_code(item_id: str) -> str:
    """The short-link code for ``item_id`` (base 62 of the id, reversible)."""
    number, out = int(item_id), []
    while True:
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
        if number == 0:
            return "".join(reversed(out))


def item_id_from_short_code(code: str) -> str | None:
    number = 0
    for char in code:
        index = _ALPHABET.find(char)
        if index < 0:
            return None
        number = number * 62 + index
    return str(number) if 0 < len(str(number)) <= 32 else None
