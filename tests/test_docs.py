"""The documentation's error tables say what the code's single table does, in English and Chinese."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from douyin_async.errors import CODES

ROOT = Path(__file__).resolve().parents[1]


def test_error_pages_are_written_from_the_code_table() -> None:
    check = subprocess.run([sys.executable, str(ROOT / "docs" / "_tools" / "gen_errors.py"), "--check"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_every_code_has_a_row_in_both_languages() -> None:
    for page in ("errors.md", "errors.zh.md"):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        for code, info in CODES.items():
            rows = [line for line in text.splitlines() if line.startswith(f"| {code} |")]
            assert len(rows) == 1, f"{page}: {code}"
            assert info.reason in rows[0]
