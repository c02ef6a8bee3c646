"""The command line with --redis: runs side by side share one key's cap in flight."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from douyin_async.emulator import Emulator

from .redis_server import RedisServer

KEYS = {"redis-cli-key": "redis-cli-secret"}
ENV = {**os.environ, "DOUYIN_API_KEY": "redis-cli-key", "DOUYIN_API_SECRET": "redis-cli-secret"}


async def batch(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "douyin_async", "batch", *args, "--no-progress",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_two_runs_with_redis_hold_one_cap_together(tmp_path: Path, redis_server: RedisServer) -> None:
    runs = []
    for n in range(2):
        source = tmp_path / f"ids{n}.txt"
        source.write_text("\n".join(str(7092264344980868363 + 1000 * n + i) for i in range(40)) + "\n")
        runs.append((source, tmp_path / f"out{n}.jsonl"))
    async with Emulator(keys=KEYS, concurrency=2, latency=0.05, found_ratio=1.0) as emu:
        results = await asyncio.gather(*(
            batch(str(source), "-o", str(out), "--base-url", emu.base_url, "--redis", redis_server.url,
                  "--rate", "0", "--concurrency", "2")
            for source, out in runs
        ))
        assert emu.stats.max_in_flight <= 2  # each run alone may hold 2: together they held 2 too
        assert emu.stats.limited["concurrency"] == 0
    for (code, _, err), (_, out) in zip(results, runs, strict=True):
        assert code == 0, err
        assert len(out.read_text().splitlines()) == 40
        assert all(json.loads(line)["item"] for line in out.read_text().splitlines())


async def test_an_unreachable_redis_is_one_line_and_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("7092264344980868363\n")
    code, _, err = await batch(str(source), "-o", str(tmp_path / "out.jsonl"), "--emulator",
                               "--redis", "redis://127.0.0.1:9/0")
    assert code == 2, err
    assert "--redis redis://127.0.0.1:9/0:" in err
    assert "Traceback" not in err


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "douyin_async", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


PASSWORD = "PW-must-not-show-4e1f"


async def test_no_command_echoes_the_redis_password(tmp_path: Path) -> None:
    """Unreachable, malformed or not Redis at all: one line, exit 2, the password masked, for every command."""
    source = tmp_path / "ids.txt"
    source.write_text("7092264344980868363\n")
    urls = [f"redis://user:{PASSWORD}@127.0.0.1:9/0", f"redis://:{PASSWORD}@127.0.0.1:99999/0",
            f"http://user:{PASSWORD}@127.0.0.1:9/0", f"redis://user:{PASSWORD}@[::1/0",
            f"redis://user:{PASSWORD}@x@127.0.0.1:9/0", f"redis://:{PASSWORD}/x@127.0.0.1:9/0",
            f"redis://:{PASSWORD}?x@127.0.0.1:9/0", f"redis://:{PASSWORD} x@127.0.0.1:9/0",
            f"redis://127.0.0.1:9/0?password={PASSWORD}"]
    commands = [["get", "7092264344980868363"], ["download", "7092264344980868363", "-d", str(tmp_path / "media")],
                ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--no-progress"]]
    # Every command with the first URL (unreachable), and each other URL through one command in turn.
    cases = [(command, urls[0]) for command in commands]
    cases += [(commands[n % len(commands)], url) for n, url in enumerate(urls[1:])]
    slots = asyncio.Semaphore(3)

    async def check(command: list[str], url: str) -> None:
        async with slots:
            code, out, err = await cli(*command, "--emulator", "--redis", url)
        assert code == 2, (command, url, err)
        assert PASSWORD not in out + err, (command, url, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert "***" in err or "not a Redis URL" in err or "port" in err, err

    await asyncio.gather(*(check(command, url) for command, url in cases))
