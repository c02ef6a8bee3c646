"""What downloads cost, counted at the emulator: nothing for files already on disk, and every
gateway request (the item's details, fresh URLs for expired ones) in the figures reported."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from douyin_async import Charge, DownloadResult, MediaUnavailableError
from douyin_async.emulator import Emulator

from .conftest import run_cli
from .test_download import client_for, found_id

KEYS = {"media-key": "media-secret"}
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "DOUYIN_API_KEY": "media-key", "DOUYIN_API_SECRET": "media-secret"}
ALL = ("video", "cover", "music")


async def run(*args: str) -> subprocess.CompletedProcess[str]:
    return await run_cli(ENV, *args)


def billed_said(output: str) -> tuple[int, int]:
    """The billed and possibly billed calls a command's summary states."""
    found = re.search(r"billed calls (\d+), possibly billed (\d+)", output)
    assert found is not None, output
    return int(found[1]), int(found[2])


def expire(emu: Emulator, item_id: str) -> None:
    """Both video URLs of the item answer 403 once, as expired signed URLs do."""
    video = emu.expected_item(item_id)["video"]  # type: ignore[index]
    for url in (video["url_raw"], video["url"]):
        emu.script_media(url, ["http403"])


# -- the library ------------------------------------------------------------------------------------


async def test_a_rerun_with_every_file_on_disk_sends_nothing(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        first = await client.download_media(item_id, tmp_path, kinds=ALL)
        assert (first.billed, first.possibly_billed, first.found) == (1, 0, ())
        assert emu.stats.charged == 1 and emu.stats.media_requests == 3
        for target in (item_id, int(item_id), f"https://www.douyin.com/video/{item_id}"):
            again = await client.download_media(target, tmp_path, kinds=ALL)
            assert again == DownloadResult(first.paths, first.paths, ())
            assert await client.download(target, tmp_path, kinds=ALL) == list(first.paths)
        assert (emu.stats.charged, emu.stats.requests, emu.stats.media_requests) == (1, 1, 3)
        again = await client.download_media(item_id, tmp_path, kinds=ALL, overwrite=True)  # asked for: paid
        assert again.billed == 1 and again.found == () and emu.stats.charged == 2


async def test_a_rerun_with_other_kinds_pays_only_for_a_missing_file(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        await client.download(item_id, tmp_path)
        more = await client.download_media(item_id, tmp_path, kinds=("video", "cover"))
        assert more.billed == 1 and more.found == (tmp_path / f"{item_id}.mp4",)
        fewer = await client.download_media(item_id, tmp_path, kinds=("cover",))
        assert fewer.billed == 0
        assert emu.stats.charged == 2 and emu.stats.media_requests == 2


async def test_a_short_link_to_files_on_disk_is_resolved_for_free(tmp_path: Path) -> None:
    from douyin_async import ShortLinkOptions

    async with Emulator(fast=True) as emu:
        links = ShortLinkOptions(hosts=(emu.short_link_host,))
        async with client_for(emu, short_links=links) as client:
            item_id = found_id(emu)
            await client.download(item_id, tmp_path)
            result = await client.download_media(emu.short_link(item_id), tmp_path)
        assert result.charges == () and emu.stats.charged == 1 and emu.stats.short_link_requests == 1


async def test_fresh_urls_for_expired_ones_are_reported(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        expire(emu, item_id)
        seen: list[Charge] = []
        result = await client.download_media(item_id, tmp_path, on_charge=seen.append)
        assert result.charges == (Charge.BILLED, Charge.BILLED) == tuple(seen)  # the details, then fresh URLs
        assert result.billed == emu.stats.charged == 2
        assert result.paths[0].read_bytes() == emu.media_bytes("video", item_id)


async def test_an_unreadable_refetch_is_possibly_billed(tmp_path: Path) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        emu.script(item_id, ["0000", "reset", "0000"])  # the fresh-URL fetch is cut off once, then answered
        expire(emu, item_id)
        result = await client.download_media(item_id, tmp_path)
        assert result.charges == (Charge.BILLED, Charge.POSSIBLY_BILLED, Charge.BILLED)
        assert (result.billed, result.possibly_billed) == (2, 1)
        assert emu.stats.charged == 3  # the cut-off answer was billed: "possibly" was right


async def test_a_failed_download_carries_what_it_cost(tmp_path: Path) -> None:
    async with Emulator(fast=True, media_faults={"http403": 1.0}) as emu, client_for(emu) as client:
        item_id = found_id(emu)
        with pytest.raises(MediaUnavailableError) as caught:
            await client.download(item_id, tmp_path)
        assert (caught.value.billed, caught.value.possibly_billed) == (2, 0) == (emu.stats.charged, 0)
        video = (await client.item_get_video(item_id)).item
        with pytest.raises(MediaUnavailableError) as caught:
            await client.download_media(video, tmp_path)  # no details fetched: only the fresh URLs
        assert caught.value.billed == 1 and emu.stats.charged == 4


# -- the command line -------------------------------------------------------------------------------


async def test_cli_download_rerun_is_free_and_refetches_are_counted(tmp_path: Path) -> None:
    media = tmp_path / "videos"
    async with Emulator(fast=True, keys=KEYS, self_contained=True) as emu:
        item_id = found_id(emu)
        args = ("download", item_id, "-d", str(media), "--kinds", "video,cover,music", "--base-url", emu.base_url)
        first = await run(*args)
        assert first.returncode == 0, first.stderr
        assert billed_said(first.stderr) == (1, 0) and emu.stats.charged == 1
        second = await run(*args)
        assert second.returncode == 0, second.stderr
        assert second.stdout == first.stdout  # the same paths, found complete
        assert billed_said(second.stderr) == (0, 0) and emu.stats.charged == 1
        expire(emu, item_id)
        third = await run(*args[:5], "video", "--overwrite", *args[6:])  # URLs expired: fresh ones fetched
        assert third.returncode == 0, third.stderr
        assert billed_said(third.stderr) == (2, 0) and emu.stats.charged == 3
        assert (media / f"{item_id}.mp4").read_bytes() == emu.media_bytes("video", item_id)


async def test_cli_download_that_fails_still_counts_its_calls(tmp_path: Path) -> None:
    async with Emulator(fast=True, keys=KEYS, self_contained=True, media_faults={"http403": 1.0}) as emu:
        item_id = found_id(emu)
        result = await run("download", item_id, "-d", str(tmp_path), "--base-url", emu.base_url)
        assert result.returncode == 1
        assert billed_said(result.stderr) == (2, 0) == (emu.stats.charged, 0)


async def test_cli_batch_download_counts_refetches(tmp_path: Path) -> None:
    async with Emulator(fast=True, keys=KEYS, self_contained=True) as emu:
        wanted = [i for i in (str(10**15 + n) for n in range(8)) if emu.expected_item(i)][:3]
        source = tmp_path / "ids.txt"
        source.write_text("\n".join(wanted) + "\n")
        expire(emu, wanted[0])
        media, out = tmp_path / "media", tmp_path / "out.jsonl"
        first = await run("batch", str(source), "-o", str(out), "--download", str(media), "--kinds", "video,cover",
                          "--base-url", emu.base_url)
        assert first.returncode == 0, first.stderr
        assert billed_said(first.stdout) == (4, 0) and emu.stats.charged == 4  # three items, one refetch
        rerun = await run("batch", str(source), "-o", str(out), "--download", str(media), "--kinds", "video,cover",
                          "--base-url", emu.base_url)
        assert rerun.returncode == 0, rerun.stderr
        assert billed_said(rerun.stdout) == (0, 0) and emu.stats.charged == 4


async def test_cli_batch_retries_a_failed_download_at_its_price(tmp_path: Path) -> None:
    async with Emulator(fast=True, keys=KEYS, self_contained=True) as emu:
        item_id = found_id(emu)
        source = tmp_path / "ids.txt"
        source.write_text(f"{item_id}\n")
        video = emu.expected_item(item_id)["video"]  # type: ignore[index]
        for url in (video["url"], video["url_raw"]):
            emu.script_media(url, ["http404"] * 2)
        args = ("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--download", str(tmp_path / "media"),
                "--base-url", emu.base_url)
        first = await run(*args)
        assert first.returncode == 1
        assert billed_said(first.stdout) == (2, 0) == (emu.stats.charged, 0)  # the item, then fresh URLs
        second = await run(*args)  # the media host is back: the item is asked for again, once
        assert second.returncode == 0, second.stderr
        assert billed_said(second.stdout) == (1, 0) and emu.stats.charged == 3
        assert [json.loads(line)["item_id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [item_id]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_cli_download_killed_mid_file_resumes_on_the_rerun(tmp_path: Path) -> None:
    size = 400_000
    async with Emulator(fast=True, keys=KEYS, self_contained=True, video_size=size, slow_body=3.0) as emu:
        item_id = found_id(emu)
        part = tmp_path / f"{item_id}.mp4.part"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "douyin_async", "download", item_id, "-d", str(tmp_path),
            "--base-url", emu.base_url, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=ENV)
        for _ in range(300):
            if part.exists() and part.stat().st_size > 0:
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        kept = part.stat().st_size
        assert 0 < kept < size
        emu.config.slow_body = 0.0
        rerun = await run("download", item_id, "-d", str(tmp_path), "--base-url", emu.base_url)
        assert rerun.returncode == 0, rerun.stderr
        assert (tmp_path / f"{item_id}.mp4").read_bytes() == emu.media_bytes("video", item_id)
        assert billed_said(rerun.stderr) == (1, 0) and emu.stats.charged == 2  # a missing file: the item again
        assert emu.stats.media_requests == 2
    assert not part.exists()


async def test_get_says_what_the_emulator_billed_under_faults() -> None:
    """``get``'s summary against the emulator's own counter: a cut answer retried is billed once
    for sure and possibly once more; the emulator's count lies within what the summary says."""
    async with Emulator(fast=True, keys=KEYS, found_ratio=1.0) as emu:
        targets = [str(7092264344980868363 + n) for n in range(4)]
        emu.script(targets[0], ["truncated"])
        emu.script(targets[1], ["reset"])
        emu.script(targets[2], ["2000"])
        done = await run("get", *targets, "--base-url", emu.base_url)
        billed, possibly = billed_said(done.stderr + done.stdout)
        assert done.returncode == 1, done.stderr  # the 2000 is a failure
        assert (billed, possibly) == (4, 2)
        assert billed <= emu.stats.charged <= billed + possibly


async def test_download_reruns_do_not_pay_again_for_videos_not_found(tmp_path: Path) -> None:
    async with Emulator(fast=True, keys=KEYS, found_ratio=0.5, seed=5) as emu:
        targets = [str(7092264344980868363 + n) for n in range(8)]
        missing = [t for t in targets if emu.expected_item(t) is None]
        assert 0 < len(missing) < len(targets)
        args = ("download", *targets, "-d", str(tmp_path), "--kinds", "cover", "--base-url", emu.base_url)
        first = await run(*args)
        assert first.returncode == 1 and billed_said(first.stderr + first.stdout) == (len(targets), 0)
        assert emu.stats.charged == len(targets)
        again = await run(*args)
        assert again.returncode == 1, again.stderr
        assert billed_said(again.stderr + again.stdout) == (0, 0) and emu.stats.charged == len(targets)
        assert "--retry-failed" in again.stderr
        retried = await run(*args, "--retry-failed")
        assert billed_said(retried.stderr + retried.stdout) == (len(missing), 0)
        assert emu.stats.charged == len(targets) + len(missing)
