"""Media downloads: streamed to ``NAME.part``, checked, then renamed; resumed with Range.

The final path only ever receives a complete, verified file (by an atomic rename), so a file
found there is complete and is skipped unless ``overwrite``. Media hosts are not the gateway:
downloads have their own concurrency, take no rate token and carry no key or secret.

A ``.part`` is only ever continued from the URL that wrote it and while the host proves the file
is unchanged: ``NAME.part.meta`` records a digest of that URL, the host's strong validator (a
strong ETag, or a Last-Modified old enough to be strong) and the file's size; the validator goes
back as ``If-Range``, and a ``206`` is taken only when it names the same validator and the same
total. Anything else starts the ``.part`` again from zero, so two streams are never spliced. One
download per file at a time: callers in one process wait for the one in flight, another process
meets a lock on the ``.part`` (``flock``, where there is one). No file is ever written through a
symlink: the ``.part`` is opened with ``O_NOFOLLOW``, the meta is written to a new file of a
random name and renamed into place, and the final file arrives by an atomic rename.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from ._call._billing import Charge, count_charges
from ._call._retry import RetryPolicy
from ._http._errors import TIMEOUTS, foreign_error
from ._http._messages import Request, Stream, Transport
from ._input._ids import normalize_item_id
from ._lifecycle import time_limit
from ._locks import open_locked
from ._options import MediaOptions
from ._secrets import Redactor
from ._wire._models import Video
from .errors import (
    DouyinError,
    DownloadError,
    DownloadInProgressError,
    MediaContentError,
    MediaStalledError,
    MediaTooLargeError,
    MediaUnavailableError,
    TransportError,
)

MEDIA_KINDS = ("video", "cover", "music")
"""What ``DouyinClient.download`` can fetch: the video, its cover image, its soundtrack."""
_SUFFIX = {"video": ".mp4", "cover": ".cover.jpg", "music": ".mp3"}
# A ``dest`` names one file only with a suffix of its kind; any other name is a directory.
_FILE_SUFFIXES = {
    "video": (".mp4", ".m4v", ".mov"),
    "cover": (".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".heic", ".heif"),
    "music": (".mp3", ".m4a", ".aac"),
}
# ISO base media brands (the ``ftyp`` box) of still images: AVIF and HEIC/HEIF.
_IMAGE_BRANDS = frozenset({b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_STRONG_DATE_AGE = 60  # seconds a Last-Modified must precede the answer's Date to be a strong validator
_META_LIMIT = 4096
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
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
    """Whether the first bytes are the kind's format.

    A video is an ISO media file (an ``ftyp`` box: mp4, mov); music is an mp3 (``ID3`` or an MPEG
    frame sync, which ADTS AAC shares) or an m4a (``ftyp``); a cover is a JPEG, PNG, WebP, GIF, or
    an AVIF or HEIC image (``ftyp`` with an image brand).
    """
    iso_media = head[4:8] == b"ftyp"
    if kind == "video":
        return iso_media
    if kind == "music":
        return iso_media or head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    return (head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n"
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[:6] in (b"GIF87a", b"GIF89a")
            or (iso_media and head[8:12] in _IMAGE_BRANDS))


def _content_type(headers: Mapping[str, str]) -> str:
    return headers.get("Content-Type", "").partition(";")[0].strip().lower()


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _is_media_type(content_type: str) -> bool:
    return content_type.startswith(("video/", "audio/", "image/")) or content_type in (
        "application/octet-stream", "binary/octet-stream", "",
    )


def _encoded(headers: Mapping[str, str]) -> bool:
    """Whether the body came in a content encoding (gzip, br...): its lengths are not the file's."""
    return headers.get("Content-Encoding", "").strip().lower() not in ("", "identity")


def target_paths(item_id: str, dest: Path, kinds: Sequence[str]) -> dict[str, Path]:
    """Where each kind goes: ``dest`` is a directory (``{id}.mp4``...), created if missing.

    Only for a single kind, and only when its name ends in a suffix of that kind (``clip.mp4``,
    ``cover.png``, ``song.m4a``) and it is no directory, does ``dest`` name the file itself.
    """
    if len(kinds) == 1 and dest.suffix.lower() in _FILE_SUFFIXES[kinds[0]] and not dest.is_dir():
        return {kinds[0]: dest}
    return {kind: dest / f"{item_id}{_SUFFIX[kind]}" for kind in kinds}


