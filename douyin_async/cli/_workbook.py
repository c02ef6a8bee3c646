"""Results as an .xlsx workbook, rebuilt at the end of every run from the CSV journal beside it.

A workbook cannot be appended to a row at a time, nor cut at a torn row after a crash, so a run
writes its resumable CSV journal (``OUT.csv``: ``results.xlsx`` has ``results.xlsx.csv``) as
``--format csv`` would, and replaces the workbook from it, whole, when it ends.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from ._files import replacing
from ._output import CSV_COLUMNS, unguarded

SHEET_ROWS = 1_048_576
"""Rows in one worksheet, its header included (Excel's limit); more results go to more sheets."""
CELL_CHARACTERS = 32_767
"""Characters in one cell (Excel's limit)."""
_NOT_IN_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What XML 1.0 cannot hold: most control characters, lone surrogates, U+FFFE and U+FFFF."""


def write_workbook(journal: Path, workbook: Path) -> int:
    """Replace ``workbook`` with the results in ``journal``; returns how many there are.

    Every cell is text, a formula never: ids keep all their digits, and a title that starts
    with ``=`` stays a title (without the ``'`` the journal guards it with). Characters XML cannot
    hold are dropped. The workbook is replaced through ``replacing``: no link is followed.
    """
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    header = list(CSV_COLUMNS)
    sheet: Any = None
    rows = in_sheet = 0
    with open(journal, encoding="utf-8", errors="replace", newline="") as stream:
        for row in csv.reader(stream):
            if row == header or len(row) != len(header):
                continue
            if sheet is None or in_sheet == SHEET_ROWS:
                name = "results" if sheet is None else f"results {rows // (SHEET_ROWS - 1) + 1}"
                sheet, in_sheet = book.create_sheet(name), 1
                sheet.append(header)
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=_NOT_IN_XML.sub("", unguarded(value))[:CELL_CHARACTERS])
                cell.data_type = "s"
                cells.append(cell)
            sheet.append(cells)
            rows, in_sheet = rows + 1, in_sheet + 1
    if sheet is None:
        book.create_sheet("results").append(header)
    with replacing(workbook) as stream:
        book.save(stream)
    return rows
