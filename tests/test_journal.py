"""The batch command's output file survives a write cut short, whatever the torn line's length."""

from __future__ import annotations

from pathlib import Path

import pytest

from douyin_async.cli._journal import Journal


@pytest.mark.parametrize("torn", [b"", b'{"input":"12', b"x" * 200_000])
def test_torn_last_line_is_cut_and_complete_lines_kept(tmp_path: Path, torn: bytes) -> None:
    out = tmp_path / "out.jsonl"
    good = b'{"input":"1","item_id":"1","item":{}}\n{"input":"2","item_id":"2","item":{}}\n'
    out.write_bytes(good + torn)
    journal = Journal(str(out), None)
    journal.close()
    assert out.read_bytes() == good
    assert journal.done == {"1", "2"}


def test_a_file_that_is_one_torn_line_becomes_empty(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"y" * 150_000)
    Journal(str(out), None).close()
    assert out.read_bytes() == b""