@dataclass(frozen=True)
class DownloadResult:
    """What one download did: its files, and the gateway calls it made with their billing.

    ``DouyinClient.download_media`` returns it. A download asks the gateway for a video's details
    when given an id or URL and some file is missing, and once more with ``cache=False`` when every
    media URL was refused (expired); ``charges`` holds the billing of each request it sent.
    """

    paths: tuple[Path, ...]
    """Every file asked for, in the order of ``kinds``: downloaded now, or complete already."""
    found: tuple[Path, ...] = ()
    """The files that were complete on disk already: nothing was fetched for them."""
    charges: tuple[Charge, ...] = ()
    """The billing of every gateway request this download sent, in the order sent."""

    @property
    def billed(self) -> int:
        """Gateway requests whose answer was billed."""
        return count_charges(self.charges)[0]

    @property
    def possibly_billed(self) -> int:
        """Gateway requests sent whose answer could not be read: the gateway may have billed them."""
        return count_charges(self.charges)[1]


def _url_digest(url: str) -> str:
    """Which URL wrote a ``.part``, without keeping the URL (it may carry a signature) on disk."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def _validator(headers: Mapping[str, str]) -> str:
    """The host's strong validator for this version of the file, or "" when it gave none.

    If-Range takes strong validators only: a strong ETag, else a Last-Modified at least a minute
    older than the answer's Date (a file changed within the same second keeps its date). A weak
    ETag, a recent or unparsable date, and an encoded body (whose ranges are not the file's) give "".
    """
    if _encoded(headers):
        return ""
    etag = headers.get("ETag", "").strip()
    if etag.startswith('"'):
        return etag
    modified = headers.get("Last-Modified", "").strip()
    try:
        age = (parsedate_to_datetime(headers.get("Date", "")) - parsedate_to_datetime(modified)).total_seconds()
    except (TypeError, ValueError, IndexError):  # absent or unparsable, or naive and aware mixed
        return ""
    return modified if age >= _STRONG_DATE_AGE else ""


def _names_version(headers: Mapping[str, str], validator: str) -> bool:
    """Whether an answer names the version ``validator`` recorded: the same strong ETag or date."""
    etag = headers.get("ETag", "").strip()
    return bool(validator) and validator in (etag if etag.startswith('"') else "",
                                             headers.get("Last-Modified", "").strip())


def _open_part(path: Path) -> IO[bytes]:
    """``path`` opened to append, created if missing, never through a symlink.

    A ``.part`` that is not a plain file of its own (a symlink, a hard link to another name, a
    device) is not ours: it is removed and a new one created exclusively in its place.
    """
    flags = os.O_RDWR | os.O_APPEND | _NOFOLLOW | _BINARY
    for _ in range(8):
        try:
            fd = os.open(path, flags | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # ELOOP: a symlink, refused by O_NOFOLLOW
                raise
        else:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                return os.fdopen(fd, "a+b")
            os.close(fd)
        path.unlink()  # removes the link itself, never what it points to
        try:
            return os.fdopen(os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), "a+b")
        except FileExistsError:  # planted again in between: look again
            continue
    raise OSError(errno.EEXIST, "cannot create a file of its own", str(path))


def _write_new(path: Path, data: bytes) -> None:
    """``data`` into a new file of a random name beside ``path``, then renamed onto it atomically.

    ``mkstemp`` creates exclusively (``O_EXCL``, ``O_NOFOLLOW``) and the rename replaces a symlink
    at ``path`` rather than writing through it.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@dataclass
class _File:
    """One target file while it is being downloaded; ``out`` is the locked, open ``.part``."""

    kind: str
    path: Path
    out: IO[bytes] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def part(self) -> Path:
        return self.path.with_name(self.path.name + ".part")

    @property
    def meta_path(self) -> Path:
        return self.path.with_name(self.path.name + ".part.meta")

    @property
    def size(self) -> int:
        assert self.out is not None
        return os.fstat(self.out.fileno()).st_size

    def restart(self) -> None:
        """Empty the ``.part``: what follows is a file of its own."""
        assert self.out is not None
        self.out.seek(0)
        self.out.truncate()
        self.meta = {}
        self.meta_path.unlink(missing_ok=True)

    def started(self, url: str, validator: str, total: int | None) -> None:
        """The ``.part`` now holds the start of ``url``'s file as ``validator`` names it."""
        self.meta = {"url": _url_digest(url), "validator": validator, "total": total}
        if validator:  # without one the .part can never be continued: nothing worth recording
            _write_new(self.meta_path, json.dumps(self.meta).encode())
        else:
            self.meta_path.unlink(missing_ok=True)

    def resumable_from(self, url: str) -> str | None:
        """The validator to send as If-Range when the ``.part`` may be continued from ``url``."""
        validator = self.meta.get("validator")
        if self.meta.get("url") != _url_digest(url) or not isinstance(validator, str) or not validator:
            return None
        return validator


@contextlib.contextmanager
def _locked_part(file: _File, shown: str) -> Iterator[_File]:
    """Open and lock ``file``'s ``.part`` for this download; another process holding it is an error."""
    out = open_locked(file.part, _open_part, wait=False, follow_symlinks=False)
    if out is None:
        raise DownloadInProgressError(
            f"another process is downloading {file.path.name}", url=shown, path=str(file.path)
        )
    try:
        file.meta = _read_meta(file.meta_path)
        file.out = out
        yield file
    finally:
        file.out = None
        out.close()


def _read_meta(path: Path) -> dict[str, Any]:
    """The ``.part``'s record; a symlink, an odd file or an unreadable one reads as none."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _BINARY)
    except OSError:
        return {}
    try:
        with os.fdopen(fd, "rb") as source:
            meta = json.loads(source.read(_META_LIMIT + 1)) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


class Downloader:
    """Downloads for one client: one concurrency limit, one set of headers, one retry policy."""

    def __init__(self, transport: Transport, redact: Redactor, policy: RetryPolicy, options: MediaOptions) -> None:
        self._transport = transport
        self._redact = redact
        self._policy = policy
        self._slots = asyncio.Semaphore(options.concurrency)
        self._headers = dict(options.headers)
        if not any(name.lower() == "accept-encoding" for name in self._headers):
            # Media is compressed already; an encoded body's lengths and ranges are not the file's.
            self._headers["Accept-Encoding"] = "identity"
        self._read_timeout = options.read_timeout
        self._stall_timeout = options.stall_timeout
        self._min_progress = options.min_progress
        self._max_size = options.max_size
        self._in_flight: dict[Path, asyncio.Event] = {}
        self._file_dests: dict[Path, str] = {}

    def paths(self, item_id: object, dest: Path, kinds: Sequence[str], overwrite: bool) -> dict[str, Path]:
        """Where each kind of this video goes; file names come from valid ids only.

        A ``dest`` that names one file takes one video: another video's file there would be taken
        for this one's, so that is refused (a dest for several videos is a directory).
        """
        item_id = normalize_item_id(item_id, self._redact)
        paths = target_paths(item_id, dest, kinds)
        if dest in paths.values():
            key = dest.absolute()
            holder = self._file_dests.setdefault(key, item_id)
            if holder != item_id and not overwrite:
                raise ValueError(f"dest {dest} names one file, which holds the {kinds[0]} of {holder}: "
                                 "give a directory to download several videos")
            self._file_dests[key] = item_id
        return paths

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
        on_file: Callable[[str, Path, bool], None] | None = None,
    ) -> tuple[list[Path], list[Path]]:
        """The files of ``kinds``, each downloaded unless complete already; and those found complete.

        ``on_file`` is told of each file as it is done: its kind, its path, and whether it was found complete.
        """
        for kind in kinds:
            media_urls(video, kind, watermark)  # rejects an unknown kind before any I/O
        paths = self.paths(video.num_iid, dest, kinds, overwrite)
        written, found = [], []
        for kind, path in paths.items():
            complete = not overwrite and path.exists()
            if complete:
                found.append(path)
            written.append(await self._one_at_a_time(_File(kind, path), video, watermark, overwrite, refresh,
                                                     on_bytes))
            if on_file is not None:
                on_file(kind, path, complete)
        return written, found

    async def _one_at_a_time(
        self,
        file: _File,
        video: Video,
        watermark: bool,
        overwrite: bool,
        refresh: Callable[[], Awaitable[Video]] | None,
        on_bytes: ByteCallback | None,
    ) -> Path:
        """Download ``file`` unless this client is already at it: then wait, and take its result."""
        key = file.path.absolute()
        while (running := self._in_flight.get(key)) is not None:
            await running.wait()
            if file.path.exists():  # the other call wrote it (or failed: then this call tries itself)
                return file.path
        done = self._in_flight[key] = asyncio.Event()
        try:
            return await self._file(file, video, watermark, overwrite, refresh, on_bytes)
        finally:
            del self._in_flight[key]
            done.set()

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
        urls = media_urls(video, file.kind, watermark)
        last: DownloadError = MediaUnavailableError(f"no {file.kind} URL for {video.num_iid}", path=str(file.path))
        with _locked_part(file, self._redact(urls[0]) if urls else ""):
            if file.path.exists() and not overwrite:  # another process finished it while this one waited
                file.part.unlink(missing_ok=True)
                return file.path
            if overwrite:
                file.restart()
            try:
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
            except BaseException:
                self._tidy(file)
                raise
            self._tidy(file)
        raise last

    @staticmethod
    def _tidy(file: _File) -> None:
        """After a failure: keep a ``.part`` with bytes to resume, drop an empty one."""
        if file.size == 0:
            file.part.unlink(missing_ok=True)
            file.meta_path.unlink(missing_ok=True)

    async def _with_retries(self, file: _File, url: str, on_bytes: ByteCallback | None) -> None:
        await self._policy.call(lambda: self._attempt(file, url, on_bytes), file.path.name)

    async def _attempt(self, file: _File, url: str, on_bytes: ByteCallback | None) -> None:
        failure: DownloadError
        shown = self._redact(url)
        try:
            async with self._slots:
                await self._stream(file, url, shown, on_bytes)
        except TransportError as exc:
            failure = DownloadError(f"media download failed ({self._redact(exc.message)}): {shown}", url=shown,
                                    retryable=exc.retryable)
        except DouyinError:
            raise
        except Exception as exc:  # a transport of the caller's: typed here, raised outside this block
            error = foreign_error(exc, Request("GET", url), self._redact)
            failure = DownloadError(f"media download failed ({error.message}): {shown}", url=shown,
                                    retryable=error.retryable)
        else:
            self._finish(file, shown)
            return
        raise failure

    async def _stream(self, file: _File, url: str, shown: str, on_bytes: ByteCallback | None) -> None:
        """One request: continue the .part where it stops if it holds this URL's file, else from 0."""
        offset = file.size
        validator = file.resumable_from(url) if offset else None
        if offset and validator is None:
            file.restart()  # another stream's bytes, or no way to tell the file did not change
            offset = 0
        headers = dict(self._headers)
        if validator is not None:
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = validator
        request = Request("GET", url, headers=headers, read_timeout=self._read_timeout, follow_redirects=True)
        async with self._transport.stream(request) as resp:
            total = self._check_answer(file, resp, offset, validator, shown)
            if file.size == 0:
                file.started(url, _validator(resp.headers), total)
            await self._write_body(file, resp, total, shown, on_bytes)
        size = file.size
        if total is not None and size != total:
            raise DownloadError(f"incomplete: {size} of {total} bytes from {shown}", url=shown, retryable=True)

    async def _write_body(
        self, file: _File, resp: Stream, total: int | None, shown: str, on_bytes: ByteCallback | None
    ) -> None:
        """Append the body to the ``.part``, within ``max_size``, and fail it when it stalls."""
        assert file.out is not None
        out, limit = file.out, self._max_size if total is None else total  # decoded bytes, whatever the encoding
        size = file.size
        out.seek(0, os.SEEK_END)
        async for chunk in self._progressing(resp.iter_chunks(_CHUNK), shown):
            size += len(chunk)
            if limit is not None and size > limit:
                file.restart()
                raise MediaTooLargeError(f"more than {limit} bytes from {shown}", url=shown, path=str(file.path))
            # Writes go straight to the page cache; a thread hop per chunk would cost more than the write.
            out.write(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
        out.flush()

    async def _progressing(self, chunks: AsyncIterator[bytes], shown: str) -> AsyncIterator[bytes]:
        """``chunks``, as long as at least ``min_progress`` bytes arrive in every ``stall_timeout`` seconds."""
        loop = asyncio.get_running_loop()
        window_end, window_bytes = loop.time() + self._stall_timeout, 0
        iterator = chunks.__aiter__()
        while True:
            now = loop.time()
            if now >= window_end:
                if window_bytes < self._min_progress:
                    break
                window_end, window_bytes = now + self._stall_timeout, 0
            # A window that has its bytes already may wait for the next one to end.
            deadline = window_end if window_bytes < self._min_progress else window_end + self._stall_timeout
            try:
                async with time_limit(deadline - now):
                    chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except TIMEOUTS:
                break
            window_bytes += len(chunk)
            yield chunk
        raise MediaStalledError(
            f"stalled: fewer than {self._min_progress} bytes in {self._stall_timeout}s from {shown}",
            url=shown, retryable=True,
        )

    def _check_answer(self, file: _File, resp: Stream, offset: int, validator: str | None, shown: str) -> int | None:
        """Raise for an answer that is not this media file; else the file's full size, if known.

        A 200 is the whole file: the ``.part`` starts again. A 206 must continue exactly where the
        ``.part`` stops, from the same version of the file; otherwise it starts again too.
        """
        status = resp.status
        if status in _GONE:
            raise MediaUnavailableError(f"media host answered {status}: {shown}", url=shown)
        if status == 416 and offset:
            file.restart()  # the part is not a prefix of this file: start again
            raise DownloadError(f"range not satisfiable, restarting: {shown}", url=shown, retryable=True)
        if status not in (200, 206):
            retryable = status == 429 or status >= 500
            raise DownloadError(f"media host answered {status}: {shown}", url=shown, retryable=retryable)
        content_type = _content_type(resp.headers)
        if not _is_media_type(content_type):
            raise MediaContentError(f"expected {file.kind} but got {content_type}: {shown}", url=shown)
        if status == 206:
            # Continued only when the host proves it is the same file: the validator recorded, named
            # again, and the range starting where the .part stops, of the same (known) total.
            match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
            total = int(match[3]) if match is not None and match[3] != "*" else None
            recorded = file.meta.get("total")
            fits = (match is not None and int(match[1]) == offset and validator is not None
                    and _names_version(resp.headers, validator) and not _encoded(resp.headers)
                    and total is not None and (recorded is None or total == recorded))
            if not fits:  # another range, or another version of the file: never splice
                file.restart()
                raise DownloadError(f"the host's file changed or sent another range, restarting: {shown}",
                                    url=shown, retryable=True)
        else:
            if offset:
                file.restart()  # the host ignored Range, or If-Range said the file changed
            # An encoded body (the host ignored "identity") is decoded on the way: its Content-Length
            # is not the file's size, which max_size then bounds as it arrives.
            total = None if _encoded(resp.headers) else _content_length(resp.headers)
        if total is not None and self._max_size is not None and total > self._max_size:
            raise MediaTooLargeError(f"{total} bytes, more than max_size {self._max_size}: {shown}",
                                     url=shown, path=str(file.path))
        return total

    def _finish(self, file: _File, shown: str) -> None:
        """Verify the whole .part file, then move it into place atomically."""
        out = file.out
        assert out is not None
        out.flush()
        os.fsync(out.fileno())
        out.seek(0)
        head = out.read(16)  # from the file this download wrote, not whatever the name holds now
        if not looks_like(file.kind, head):
            file.restart()
            raise MediaContentError(f"not a {file.kind} file (first bytes {head[:8]!r}): {shown}", url=shown)
        try:
            ours = os.lstat(file.part).st_ino == os.fstat(out.fileno()).st_ino
        except FileNotFoundError:
            ours = False
        if not ours:  # the name was replaced under us: never move another file into place
            raise DownloadError(f"{file.part.name} was replaced while it was written: {shown}", url=shown,
                                path=str(file.path), retryable=True)
        os.replace(file.part, file.path)
        file.meta_path.unlink(missing_ok=True)
