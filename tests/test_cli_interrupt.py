"""Ctrl-C and SIGTERM on a real process: stop sending, keep what is in flight, say so, exit 130."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from douyin_async.emulator import Emulator

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "DOUYIN_API_KEY": "k", "DOUYIN_API_SECRET": "s"}
IDS = [str(7092264344980868363 + n) for n in range(200)]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


async def start_batch(tmp_path: Path, base_url: str) -> asyncio.subprocess.Process:
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(IDS) + "\n")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "douyin_async", "batch", str(source), "-o", str(tmp_path / "out.jsonl"),
        "--base-url", base_url, "--rate", "0", "--concurrency", "4", "--no-progress",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )


async def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while not path.exists() or path.read_bytes().count(b"\n") < count:
        assert time.monotonic() < deadline, "the run wrote nothing"
        await asyncio.sleep(0.05)


def valid_ids(path: Path) -> list[str]:
    return [json.loads(line)["item_id"] for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_first_signal_stops_sending_keeps_in_flight_answers_and_exits_130(
    tmp_path: Path, signal_number: signal.Signals
) -> None:
    async with Emulator(keys={"k": "s"}, latency=0.3, found_ratio=1.0) as emu:
        process = await start_batch(tmp_path, emu.base_url)
        await wait_for_lines(tmp_path / "out.jsonl", 8)
        process.send_signal(signal_number)
        sent_at_signal = emu.stats.requests
        out, err = await asyncio.wait_for(process.communicate(), 60)
        # Sends already under way, or sent but not yet read by the emulator in this busy process,
        # are at most one per slot (--concurrency 4); a run that kept going would send ~180 more.
        assert emu.stats.requests <= sent_at_signal + 4
        answered = emu.stats.charged
    assert process.returncode == 130, err
    assert "interrupted: rerun the same command to resume" in err.decode()
    assert b"billed calls" in out
    written = valid_ids(tmp_path / "out.jsonl")
    assert len(written) == answered  # every billed answer in flight was waited for and kept
    assert len(set(written)) == len(written)
    left = len(IDS) - len(written)
    assert f"({left} of {len(IDS)} inputs not yet tried)" in err.decode()  # unread ones too
    # One number, in one word, wherever it is said; and the progress line counts only what was tried.
    assert f"ok {len(written)}, failed 0, not yet tried {left}\n" in out.decode()
    last = [line for line in err.decode().splitlines() if line.startswith("done ")][-1]
    assert last.startswith(f"done {len(written)}/{len(IDS)}  ok {len(written)}  failed 0  not yet tried {left}  "), last

    async with Emulator(fast=True, keys={"k": "s"}, found_ratio=1.0) as emu:
        rerun = await start_batch(tmp_path, emu.base_url)
        _, err = await asyncio.wait_for(rerun.communicate(), 60)
        assert rerun.returncode == 0, err
        assert emu.stats.requests == len(IDS) - len(written)
    assert sorted(valid_ids(tmp_path / "out.jsonl")) == sorted(IDS)


async def test_second_signal_leaves_at_once_with_out_still_valid(tmp_path: Path) -> None:
    async with Emulator(keys={"k": "s"}, latency=0.2, found_ratio=1.0) as emu:
        process = await start_batch(tmp_path, emu.base_url)
        await wait_for_lines(tmp_path / "out.jsonl", 4)
        emu.config.latency = 30.0  # what is in flight now would keep a graceful stop waiting
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGINT)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 20)
        assert time.monotonic() - started < 10
    assert process.returncode == 130, err
    assert b"leaving now" in err
    valid_ids(tmp_path / "out.jsonl")  # every line parses


async def test_emulator_command_stops_cleanly_and_explains_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "douyin_async", "emulator", "--port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(busy.communicate(), 30)
    assert busy.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: already in use" in err.decode()
    assert b"Traceback" not in err
    for entry in (["-m", "douyin_async", "emulator"], ["-m", "douyin_async.emulator"]):
        process = await asyncio.create_subprocess_exec(
            sys.executable, *entry, "--port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"emulator listening" in line
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err
        assert b"Traceback" not in err
