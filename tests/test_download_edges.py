"""Downloads at the edges a hostile or odd media host reaches: resumes the host cannot prove,
encoded bodies, dotted destinations, planted symlinks. Each against a real server on 127.0.0.1."""

from __future__ import annotations

import gzip
import inspect
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.utils import formatdate
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from douyin_async import DouyinClient, MediaOptions, MediaTooLargeError, Video
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET
from .test_download import client_for, found_id

FILE_A = b"\x00\x00\x00\x20ftypisomAAAA" + bytes(range(256)) * 1000
FILE_B = b"\x00\x00\x00\x20ftypisomBBBB" + bytes(reversed(range(256))) * 1000
HALF = 100_000


class MediaHost:
    """A media host on 127.0.0.1 that answers request N with ``answers[N]``; records the headers."""

    def __init__(self, answers: list[Callable[[web.Request], web.StreamResponse]]) -> None:
        self.answers = answers
        self.seen: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(dict(request.headers))
        answer = self.answers[min(len(self.seen), len(self.answers)) - 1]  # the last one from then on
        response = answer(request)
        return await response if inspect.isawaitable(response) else response

    @asynccontextmanager
    async def running(self) -> AsyncIterator[MediaHost]:
        app = web.Application()
        app.router.add_get("/v.mp4", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v.mp4"
        try:
            yield self
        finally:
            await runner.cleanup()


def whole(body: bytes, **headers: str) -> Callable[[web.Request], web.StreamResponse]:
    return lambda request: web.Response(body=body, content_type="video/mp4", headers=headers)


def cut_off(body: bytes, **headers: str) -> Callable[[web.Request], web.StreamResponse]:
    """Announce ``body``, send its first HALF bytes, drop the connection."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=headers)
        response.content_type = "video/mp4"
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[:HALF])
        assert request.transport is not None
        request.transport.abort()
        return response

    return answer  # type: ignore[return-value]


def rest_of(body: bytes, total: str | None = None, **headers: str) -> Callable[[web.Request], web.StreamResponse]:
    """A 206 with the rest of ``body`` from the offset asked for."""

    def answer(request: web.Request) -> web.StreamResponse:
        start = request.http_range.start or 0
        return web.Response(status=206, body=body[start:], content_type="video/mp4", headers={
            "Content-Range": f"bytes {start}-{len(body) - 1}/{total or len(body)}", **headers})

    return answer


def client() -> DouyinClient:
    return DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", backoff_initial=0, backoff_max=0,
                        max_retries=3)


def video_at(url: str, item_id: str = "42") -> Video:
    return msgspec.convert({"num_iid": item_id, "video": {"url_raw": url}}, Video)


OLD = formatdate(0, usegmt=True)  # a date long before the answer's: a strong validator


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"ETag": '"a"'}, {}),  # the 206 names no version at all
        ({"ETag": '"a"'}, {"ETag": 'W/"b"'}),  # a weak ETag is not the strong one recorded
        ({"ETag": '"a"'}, {"ETag": '"a"', "total": "*"}),  # the host does not say how long the file is
        ({"ETag": '"a"'}, {"ETag": '"a"', "total": str(len(FILE_B) + 7)}),  # another total
        ({"Last-Modified": "now"}, {"Last-Modified": "now"}),  # a date as recent as the answer: weak
        ({"ETag": 'W/"a"'}, {"ETag": 'W/"a"'}),  # weak validators never resume
    ],
    ids=["no-validator", "weak-etag", "unknown-total", "other-total", "recent-date", "weak-both"],
)
async def test_a_resume_the_host_cannot_prove_starts_again(tmp_path: Path, first: dict[str, str],
                                                           then: dict[str, str]) -> None:
    """File A breaks off; the host then serves file B. A's start and B's rest must never meet."""
    now = formatdate(usegmt=True)
    first = {name: now if value == "now" else value for name, value in first.items()}
    then = {name: now if value == "now" else value for name, value in then.items()}
    total = then.pop("total", None)
    host = MediaHost([cut_off(FILE_A, **first), rest_of(FILE_B, total, **then), whole(FILE_B, **then)])
    async with host.running(), client() as douyin:
        [path] = await douyin.download(video_at(host.url), tmp_path, refresh_urls=False)
    assert path.read_bytes() == FILE_B
    if "Range" in host.seen[1]:  # asked to resume (a strong validator): the answer was refused
        assert "Range" not in host.seen[2]
    assert not list(tmp_path.glob("*.part*"))


@pytest.mark.parametrize("validator", [{"ETag": '"a"'}, {"Last-Modified": OLD}], ids=["strong-etag", "old-date"])
async def test_a_resume_the_host_proves_continues(tmp_path: Path, validator: dict[str, str]) -> None:
    host = MediaHost([cut_off(FILE_A, **validator), rest_of(FILE_A, **validator)])
    async with host.running(), client() as douyin:
        [path] = await douyin.download(video_at(host.url), tmp_path, refresh_urls=False)
    assert path.read_bytes() == FILE_A
    assert host.seen[1]["Range"] == f"bytes={HALF}-"
    assert host.seen[1]["If-Range"] == next(iter(validator.values()))
    assert len(host.seen) == 2


def gzipped(body: bytes, *, cut: bool = False) -> Callable[[web.Request], web.StreamResponse]:
    """``body`` gzip-encoded whatever the request accepts, as a careless CDN sends it."""
    packed = gzip.compress(body)
    if cut:
        return cut_off(packed + bytes(HALF), **{"Content-Encoding": "gzip", "ETag": '"g"'})
    return lambda request: web.Response(body=packed, content_type="video/mp4",
                                        headers={"Content-Encoding": "gzip", "ETag": '"g"'})


async def test_gzip_encoded_media_is_taken_at_its_decoded_size(tmp_path: Path) -> None:
    host = MediaHost([gzipped(FILE_A)])
    async with host.running(), client() as douyin:
        [path] = await douyin.download(video_at(host.url), tmp_path, refresh_urls=False)
    assert path.read_bytes() == FILE_A
    assert host.seen[0]["Accept-Encoding"] == "identity"  # asked for the file as it is
    assert not list(tmp_path.glob("*.part*"))


async def test_an_encoded_body_is_bounded_by_max_size_once_decoded(tmp_path: Path) -> None:
    bomb = b"\x00\x00\x00\x20ftypisom" + bytes(2_000_000)  # about 2 KB of gzip
    host = MediaHost([gzipped(bomb)])
    async with host.running(), DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin",
                                            media=MediaOptions(max_size=1_000_000)) as douyin:
        with pytest.raises(MediaTooLargeError, match="1000000"):
            await douyin.download(video_at(host.url), tmp_path, refresh_urls=False)
    assert not (tmp_path / "42.mp4").exists()


async def test_an_encoded_body_cut_off_is_never_resumed(tmp_path: Path) -> None:
    """Ranges of an encoded body count encoded bytes: the .part starts again instead."""
    host = MediaHost([gzipped(FILE_A, cut=True), gzipped(FILE_A)])
    async with host.running(), client() as douyin:
        [path] = await douyin.download(video_at(host.url), tmp_path, refresh_urls=False)
    assert path.read_bytes() == FILE_A
    assert "Range" not in host.seen[1]


async def test_a_callers_accept_encoding_is_kept(tmp_path: Path) -> None:
    host = MediaHost([gzipped(FILE_A)])
    media = MediaOptions(headers={"accept-encoding": "gzip"})
    async with host.running(), DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", media=media) as douyin:
        [path] = await douyin.download(video_at(host.url), tmp_path, refresh_urls=False)
    assert path.read_bytes() == FILE_A
    assert host.seen[0]["Accept-Encoding"] == "gzip"


async def test_two_videos_into_one_dotted_dest_get_a_directory(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as douyin:
        first = found_id(emu)
        second = next(str(i) for i in range(int(first) + 1, int(first) + 50) if emu.expected_item(str(i)))
        dest = tmp_path / "some.dir"
        [one] = await douyin.download(first, dest)
        [two] = await douyin.download(second, dest)
        assert dest.is_dir()
        assert (one, two) == (dest / f"{first}.mp4", dest / f"{second}.mp4")
        assert two.read_bytes() == emu.media_bytes("video", second)
        assert one.read_bytes() == emu.media_bytes("video", first)


async def test_a_file_dest_takes_one_video_only(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as douyin:
        first = found_id(emu)
        second = next(str(i) for i in range(int(first) + 1, int(first) + 50) if emu.expected_item(str(i)))
        clip = tmp_path / "clip.mp4"
        assert await douyin.download(first, clip) == [clip]
        assert await douyin.download(first, clip) == [clip]  # the same video again: found complete
        charged, media = emu.stats.charged, emu.stats.media_requests
        with pytest.raises(ValueError, match="give a directory"):
            await douyin.download(second, clip)
        assert (emu.stats.charged, emu.stats.media_requests) == (charged, media)  # refused before any call
        assert clip.read_bytes() == emu.media_bytes("video", first)
        assert await douyin.download(second, clip, overwrite=True) == [clip]  # replacing it is asked for
        assert clip.read_bytes() == emu.media_bytes("video", second)
        [cover] = await douyin.download(first, tmp_path / "cover.png", kinds=("cover",))
        assert cover == tmp_path / "cover.png"


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no O_NOFOLLOW on this platform")
async def test_planted_symlinks_are_never_written_through(tmp_path: Path) -> None:
    victims = tmp_path / "victims"
    victims.mkdir()
    for name in ("part", "meta", "hard"):
        (victims / name).write_bytes(b"precious")
    media = tmp_path / "media"
    media.mkdir()
    host = MediaHost([cut_off(FILE_A, ETag='"a"'), whole(FILE_A, ETag='"a"')])
    async with host.running(), client() as douyin:
        target = media / "42.mp4"
        Path(f"{target}.part").symlink_to(victims / "part")
        Path(f"{target}.part.meta").symlink_to(victims / "meta")
        target.symlink_to(victims / "final")  # dangling: a write through it would create it
        [path] = await douyin.download(video_at(host.url), media, refresh_urls=False)
        assert path.read_bytes() == FILE_A
        assert not path.is_symlink()
        os.link(victims / "hard", media / "43.mp4.part")  # a hard link to another file
        [other] = await douyin.download(video_at(host.url, "43"), media, refresh_urls=False)
        assert other.read_bytes() == FILE_A
    assert {p.name: p.read_bytes() for p in victims.iterdir()} == {
        "part": b"precious", "meta": b"precious", "hard": b"precious"}
    assert sorted(p.name for p in media.iterdir()) == ["42.mp4", "43.mp4"]


async def test_the_meta_is_written_under_a_random_name_and_renamed(tmp_path: Path) -> None:
    """A planted fixed temporary name is never used: the meta of a cut-off download is still right."""
    host = MediaHost([cut_off(FILE_A, ETag='"a"')])
    (tmp_path / "42.mp4.part.meta.tmp").symlink_to(tmp_path / "elsewhere")
    async with host.running(), client() as douyin:
        with pytest.raises(Exception, match=r"[Pp]ayload|incomplete"):
            await douyin.download(video_at(host.url), tmp_path, refresh_urls=False)
    meta = tmp_path / "42.mp4.part.meta"
    assert meta.is_file() and not meta.is_symlink()
    assert json.loads(meta.read_text())["validator"] == '"a"'
    assert not (tmp_path / "elsewhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["42.mp4.part", "42.mp4.part.meta", "42.mp4.part.meta.tmp"]
