"""The fault matrix's command-line column: ``douyin-async batch`` under every emulator fault.

The command runs in this process (in a thread: it has its own event loop) against the emulator,
with the real flags a user would give. A cell passes when the exit code and the two files say
what the fault means: every id fetched (transient faults), the faulted id recorded with the
documented error (permanent ones), or a stop with the rest left to do (fatal ones); never a
traceback, never exit 70, never an id lost or written twice.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from douyin_async import cli
from douyin_async.emulator import Emulator
from douyin_async.errors import CODES

from .conftest import KEY, SECRET
from .test_fault_matrix import FAULTED, IDS, OUTCOMES

SLOW_ON_PURPOSE = {"4009": "retried after backoff_max (30 s by default): the single-call column covers it"}
CELLS = [pytest.param(fault, id=f"{fault}-cli_batch") for fault in OUTCOMES if fault not in SLOW_ON_PURPOSE]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


@pytest.mark.parametrize("fault", CELLS)
async def test_fault_matrix_cli_cell(fault: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = OUTCOMES[fault]
    source, out, errors = tmp_path / "ids.txt", tmp_path / "out.jsonl", tmp_path / "failed.jsonl"
    source.write_text("\n".join(IDS) + "\n")
    async with Emulator(fast=True, found_ratio=1.0, timeout_delay=0.5, keys={KEY: SECRET}) as emu:
        emu.script(FAULTED, [fault])
        code = await asyncio.wait_for(asyncio.to_thread(cli.main, [
            "batch", str(source), "-o", str(out), "--errors", str(errors), "--base-url", emu.base_url,
            "--key", KEY, "--secret", SECRET, "--rate", "0", "--concurrency", "1", "--retries", "2",
            "--timeout", "0.25", "--no-progress",
        ]), 30)
    err = capsys.readouterr().err
    assert "Traceback" not in err and code != 70, err
    done = [str(r["item_id"]) for r in lines(out)]
    failed = {str(r["item_id"]): r for r in lines(errors)}
    assert len(done) == len(set(done)) and not set(done) & set(failed)
    if expected is None:
        assert code == 0, err
        assert sorted(done) == IDS
    elif fault in CODES and CODES[fault].fatal:
        assert code == 3, err
        assert failed[FAULTED]["error"] == expected.__name__
        assert set(done) | set(failed) <= set(IDS)  # the rest: done before the stop, or still to do
    else:
        assert code == 1, err
        assert failed[FAULTED]["error"] == expected.__name__
        assert sorted([*done, FAULTED]) == IDS
