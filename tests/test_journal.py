"""The batch command's files: torn lines cut in both, failures kept once per id, OUT locked, CSV read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from douyin_async import BatchResult, NotFoundError, ServerError
from douyin_async.cli._journal import Journal, RunLockedError, failure_key
from douyin_async.cli._output import Output


async def journal(tmp_path: Path, fmt: str = "jsonl") -> Journal:
    suffix = ".csv" if fmt == "csv" else ".jsonl"
    opened = Journal(tmp_path / f"out{suffix}", tmp_path / "failed.jsonl", Output(fmt))
    await opened.load()
    return opened


def failure(item_id: str, error: Exception) -> BatchResult:
    return BatchResult(item_id, item_id, None, error, 1, 0, billed=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("torn", [b"", b'{"input":"12', b"x" * 200_000])
async def test_torn_last_line_is_cut_and_complete_lines_kept(tmp_path: Path, torn: bytes) -> None:
    out = tmp_path / "out.jsonl"
    good = b'{"input":"1","item_id":"1","item":{}}\n{"input":"2","item_id":"2","item":{}}\n'
    out.write_bytes(good + torn)
    opened = await journal(tmp_path)
    await opened.open()
    await opened.close()
    assert out.read_bytes() == good
    assert opened.done == {"1", "2"}


async def test_a_torn_line_is_never_read_as_done(tmp_path: Path) -> None:
    (tmp_path / "out.csv").write_bytes(b"input,item_id,title\n1,1,a\n2,2")  # the last row was cut
    opened = await journal(tmp_path, "csv")
    assert opened.done == {"1"}
    await opened.open()
    await opened.close()
    assert (tmp_path / "out.csv").read_bytes() == b"input,item_id,title\n1,1,a\n"


async def test_a_file_that_is_one_torn_line_becomes_empty(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"y" * 150_000)
    opened = await journal(tmp_path)
    await opened.open()
    await opened.close()
    assert out.read_bytes() == b""


async def test_errors_file_keeps_the_latest_failure_of_each_id_and_drops_done_ones(tmp_path: Path) -> None:
    (tmp_path / "out.jsonl").write_bytes(b'{"input":"3","item_id":"3","item":{}}\n')
    records = [
        {"input": "1", "item_id": "1", "code": "4000", "error": "ServerError", "permanent": False},
        {"input": "1", "item_id": "1", "code": "2000", "error": "NotFoundError", "permanent": True},
        {"input": "2", "item_id": "2", "code": "2000", "error": "NotFoundError"},  # an older line: no flag
        {"input": "3", "item_id": "3", "code": "4000", "error": "ServerError", "permanent": False},
        {"input": "x", "item_id": None, "code": "4003", "error": "InvalidParamError", "permanent": True},
    ]
    errors = tmp_path / "failed.jsonl"
    errors.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + b'{"input":"4","ite')
    opened = await journal(tmp_path)
    assert opened.permanent == {"1", "2", "input:x"}
    await opened.open()
    await opened.write(failure("5", ServerError("[4000] busy", code="4000")), "5")
    await opened.write(failure("1", NotFoundError("[2000] gone", code="2000")), "https://www.douyin.com/video/1")
    await opened.close()
    kept = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(r["item_id"], r["code"]) for r in kept] == [("2", "2000"), (None, "4003"), ("5", "4000"), ("1", "2000")]
    assert kept[2]["permanent"] is False and kept[3]["permanent"] is True
    assert kept[3]["billed"] == 1
    assert kept[3]["input"] == "https://www.douyin.com/video/1"
    reread = await journal(tmp_path)
    assert reread.permanent == {"1", "2", "input:x"}
    assert reread.failures == {"1", "2", "input:x", "5"}


async def test_a_long_bad_input_is_quoted_as_a_short_excerpt(tmp_path: Path) -> None:
    opened = await journal(tmp_path)
    await opened.open()
    huge = "x" * 100_000
    await opened.write(BatchResult(huge, None, None, NotFoundError("no id", code="4003"), 0, 0), huge)
    await opened.close()
    line = (tmp_path / "failed.jsonl").read_text()
    assert len(line) < 1000
    assert "(100000 characters)" in line


async def test_a_second_run_on_the_same_out_is_refused(tmp_path: Path) -> None:
    first = await journal(tmp_path)
    await first.open()
    second = await journal(tmp_path)
    with pytest.raises(RunLockedError):
        await second.open()
    await first.close()
    await second.open()  # free again once the first run is over
    await second.close()


async def test_the_errors_file_is_created_only_when_something_fails(tmp_path: Path) -> None:
    opened = await journal(tmp_path)
    await opened.open()
    await opened.close()
    assert (tmp_path / "out.jsonl").exists()
    assert not (tmp_path / "failed.jsonl").exists()



async def test_a_whole_last_line_without_its_newline_is_kept_and_ended(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"input":"1","item_id":"1","item":{}}\n{"input":"2","item_id":"2","item":{}}')
    opened = await journal(tmp_path)
    assert opened.done == {"1", "2"}  # not fetched, and paid for, again
    await opened.open()
    await opened.close()
    assert out.read_bytes().endswith(b'"item":{}}\n')
    assert out.read_bytes().count(b"\n") == 2


async def test_a_long_input_without_an_id_is_known_again_on_the_next_run(tmp_path: Path) -> None:
    long_text = "no id here " * 40
    opened = await journal(tmp_path)
    await opened.open()
    await opened.write(BatchResult(long_text, None, None, NotFoundError("no id", code="4003"), 0, 0), long_text)
    await opened.close()
    reread = await journal(tmp_path)
    assert failure_key(None, long_text) in reread.permanent
