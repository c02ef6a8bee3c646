"""Run every benchmark and print markdown tables: ``python -m benchmarks [--quick] [--no-write]``.

Everything talks to 127.0.0.1 only, is bounded in requests and time, and stops the servers it
starts. ``--quick`` uses tiny sizes (about a minute) so CI keeps the benchmarks working, and runs
the rate case that once collapsed (2R, 2C) once: below 0.75 R it exits with status 1. The full
run (each goodput case five times) writes ``benchmarks/RESULTS.md`` and the adaptive-throughput
plot under ``docs/``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

from . import decode, goodput, inputs, overhead, scale, shared_throttle, storage
from .servers import fast_server

ROOT = Path(__file__).resolve().parents[1]
PLOT = ROOT / "docs" / "benchmarks-adaptive.png"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def environment(server_kind: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for package in ("douyin-async", "aiohttp", "msgspec", "tenacity", "aiolimiter", "httpx", "uvloop", "pydantic"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return "\n".join([
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.system()}",
        f"- {', '.join(versions)}",
        f"- fast server: {server_kind}, in its own process on 127.0.0.1",
    ])


SECTIONS = ("overhead", "scale", "inputs", "storage", "goodput", "decode", "redis")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, under a minute")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write RESULTS.md")
    parser.add_argument("--python-server", action="store_true", help="use the aiohttp server even if nginx exists")
    parser.add_argument("--count", type=int, metavar="N",
                        help="overhead: requests per run (default 20000; 1000 with --quick)")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="overhead: interleaved runs of each client (default 5; 1 with --quick)")
    parser.add_argument("--core", action="store_true",
                        help="overhead: only the SDK's two calls and the two hand-written clients")
    parser.add_argument("--only", metavar="SECTIONS", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; sections are {', '.join(SECTIONS)}")
    quick = args.quick
    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError:
        pass

    sections = []
    with fast_server(prefer_nginx=not args.python_server) as server:
        sections.append(("Environment", environment(server.kind)))
        count, rounds = (1000, 1) if quick else (20_000, 5)
        count, rounds = args.count or count, args.rounds or rounds
        rows = []
        for loop in loops if "overhead" in only else []:
            results = overhead.run(server.base_url, count=count, concurrency=64, rounds=rounds, loop=loop,
                                   core=args.core)
            rows += overhead.rows(results, loop)
        if rows:
            sections.append((
                f"Client overhead ({count:,} requests per run, 64 concurrent, throttle off, "
                f"median of {rounds} interleaved runs)",
                markdown(overhead.HEADER, rows),
            ))
            print(sections[-1][1], flush=True)

        sizes = [] if "scale" not in only else [1_000, 5_000] if quick else [10_000, 100_000, 1_000_000]
        scale_rows = []
        for size in sizes:
            measured = scale.measure(server.base_url, size)
            scale_rows.append([f"{size:,}", f"{measured['seconds']:.1f} s", f"{measured['us_per_id']:.0f} µs",
                               f"{measured['peak_rss_mib']:.0f} MiB"])
        if scale_rows:
            sections.append(("Scale (iter_videos, 64 concurrent, one process per size)",
                             markdown(["ids", "time", "time per id", "peak RSS"], scale_rows)))
            print(sections[-1][1], flush=True)

        if "inputs" in only:
            lines, rows, fetch = (20_000, 5_000, 2_000) if quick else (1_000_000, 200_000, 100_000)
            table = inputs.run(server.base_url, lines=lines, rows=rows, real_ids=fetch)
            sections.append(("Inputs: peak memory of douyin-async batch (one process per case)",
                             markdown(inputs.HEADER, table)))

        if "storage" in only:
            count, rounds = (2_000, 1) if quick else (100_000, 3)
            with storage.emulator() as base_url:
                table = storage.run(base_url, count=count, rounds=rounds)
            sections.append((f"Storage: douyin-async batch of {count:,} ids into each kind of OUT (the fast "
                             "emulator, 64 in flight, one process per run)", markdown(storage.HEADER, table)))
            print(sections[-1][1], flush=True)

    goodput_cases: list[goodput.Case] = []
    recovered: goodput.Recovery | None = None
    status = 0
    if "goodput" in only:
        goodput_cases = asyncio.run(goodput.run(quick))
        runs = len(goodput_cases[0].runs)
        sections.append((
            f"Goodput under the gateway's limits (emulator; {runs} run{'s' if runs > 1 else ''} of each case; "
            "the first row of each gateway is the reference)",
            markdown(goodput.HEADER, goodput.table(goodput_cases)),
        ))
        print(sections[-1][1], flush=True)
        sections.append((f"Second by second: {goodput.GATE}, against R = 50/s and C = 4 (answers 50 ms)",
                         "\n".join(goodput.series(goodput_cases))))
        print(sections[-1][1], flush=True)
        floor = goodput.gate(goodput_cases)
        if floor is not None and floor < goodput.FLOOR:
            print(f"FAIL: {goodput.GATE} reached {floor:.2f} R in its worst run, below the floor of "
                  f"{goodput.FLOOR} R", file=sys.stderr)
            status = 1
        if not quick:
            recovered = asyncio.run(goodput.recovery())
            reached = recovered.seconds_to(0.9)
            sections.append((
                "Recovery after a second user of the key stops",
                f"Rate limit R = {recovered.ceiling:g}/s shared with a greedy second client for "
                f"{recovered.stopped_at:g} s; then the key is ours alone. The client's learned rate was back "
                f"at 0.9 R {reached:.1f} s after the other stopped." if reached is not None else
                "The client's learned rate did not reach 0.9 R within the run.",
            ))
            print(sections[-1][1], flush=True)

    if "decode" in only:
        number = 2_000 if quick else 20_000
        sections.append(("Decode (the seed's success body)", markdown(decode.HEADER, decode.run(number))))
        print(sections[-1][1], flush=True)

    if "redis" in only:
        sections += _redis_sections(quick)

    if not args.no_write and not quick and only == set(SECTIONS):
        plotted = goodput.plot(goodput_cases, recovered, str(PLOT))
        body = "\n\n".join(f"## {title}\n\n{text}" for title, text in sections)
        if plotted:
            body += f"\n\n## Adaptive throughput over time\n\n![adaptive throughput](../docs/{PLOT.name})\n"
        (ROOT / "benchmarks" / "RESULTS.md").write_text(
            "# Benchmark results\n\nProduced by `python -m benchmarks`; see docs/benchmarks.md.\n\n" + body,
            encoding="utf-8",
        )
        print(f"wrote {ROOT / 'benchmarks' / 'RESULTS.md'}", file=sys.stderr)
    return status


def _redis_sections(quick: bool) -> list[tuple[str, str]]:
    """The shared throttle's cost and its goodput across processes; a note if redis-server is absent."""
    title = "Shared throttle (RedisThrottle)"
    if not shared_throttle.available():
        note = "skipped: redis-server is not installed (apt-get install redis-server)"
        print(f"{title}: {note}", flush=True)
        return [(title, note)]
    with shared_throttle.redis_server() as url:
        cost = markdown(shared_throttle.COST_HEADER, asyncio.run(shared_throttle.cost(url, quick)))
        print(cost, flush=True)
        rows = asyncio.run(shared_throttle.goodput(url, quick))
        goodput_table = markdown(shared_throttle.GOODPUT_HEADER, shared_throttle.table(rows))
        print(goodput_table, flush=True)
        series = "\n".join(shared_throttle.series(rows))
        print(series, flush=True)
    return [
        (f"{title}: cost of one acquire + release, one at a time", cost),
        (f"{title}: goodput of processes sharing one key (emulator; the first row of each gateway is the "
         "reference)", goodput_table),
        (f"{title}: each run of the case {shared_throttle.TWICE!r}, second by second", series),
    ]


if __name__ == "__main__":
    sys.exit(main())
