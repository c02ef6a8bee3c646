"""Peak memory of ``douyin-async batch`` against the size of its input: ``python -m benchmarks --only inputs``
(or ``python -m benchmarks.inputs``).

Each case runs the real command in its own process and reports that process's peak RSS (its own
``VmHWM``: ``ru_maxrss`` would count this process's RSS at the fork), beside a one-line input as
the baseline: the difference is what the input costs. Dry runs read the whole input and OUT and
send nothing; real runs write OUT and the errors file, against the fast server. Cases: a million
ids, a million lines without an id (each one a failure the errors file records), a rerun over an
OUT that holds a million results, and an .xlsx sheet of ids and titles, every cell a shared string.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_ID = 7_000_000_000_000_000_000
HEADER = ["input", "run", "peak RSS", "over the baseline", "seconds"]
_CHILD = """
import atexit, runpy, sys
report = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(status.read().split("VmHWM:")[1].split()[0])
atexit.register(peak)
sys.argv[0] = "douyin-async"
runpy.run_module("douyin_async", run_name="__main__", alter_sys=True)
"""


def peak_rss(args: list[str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of ``douyin-async *args`` run in a child process in ``cwd``."""
    env = {**os.environ, "DOUYIN_API_KEY": "k", "DOUYIN_API_SECRET": "s"}
    report = cwd / "peak.txt"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _CHILD, str(report), *args], env=env, cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"douyin-async {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return int(report.read_text()) / 1024, time.monotonic() - started  # kB


def write_ids(path: Path, count: int) -> None:
    with open(path, "w") as stream:
        stream.writelines(f"{FIRST_ID + n * 7919}\n" for n in range(count))


def write_junk(path: Path, count: int) -> None:
    with open(path, "w") as stream:
        stream.writelines(f"line {n} of a list that holds no video at all\n" for n in range(count))


def write_out(path: Path, count: int) -> None:
    with open(path, "w") as stream:
        stream.writelines(f'{{"input":"{FIRST_ID + n * 7919}","item_id":"{FIRST_ID + n * 7919}","item":{{}}}}\n'
                          for n in range(count))


def write_xlsx(path: Path, count: int) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("ids")
    sheet.append(["序号", "视频ID", "标题"])
    for n in range(count):
        sheet.append([n + 1, str(FIRST_ID + n * 7919), f"标题 {n}"])
    book.save(path)


def run(base_url: str, *, lines: int, rows: int, real_ids: int) -> list[list[str]]:
    """The table's rows: each case in a fresh process; real runs fetch from ``base_url``."""
    table = []
    with tempfile.TemporaryDirectory(prefix="douyin-bench-inputs-") as scratch:
        work = Path(scratch)
        write_ids(work / "one.txt", 1)
        write_ids(work / "ids.txt", lines)
        write_ids(work / "fetch.txt", real_ids)
        write_junk(work / "junk.txt", lines)
        write_out(work / "done.jsonl", lines)
        write_xlsx(work / "ids.xlsx", rows)
        sheet = f".xlsx, {rows:,} rows ({(work / 'ids.xlsx').stat().st_size / 2**20:.1f} MiB)"
        real = ["--base-url", base_url, "--no-progress", "--rate", "0", "--concurrency", "64"]
        cases = [
            ("1 id (baseline)", "dry run", ["one.txt", "-o", "new.jsonl", "--dry-run"]),
            (f"{lines:,} ids", "dry run", ["ids.txt", "-o", "new.jsonl", "--dry-run"]),
            (f"{lines:,} lines without an id", "dry run", ["junk.txt", "-o", "new.jsonl", "--dry-run"]),
            (f"{lines:,} lines without an id", "real: all recorded as bad input",
             ["junk.txt", "-o", "junk.jsonl", *real]),
            (f"{real_ids:,} ids", "real: all fetched", ["fetch.txt", "-o", "fetched.jsonl", *real]),
            (f"rerun: {lines:,} ids, all in OUT", "dry run", ["ids.txt", "-o", "done.jsonl", "--dry-run"]),
            (sheet, "dry run", ["ids.xlsx", "-o", "new.jsonl", "--dry-run"]),
            (sheet, "real: all fetched", ["ids.xlsx", "-o", "sheet.jsonl", *real]),
        ]
        baseline = None
        for name, kind, args in cases:
            rss, seconds = peak_rss(["batch", *args], work)
            baseline = rss if baseline is None else baseline
            table.append([name, kind, f"{rss:.0f} MiB", f"{rss - baseline:+.0f} MiB", f"{seconds:.1f}"])
            print("| " + " | ".join(table[-1]) + " |", flush=True)
    return table


def main(argv: list[str] | None = None) -> int:
    from .servers import fast_server

    parser = argparse.ArgumentParser(prog="python -m benchmarks.inputs", description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines of the text inputs (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the .xlsx input (default: %(default)s)")
    parser.add_argument("--fetch", type=int, default=100_000, help="ids a real run fetches (default: %(default)s)")
    options = parser.parse_args(argv)
    with fast_server() as server:
        run(server.base_url, lines=options.lines, rows=options.rows, real_ids=options.fetch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
