"""Downloads never splice two streams, never run twice at once, name files from valid ids only,
and end in a typed error when a host sends too much or too slowly."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from douyin_async import (
    DouyinClient,
    DownloadInProgressError,
    InvalidParamError,
    MediaOptions,
    MediaStalledError,
    MediaTooLargeError,
    Video,
)
from douyin_async._download import _url_digest
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET
from .test_download import client_for, found_id


async def fetched(emu: Emulator, client: DouyinClient) -> Video:
    return (await client.item_get_video(found_id(emu))).item


async def test_fallback_to_the_other_stream_restarts_the_part(tmp_path: Path) -> None:
    """url_raw breaks off, then is refused: the watermarked stream must not continue its bytes."""
    async with Emulator(fast=True, video_size=300_000) as emu, client_for(emu, max_retries=2) as client:
        video = await fetched(emu, client)
        emu.script_media(video.video.url_raw, ["reset", "http403"])
        [path] = await client.download(video, tmp_path)
        assert path.read_bytes() == emu.media_bytes("video", video.num_iid, watermark=True)
    assert not list(tmp_path.glob("*.part*"))


async def test_a_part_of_another_version_is_restarted_through_if_range(tmp_path: Path) -> None:
    size = 200_000
    async with Emulator(fast=True, video_size=size) as emu, client_for(emu) as client:
        video = await fetched(emu, client)
        target = tmp_path / f"{video.num_iid}.mp4"
        Path(f"{target}.part").write_bytes(b"\x00\x00\x00\x20ftypOLD-VERSION" * 100)
        Path(f"{target}.part.meta").write_text(json.dumps(
            {"url": _url_digest(video.video.url_raw), "validator": '"old-etag"', "total": size}))
        [path] = await client.download(video, tmp_path)
        assert path.read_bytes() == emu.media_bytes("video", video.num_iid)
        assert emu.stats.media_bytes == size  # If-Range did not match: the whole file, once


@asynccontextmanager
async def changed_file_host(body: bytes) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A media host that ignores If-Range and answers ranges from a newer version of the file."""
    seen: list[dict[str, str]] = []

    async def media(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if "Range" in request.headers:
            start = request.http_range.start or 0
            return web.Response(status=206, body=body[start:], content_type="video/mp4", headers={
                "ETag": '"new"', "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})
        return web.Response(body=body, content_type="video/mp4", headers={"ETag": '"new"'})

    app = web.Application()
    app.router.add_get("/v.mp4", media)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v.mp4", seen
    finally:
        await runner.cleanup()


async def test_a_206_of_a_changed_file_is_never_spliced(tmp_path: Path) -> None:
    body = b"\x00\x00\x00\x20ftypNEW" + bytes(range(256)) * 100
    async with changed_file_host(body) as (url, seen), DouyinClient(
        KEY, SECRET, base_url="http://127.0.0.1:9/douyin", backoff_initial=0, backoff_max=0
    ) as client:
        video = msgspec.convert({"num_iid": "42", "video": {"url_raw": url}}, Video)
        part = tmp_path / "42.mp4.part"
        part.write_bytes(b"\x00\x00\x00\x20ftypOLD" + bytes(500))
        (tmp_path / "42.mp4.part.meta").write_text(
            json.dumps({"url": _url_digest(url), "validator": '"old"', "total": len(body)}))
        [path] = await client.download(video, tmp_path, refresh_urls=False)
    assert path.read_bytes() == body
    assert seen[0]["If-Range"] == '"old"' and "Range" not in seen[1]  # resumed once, then from zero


async def test_two_downloads_of_one_file_share_the_work(tmp_path: Path) -> None:
    async with Emulator(fast=True, video_size=300_000, slow_body=0.2) as emu, client_for(emu) as client:
        video = await fetched(emu, client)
        results = await asyncio.gather(*(client.download(video, tmp_path) for _ in range(3)))
        assert results[0] == results[1] == results[2]
        assert results[0][0].read_bytes() == emu.media_bytes("video", video.num_iid)
        assert emu.stats.media_requests == 1


async def test_another_process_holding_the_part_is_a_typed_error(tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        video = await fetched(emu, client)
        part = tmp_path / f"{video.num_iid}.mp4.part"
        with open(part, "ab") as held:  # noqa: ASYNC230 (another open file description: flock conflicts)
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            with pytest.raises(DownloadInProgressError):
                await client.download(video, tmp_path)
        assert emu.stats.media_requests == 0
        [path] = await client.download(video, tmp_path)  # released: it goes ahead
        assert path.read_bytes() == emu.media_bytes("video", video.num_iid)


@pytest.mark.parametrize("bad_id", ["../x", "/etc/passwd", "1/../../2", "", "12 3", "１２３"])
async def test_file_names_come_from_valid_ids_only(tmp_path: Path, bad_id: str) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        video = msgspec.structs.replace(await fetched(emu, client), num_iid=bad_id)
        dest = tmp_path / "out"
        with pytest.raises(InvalidParamError):
            await client.download(video, dest, kinds=("video", "cover"))
        assert emu.stats.media_requests == 0
    assert not list(tmp_path.iterdir())


async def test_a_trickling_host_ends_in_a_stall_error(tmp_path: Path) -> None:
    media = MediaOptions(stall_timeout=0.5, read_timeout=5.0)
    async with Emulator(fast=True, media_faults={"trickle": 1.0}) as emu, \
            client_for(emu, max_retries=1, media=media) as client:
        video = await fetched(emu, client)
        started = time.monotonic()
        with pytest.raises(MediaStalledError, match="stalled") as caught:
            await asyncio.wait_for(client.download(video, tmp_path, refresh_urls=False), 10)
    assert time.monotonic() - started < 5  # two stalled attempts of about half a second each
    assert caught.value.retryable
    assert not (tmp_path / f"{video.num_iid}.mp4").exists()


async def test_media_past_max_size_is_refused(tmp_path: Path) -> None:
    async with Emulator(fast=True, video_size=100_000) as emu, \
            client_for(emu, media=MediaOptions(max_size=50_000)) as client:
        video = await fetched(emu, client)
        with pytest.raises(MediaTooLargeError, match="50000"):
            await client.download(video, tmp_path, refresh_urls=False)
        assert emu.stats.media_requests == 1  # not retried
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("name", "value"), [("stall_timeout", 0), ("min_progress", 0), ("max_size", -1)])
def test_media_limits_are_checked(name: str, value: int) -> None:
    from douyin_async import InvalidSettingError

    with pytest.raises(InvalidSettingError, match=name):
        MediaOptions(**{name: value})  # type: ignore[arg-type]
