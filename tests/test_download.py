"""Downloads against the emulator's media routes: integrity, resume, atomicity, fallbacks, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from douyin_async import DouyinClient, MediaContentError, MediaUnavailableError
from douyin_async._download import looks_like
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET, SEED_ID

ITEM = "1000000000000001"


def found_id(emu: Emulator) -> str:
    return next(str(i) for i in range(10**15, 10**15 + 50) if emu.expected_item(str(i)))


def client_for(emu: Emulator, **options: object) -> DouyinClient:
    settings: dict[str, object] = {"base_url": emu.base_url, "rate_limit": None, "max_concurrency": None,
                                   "backoff_initial": 0.0, "backoff_max": 0.01}
    settings.update(options)
    return DouyinClient(KEY, SECRET, **settings)  # type: ignore[arg-type]


async def test_every_kind_downloads_intact(tmp_path: Path) -> None:
    async with Emulator(fast=True, video_size=300_000) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        paths = await client.download(item_id, tmp_path, kinds=("video", "cover", "music"))
        assert [p.name for p in paths] == [f"{item_id}.mp4", f"{item_id}.cover.jpg", f"{item_id}.mp3"]
        assert paths[0].read_bytes() == emu.media_bytes("video", item_id)
        assert paths[1].read_bytes() == emu.media_bytes("cover", item_id)
        assert paths[2].read_bytes() == emu.media_bytes("music", item_id)
        assert not list(tmp_path.glob("*.part"))
        assert emu.stats.credential_leaks == 0  # the media host never saw the key or secret
        assert emu.stats.media_requests == 3


async def test_watermark_picks_the_other_stream_and_file_dest(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        response = await client.item_get_video(item_id)
        [path] = await client.download(response, tmp_path / "clip.mp4", watermark=True)
        assert path == tmp_path / "clip.mp4"
        assert path.read_bytes() == emu.media_bytes("video", item_id, watermark=True)


async def test_resume_after_reset_mid_body_uses_range(tmp_path: Path) -> None:
    size = 400_000
    async with Emulator(fast=True, video_size=size) as emu, client_for(emu, max_retries=3) as client:
        item_id = found_id(emu)
        video = (await client.item_get_video(item_id)).item
        emu.script_media(video.video.url_raw, ["reset", "reset"])
        [path] = await client.download(video, tmp_path)
        assert path.read_bytes() == emu.media_bytes("video", item_id)
        assert emu.stats.media_requests == 3
        # The retries asked only for what was missing: no byte was served twice.
        assert emu.stats.media_bytes == size


async def test_host_without_range_restarts_from_zero(tmp_path: Path) -> None:
    async with Emulator(fast=True, video_size=200_000, media_range=False) as emu, client_for(emu, max_retries=2) as client:
        item_id = found_id(emu)
        video = (await client.item_get_video(item_id)).item
        emu.script_media(video.video.url_raw, ["reset"])
        [path] = await client.download(video, tmp_path)
        assert path.read_bytes() == emu.media_bytes("video", item_id)


async def test_failure_leaves_no_file_at_the_final_path(tmp_path: Path) -> None:
    async with Emulator(fast=True, media_faults={"reset": 1.0}) as emu, client_for(emu, max_retries=1) as client:
        item_id = found_id(emu)
        with pytest.raises(Exception, match=r"payload|incomplete|Payload"):
            await client.download(item_id, tmp_path, refresh_urls=False)
    assert not (tmp_path / f"{item_id}.mp4").exists()
    assert (tmp_path / f"{item_id}.mp4.part").exists()  # kept, to resume next time


async def test_existing_complete_file_is_skipped(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        video = (await client.item_get_video(item_id)).item
        await client.download(video, tmp_path)
        before = emu.stats.media_requests
        await client.download(video, tmp_path)
        assert emu.stats.media_requests == before
        (tmp_path / f"{item_id}.mp4").write_bytes(b"stale")
        await client.download(video, tmp_path, overwrite=True)
        assert (tmp_path / f"{item_id}.mp4").read_bytes() == emu.media_bytes("video", item_id)


async def test_html_error_page_is_rejected(tmp_path: Path) -> None:
    async with Emulator(fast=True, media_faults={"html": 1.0}) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        with pytest.raises(MediaContentError, match="text/html"):
            await client.download(item_id, tmp_path)
    assert not list(tmp_path.iterdir())


async def test_403_falls_back_to_the_other_url(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        video = (await client.item_get_video(item_id)).item
        emu.script_media(video.video.url_raw, ["http403"])
        [path] = await client.download(video, tmp_path)
        # url_raw was refused, so the watermarked stream was taken rather than nothing.
        assert path.read_bytes() == emu.media_bytes("video", item_id, watermark=True)


async def test_both_urls_gone_then_fresh_urls_once(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        video = (await client.item_get_video(item_id)).item
        emu.script_media(video.video.url_raw, ["http404"])
        emu.script_media(video.video.url, ["http410"])
        charged = emu.stats.charged
        [path] = await client.download(video, tmp_path)
        assert path.read_bytes() == emu.media_bytes("video", item_id)
        assert emu.stats.charged == charged + 1  # one fresh fetch, cache=no


async def test_unavailable_everywhere_is_a_typed_error(tmp_path: Path) -> None:
    async with Emulator(fast=True, media_faults={"http403": 1.0}) as emu, client_for(emu) as client:
        with pytest.raises(MediaUnavailableError, match="403"):
            await client.download(found_id(emu), tmp_path)


async def test_unknown_kind_rejected_before_any_request(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        video = (await client.item_get_video(SEED_ID)).item
        with pytest.raises(ValueError, match="unknown media kind"):
            await client.download(video, tmp_path, kinds=("video", "subtitles"))
        assert emu.stats.media_requests == 0


@pytest.mark.parametrize(
    ("kind", "head", "ok"),
    [
        ("video", b"\x00\x00\x00\x20ftypisom", True),
        ("video", b"<!DOCTYPE html>", False),
        ("music", b"ID3\x04\x00", True),
        ("music", b"\xff\xfb\x90\x00", True),
        ("music", b"<html>", False),
        ("cover", b"\xff\xd8\xff\xe0", True),
        ("cover", b"\x89PNG\r\n\x1a\n", True),
        ("cover", b"RIFF\x00\x00\x00\x00WEBP", True),
        ("cover", b"GIF89a\x10\x00", True),
        ("cover", b"GIF87a\x10\x00", True),
        ("cover", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", True),
        ("cover", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", True),
        ("cover", b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00", True),
        ("cover", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", False),  # a video is no cover
        ("cover", b"GIF90a", False),
        ("cover", b"<!DOCTYPE html>", False),
        ("music", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", True),  # m4a
        ("music", b"\xff\xf1\x50\x80", True),  # ADTS AAC
        ("video", b"\x00\x00\x00\x14ftypqt  ", True),  # mov
    ],
)
def test_magic_bytes(kind: str, head: bytes, ok: bool) -> None:
    assert looks_like(kind, head) is ok
