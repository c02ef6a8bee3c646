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
