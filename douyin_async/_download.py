"""Media downloads: streamed to ``NAME.part``, checked, then renamed; resumed with Range.

The final path only ever receives a complete, verified file (by an atomic rename), so a file
found there is complete and is skipped unless ``overwrite``. Media hosts are not the gateway:
downloads have their own concurrency, take no rate token and carry no key or secret.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._models import Video
from ._options import MediaOptions
from ._redact import Redactor
from ._retry import RetryPolicy
from ._transport import Request, Stream, Transport
from .errors import DownloadError, MediaContentError, MediaUnavailableError, TransportError

MEDIA_KINDS = ("video", "cover", "music")
"""What :meth:`DouyinClient.download` can fetch: the video, its cover image, its soundtrack."""
_SUFFIX = {"video": ".mp4", "cover": ".cover.jpg", "music": ".mp3"}
_GONE = frozenset({403, 404, 410})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_CHUNK = 256 * 1024

ByteCallback = Callable[[int], None]


def media_urls(video: Video, kind: str, watermark: bool) -> list[str]:
    """The URLs for one kind of media, preferred first (the other stream of a video second)."""
    if kind == "video":
        raw, marked = video.video.url_raw, video.video.url
        ordered = [marked, raw] if watermark else [raw, marked]
    elif kind == "cover":
        ordered = [video.video.pic_url]
    elif kind == "music":
        ordered = [video.music.url]
    else:
        raise ValueError(f"unknown media kind {kind!r}; kinds are {', '.join(MEDIA_KINDS)}")
    return list(dict.fromkeys(url for url in ordered if url))


def looks_like(kind: str, head: bytes) -> bool:
    """Whether the first bytes are the kind's format: an mp4 box, an mp3, a JPEG/PNG/WebP image."""
    if kind == "video":
        return head[4:8] == b"ftyp"
    if kind == "music":
        return head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    return head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n" or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    )


def _content_type(headers: Mapping[str, str]) -> str:
    return headers.get("Content-Type", "").partition(";")[0].strip().lower()


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _is_media_type(content_type: str) -> bool:
    return content_type.startswith(("video/", "audio/", "image/")) or content_type in (
        "application/octet-stream", "binary/octet-stream", "",
    )


def target_paths(item_id: str, dest: Path, kinds: Sequence[str]) -> dict[str, Path]:
    """Where each kind goes: ``dest`` is a directory unless it names one file for one kind."""
    as_file = len(kinds) == 1 and dest.suffix != "" and not dest.is_dir()
    if as_file:
        return {kinds[0]: dest}
    return {kind: dest / f"{item_id}{_SUFFIX[kind]}" for kind in kinds}


@dataclass
class _File:
    kind: str
    path: Path

    @property
    def part(self) -> Path:
        return self.path.with_name(self.path.name + ".part")


