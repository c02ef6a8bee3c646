"""Reading inputs as a user's spreadsheet has them: the id column found, odd cells explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from douyin_async.cli._inputs import read_inputs


def test_a_row_number_column_is_not_taken_for_ids(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    rows = [f"{n},标题{n},https://www.douyin.com/video/70368135073991547{n:02d}" for n in range(1, 11)]
    sheet.write_text("序号,标题,作品地址\n" + "\n".join(rows) + "\n", encoding="utf-8")
    chosen: list[str] = []
    values = list(read_inputs(str(sheet), on_column=chosen.append))
    assert chosen == ["作品地址"]
    assert values[0] == "https://www.douyin.com/video/7036813507399154701"


def test_a_column_of_plain_numbers_is_still_found_when_they_are_long_enough(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("n,v\n1,7036813507399154757\n2,7036813507399154758\n")
    assert list(read_inputs(str(sheet))) == ["7036813507399154757", "7036813507399154758"]


def test_an_xlsx_number_that_lost_digits_says_so(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl", reason="openpyxl is in the test extra")
    book = openpyxl.Workbook()
    book.active.append(["视频ID"])
    book.active.append([7051670413966950000.0])
    book.save(tmp_path / "ids.xlsx")
    (value,) = read_inputs(str(tmp_path / "ids.xlsx"))
    assert "format the column as text" in value


def test_a_lone_surrogate_in_jsonl_becomes_a_replacement_character(tmp_path: Path) -> None:
    source = tmp_path / "ids.jsonl"
    source.write_text('{"id": "\\\\ud800 https://www.douyin.com/video/7092264344980868359"}\n')
    (value,) = read_inputs(str(source))
    value.encode()  # writable to any file
    assert value.endswith("7092264344980868359")
