"""Where results go, and what it costs a run: ``python -m benchmarks --only storage`` (or
``python -m benchmarks.storage --count N --rounds N``).

The real ``douyin-async batch`` fetches the same ids from the fast server into each kind of OUT,
one fresh process in a fresh directory per run (each must send a request for every id: a
failures file left by an earlier run would make it skip some), interleaved (jsonl, csv, sqlite,
parquet, postgres, jsonl, ...) so that drift on a noisy machine hits all of them alike. The table
gives medians of wall time and of the command's CPU (user + system, its children's), and each
format's wall time against JSON lines in the same round (median of the per-round ratios).
PostgreSQL runs against a private cluster on loopback (fsync off), when its server is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .inputs import FIRST_ID, write_ids

HEADER = ["OUT", "runs", "wall s (median)", "CPU s (median)", "ids/s", "wall vs jsonl (median of rounds)"]
FORMATS = ("videos.jsonl", "videos.csv", "videos.sqlite", "videos.parquet", "postgres")


@contextlib.contextmanager
def emulator(latency: float = 0.0) -> Iterator[str]:
    """The bundled emulator with ``--fast`` (no limits; answers after ``latency`` seconds) in a
    process of its own; its base URL."""
    from .servers import free_port

    port = free_port()
    slow = ["--latency", str(latency)] if latency else []
    process = subprocess.Popen([sys.executable, "-m", "douyin_async", "emulator", "--fast", "--port", str(port),
                                "--key", "k=s", *slow], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/douyin"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    """A private PostgreSQL cluster's URL, or None when its server is not installed."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.postgres_server import AVAILABLE, PostgresServer

    if not AVAILABLE:
        yield None
        return
    server = PostgresServer()
    server.start()
    try:
        yield server.url()
    finally:
        server.remove()


_BILLED = re.compile(r"billed calls (\d+)")


def _one(args: list[str], cwd: Path, count: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``douyin-async *args`` in a child process, which must have
    sent a request for each of the ``count`` ids: a run that skipped some would look fast."""
    env = {**os.environ, "DOUYIN_API_KEY": "k", "DOUYIN_API_SECRET": "s"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "douyin_async", *args], env=env, cwd=cwd,
                          capture_output=True, text=True)  # the summary alone on stdout
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # 1: some ids are not found (the emulator has a few)
        raise RuntimeError(f"douyin-async {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    billed = _BILLED.findall(done.stdout)
    if not billed or int(billed[-1]) != count:
        raise RuntimeError(f"douyin-async {' '.join(args)} billed {billed[-1] if billed else 'no'} calls for "
                           f"{count} ids: the run did not start from nothing")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(base_url: str, *, count: int, rounds: int, formats: tuple[str, ...] = FORMATS) -> list[list[str]]:
    """The table's rows, one per format present on this machine."""
    walls: dict[str, list[float]] = {name: [] for name in formats}
    cpus: dict[str, list[float]] = {name: [] for name in formats}
    databases = postgres() if "postgres" in formats else contextlib.nullcontext(None)
    with tempfile.TemporaryDirectory(prefix="douyin-bench-storage-") as scratch, databases as database:
        ids = Path(scratch) / "ids.txt"
        write_ids(ids, count)
        real = ["--base-url", base_url, "--no-progress", "--rate", "0", "--concurrency", "64"]
        present = [name for name in formats if name != "postgres" or database is not None]
        for number in range(rounds):
            for name in present:
                # A directory of its own: a file an earlier run left (its failures, a journal) would
                # make this one skip ids, as a rerun does.
                work = Path(tempfile.mkdtemp(prefix=f"round{number}-", dir=scratch))
                out = [database, "--table", f"round{number}"] if name == "postgres" and database else [name]
                try:
                    wall, cpu = _one(["batch", str(ids), "-o", *out, *real], work, count)
                finally:
                    shutil.rmtree(work)
                walls[name].append(wall)
                cpus[name].append(cpu)
                print(f"round {number + 1}: {name} {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    rows = []
    for name in present:
        ratios = [wall / base for wall, base in zip(walls[name], walls["videos.jsonl"], strict=True)]
        wall = statistics.median(walls[name])
        label = "postgresql://… (COPY + ON CONFLICT)" if name == "postgres" else name
        rows.append([label, str(len(walls[name])), f"{wall:.1f}", f"{statistics.median(cpus[name]):.1f}",
                     f"{count / wall:,.0f}", f"{statistics.median(ratios):.2f}"])
    return rows


async def killed_twice(out: str, count: int, stored: Any, runs: Any) -> dict[str, Any]:
    """SIGKILL a run at a third and at two thirds of ``count`` ids, rerun to the end: what was billed,
    what the runs table says, what was asked twice. ``stored(work)`` counts the videos in OUT so far,
    ``runs(work)`` reads the runs table."""
    import asyncio
    import signal

    from douyin_async.emulator import Emulator

    with tempfile.TemporaryDirectory(prefix="douyin-bench-kill-") as scratch:
        work = Path(scratch)
        write_ids(work / "ids.txt", count)
        env = {**os.environ, "DOUYIN_API_KEY": "k", "DOUYIN_API_SECRET": "s"}
        async with Emulator(fast=True, keys={"k": "s"}) as emu:
            args = [sys.executable, "-m", "douyin_async", "batch", "ids.txt", "-o", out, "--base-url", emu.base_url,
                    "--no-progress", "--rate", "0", "--concurrency", "64"]
            found = sum(emu.expected_item(str(FIRST_ID + n * 7919)) is not None for n in range(count))
            for mark in (found // 3, 2 * found // 3):
                process = await asyncio.create_subprocess_exec(*args, cwd=work, env=env, stdout=subprocess.DEVNULL,
                                                               stderr=subprocess.DEVNULL)
                while await asyncio.to_thread(stored, work) < mark and process.returncode is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                process.send_signal(signal.SIGKILL)
                await process.wait()
            last = await asyncio.create_subprocess_exec(*args, cwd=work, env=env, stdout=subprocess.PIPE,
                                                        stderr=subprocess.PIPE)
            _, err = await last.communicate()
            return {"charged": emu.stats.charged, "ids": count, "found": found, "stored": stored(work),
                    "runs": runs(work),
                    "note": [line for line in err.decode().splitlines() if line.startswith("note: run")]}


def main(argv: list[str] | None = None) -> int:
    from .servers import fast_server

    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__)
    parser.add_argument("--count", type=int, default=100_000, help="ids per run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each format (default: %(default)s)")
    parser.add_argument("--server", choices=["emulator", "nginx"], default="emulator",
                        help="the fast emulator (default), or nginx: a server that costs the machine almost nothing")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated (default: all)")
    parser.add_argument("--latency", type=float, default=0.0, help="the emulator's answers take this long (s)")
    options = parser.parse_args(argv)
    unknown = [name for name in options.formats.split(",") if name not in FORMATS]
    if unknown:
        parser.error(f"--formats: {', '.join(unknown)}: choose among {', '.join(FORMATS)}")
    if "videos.jsonl" not in options.formats.split(","):
        parser.error("--formats: include videos.jsonl: every other format is measured against it")
    server = emulator(options.latency) if options.server == "emulator" else fast_server()
    with server as served:
        base_url = served if isinstance(served, str) else served.base_url
        rows = run(base_url, count=options.count, rounds=options.rounds, formats=tuple(options.formats.split(",")))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