class Downloader:
    """Downloads for one client: one concurrency limit, one set of headers, one retry policy."""

    def __init__(self, transport: Transport, redact: Redactor, policy: RetryPolicy, options: MediaOptions) -> None:
        self._transport = transport
        self._redact = redact
        self._policy = policy
        self._slots = asyncio.Semaphore(options.concurrency)
        self._headers = dict(options.headers)
        self._read_timeout = options.read_timeout

    async def download(
        self,
        video: Video,
        dest: Path,
        *,
        kinds: Sequence[str],
        watermark: bool,
        overwrite: bool,
        refresh: Callable[[], Awaitable[Video]] | None,
        on_bytes: ByteCallback | None = None,
    ) -> list[Path]:
        for kind in kinds:
            media_urls(video, kind, watermark)  # rejects an unknown kind before any I/O
        paths = target_paths(video.num_iid, dest, kinds)
        written = []
        for kind, path in paths.items():
            written.append(await self._file(_File(kind, path), video, watermark, overwrite, refresh, on_bytes))
        return written

    async def _file(
        self,
        file: _File,
        video: Video,
        watermark: bool,
        overwrite: bool,
        refresh: Callable[[], Awaitable[Video]] | None,
        on_bytes: ByteCallback | None,
    ) -> Path:
        if file.path.exists() and not overwrite:
            return file.path
        file.path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite:
            file.part.unlink(missing_ok=True)
        urls = media_urls(video, file.kind, watermark)
        last: DownloadError = MediaUnavailableError(f"no {file.kind} URL for {video.num_iid}", path=str(file.path))
        for fresh in (False, True):
            if fresh:
                if refresh is None:
                    break
                urls = media_urls(await refresh(), file.kind, watermark)
            for url in urls:
                try:
                    await self._with_retries(file, url, on_bytes)
                    return file.path
                except MediaUnavailableError as exc:  # expired or refused: the next URL may work
                    last = exc
        raise last

    async def _with_retries(self, file: _File, url: str, on_bytes: ByteCallback | None) -> None:
        await self._policy.call(lambda: self._attempt(file, url, on_bytes), file.path.name)

    async def _attempt(self, file: _File, url: str, on_bytes: ByteCallback | None) -> None:
        failure: DownloadError
        shown = self._redact(url)
        try:
            async with self._slots:
                await self._stream(file, url, shown, on_bytes)
        except TransportError as exc:
            failure = DownloadError(f"media download failed ({exc}): {shown}", url=shown, retryable=exc.retryable)
        else:
            self._finish(file, shown)
            return
        raise failure

    async def _stream(self, file: _File, url: str, shown: str, on_bytes: ByteCallback | None) -> None:
        """One request: append to the .part file from where it stops (or from 0)."""
        offset = file.part.stat().st_size if file.part.exists() else 0
        headers = dict(self._headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = Request("GET", url, headers=headers, read_timeout=self._read_timeout, follow_redirects=True)
        async with self._transport.stream(request) as resp:
            offset, total = self._check_answer(file, resp, offset, shown)
            # Writes go straight to the page cache; a thread hop per chunk would cost more than the write.
            with open(file.part, "ab" if offset else "wb") as out:  # noqa: ASYNC230 (see above)
                async for chunk in resp.iter_chunks(_CHUNK):
                    out.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
        size = file.part.stat().st_size
        if total is not None and size != total:
            raise DownloadError(f"incomplete: {size} of {total} bytes from {shown}", url=shown, retryable=True)

    @staticmethod
    def _check_answer(file: _File, resp: Stream, offset: int, shown: str) -> tuple[int, int | None]:
        """Raise for an answer that is not this media file; else where its body starts, and the full size."""
        status = resp.status
        if status in _GONE:
            raise MediaUnavailableError(f"media host answered {status}: {shown}", url=shown)
        if status == 416 and offset:
            file.part.unlink()  # the part is not a prefix of this file: start again
            raise DownloadError(f"range not satisfiable, restarting: {shown}", url=shown, retryable=True)
        if status not in (200, 206):
            retryable = status == 429 or status >= 500
            raise DownloadError(f"media host answered {status}: {shown}", url=shown, retryable=retryable)
        content_type = _content_type(resp.headers)
        if not _is_media_type(content_type):
            raise MediaContentError(f"expected {file.kind} but got {content_type}: {shown}", url=shown)
        if status != 206:  # the host ignored Range (or there was none): the body is the whole file
            return 0, _content_length(resp.headers)
        match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
        total = int(match[3]) if match is not None and match[3] != "*" else None
        if match is None or int(match[1]) != offset:
            return 0, total  # not the range asked for: take the body as the whole file
        return offset, total

    def _finish(self, file: _File, shown: str) -> None:
        """Verify the whole .part file, then move it into place atomically."""
        with open(file.part, "rb") as part:
            head = part.read(16)
            os.fsync(part.fileno())
        if not looks_like(file.kind, head):
            file.part.unlink()
            raise MediaContentError(f"not a {file.kind} file (first bytes {head[:8]!r}): {shown}", url=shown)
        os.replace(file.part, file.path)
