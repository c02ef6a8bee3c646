"""Peak memory of ``douyin-async batch`` against the size of its input: ``python -m benchmarks.inputs``.

Each case runs the real command in its own process (``--dry-run``, so the planner reads the whole
input and OUT and nothing is sent) and reports that process's peak RSS, beside a one-line input
as the baseline: the difference is what the input costs. Cases: a million ids, a million lines
without an id, a rerun over an OUT that holds a million results, and an .xlsx sheet of ids.
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


def peak_rss(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of ``douyin-async *args`` run in a child process."""
    env = {**os.environ, "DOUYIN_API_KEY": "k", "DOUYIN_API_SECRET": "s"}
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "douyin_async", *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.stderr is not None
    error = child.stderr.read().decode()
    child.stderr.close()
    if child.returncode not in (0, 1):
        raise RuntimeError(f"douyin-async {' '.join(args)} exited {child.returncode}: {error}")
    return usage.ru_maxrss / 1024, time.monotonic() - started  # Linux reports KiB


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inputs", description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines of the text inputs (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the .xlsx input (default: %(default)s)")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        write_ids(work / "one.txt", 1)
        write_ids(work / "ids.txt", options.lines)
        write_junk(work / "junk.txt", options.lines)
        write_out(work / "done.jsonl", options.lines)
        write_xlsx(work / "ids.xlsx", options.rows)
        cases = [
            ("1 id (baseline)", ["one.txt", "-o", "new.jsonl"]),
            (f"{options.lines:,} ids", ["ids.txt", "-o", "new.jsonl"]),
            (f"{options.lines:,} lines without an id", ["junk.txt", "-o", "new.jsonl"]),
            (f"rerun: {options.lines:,} ids, all in OUT", ["ids.txt", "-o", "done.jsonl"]),
            (f".xlsx, {options.rows:,} rows ({(work / 'ids.xlsx').stat().st_size / 2**20:.1f} MiB)",
             ["ids.xlsx", "-o", "new.jsonl"]),
        ]
        print("| input (--dry-run) | peak RSS | over the baseline | seconds |")
        print("|---|---|---|---|")
        baseline = None
        for name, args in cases:
            rss, seconds = peak_rss(["batch", *(str(work / a) if not a.startswith("-") else a for a in args),
                                     "--dry-run"])
            baseline = rss if baseline is None else baseline
            print(f"| {name} | {rss:.0f} MiB | {rss - baseline:+.0f} MiB | {seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
