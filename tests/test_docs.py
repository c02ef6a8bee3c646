"""The documentation's error table says what the code table does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from douyin_async.errors import CODES

DOC = Path(__file__).resolve().parents[1] / "docs" / "client.md"


@pytest.mark.parametrize("code", sorted(CODES))
def test_error_table_row_matches_code_table(code: str) -> None:
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith(f"| {code} |")]
    assert len(rows) == 1, f"docs/client.md has no single row for {code}"
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    info = CODES[code]
    if info.error is not None:
        assert f"`{info.error.__name__}`" == cells[2]
    assert cells[3] == ("yes" if info.charged else "no")
    assert cells[4].startswith("yes") == info.retryable
    assert cells[5] == ("yes" if info.fatal else "no")
    assert re.fullmatch(r"\d{4}", cells[0])
