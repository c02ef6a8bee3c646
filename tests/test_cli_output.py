"""What the real command says, and to whom: a reader that goes away (``| head``), the summary's
words and numbers, the closing progress line, and options spelled as people type them."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from douyin_async.emulator import Emulator

from .conftest import SEED_ID

KEYS = {"k": "s"}
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "DOUYIN_API_KEY": "k", "DOUYIN_API_SECRET": "s"}
FOUND = [str(7092264344980868363 + n) for n in range(40) if Emulator().expected_item(str(7092264344980868363 + n))]
MISSING = next(str(i) for i in range(10**15, 10**15 + 100) if Emulator().expected_item(str(i)) is None)
QUIET = ("Broken pipe", "BrokenPipeError", "Exception ignored", "Traceback")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


async def run(*args: str, stdout: int = asyncio.subprocess.PIPE, stderr: int = asyncio.subprocess.PIPE) -> Result:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "douyin_async", *args, stdout=stdout,
                                                   stderr=stderr, env=ENV)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Result(process.returncode, (out or b"").decode(), (err or b"").decode())


async def run_into_closed_pipe(*args: str, stderr_too: bool = False) -> Result:
    """The command with its standard output (and error) a pipe whose reader has already gone."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return await run(*args, stdout=writer, stderr=writer if stderr_too else asyncio.subprocess.PIPE)
    finally:
        os.close(writer)


cli = run


@pytest.mark.parametrize("json", [False, True], ids=["summary", "json"])
async def test_get_whose_reader_went_away_stops_asking_and_exits_quietly(json: bool) -> None:
    async with Emulator(fast=True, keys=KEYS) as emu:
        result = await run_into_closed_pipe("get", *FOUND[:3], "--base-url", emu.base_url, *(["--json"] if json else []))
        asked = emu.stats.requests
    assert result.returncode == 0, result.stderr
    assert not any(word in result.stderr for word in QUIET), result.stderr
    assert asked == 1  # nobody reads the output: the next videos are not asked for (nor billed)
    assert "billed calls 1, possibly billed 0" in result.stderr


async def test_download_whose_reader_went_away_downloads_everything_and_exits_quietly(tmp_path: Path) -> None:
    async with Emulator(fast=True, keys=KEYS, self_contained=True) as emu:
        result = await run_into_closed_pipe("download", *FOUND[:2], "--base-url", emu.base_url, "-d", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert not any(word in result.stderr for word in QUIET), result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{i}.mp4" for i in FOUND[:2])


@pytest.mark.parametrize("stderr_too", [False, True], ids=["stdout", "stdout-and-stderr"])
async def test_batch_whose_reader_went_away_finishes_with_its_own_exit_code(tmp_path: Path, stderr_too: bool) -> None:
    source, out = tmp_path / "ids.txt", tmp_path / "out.jsonl"
    source.write_text("\n".join([*FOUND[:5], MISSING]) + "\n")
    async with Emulator(fast=True, keys=KEYS) as emu:
        result = await run_into_closed_pipe("batch", str(source), "-o", str(out), "--base-url", emu.base_url,
                                      "--no-progress", stderr_too=stderr_too)
    assert result.returncode == 1, result.stderr  # one video is missing: said by the code, not by a message
    assert not any(word in (result.stderr or "") for word in QUIET), result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5


async def test_summary_names_codes_and_the_closing_progress_line_is_printed_once(tmp_path: Path) -> None:
    source, out = tmp_path / "ids.txt", tmp_path / "out.jsonl"
    source.write_text(f"{MISSING}\n")
    async with Emulator(fast=True, keys=KEYS) as emu:
        result = await cli("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--no-progress")
    assert result.returncode == 1, result.stderr
    assert "ok 0, failed 1 [2000 Search success but no result: 1], not yet tried 0" in result.stdout
    progress = [line for line in result.stderr.splitlines() if line.startswith("done ")]
    assert len(progress) == 1, result.stderr
    assert progress[0].startswith("done 1/1  ok 0  failed 2000:1")


async def test_a_rerun_exits_1_while_out_lacks_videos_that_failed_for_good(tmp_path: Path) -> None:
    source, out = tmp_path / "ids.txt", tmp_path / "out.jsonl"
    source.write_text(f"{SEED_ID}\n{MISSING}\n")
    async with Emulator(fast=True, keys=KEYS) as emu:
        first = await cli("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        rerun = await cli("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        assert emu.stats.requests == 2  # the rerun sent nothing
        source.write_text(f"{SEED_ID}\n")
        complete = await cli("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
    assert (first.returncode, rerun.returncode, complete.returncode) == (1, 1, 0), rerun.stderr
    assert "1 failed for good before" in rerun.stdout


async def test_formats_are_accepted_in_any_case(tmp_path: Path) -> None:
    source, out = tmp_path / "ids.list", tmp_path / "out.txt"
    source.write_text(f"{SEED_ID}\n")
    async with Emulator(fast=True, keys=KEYS) as emu:
        result = await cli("batch", str(source), "-o", str(out), "--format", "CSV", "--input-format", "Text",
                     "--base-url", emu.base_url)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8").startswith("input,item_id,title")
