"""Memory of the batch command is bounded by what is in flight, not by the input: per-line costs.

Each measure runs in a child process at two input sizes and takes its peak RSS: the difference
over the extra lines is what one more line costs, whatever the interpreter and imports cost. (The
costs measured here are a few dozen bytes a line, against hundreds when lines were kept.)
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from douyin_async.cli._inputs import InputError, read_inputs
from douyin_async.cli._journal import _permanent_keys
from douyin_async.cli._keys import KeySet

linux = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")


def test_a_keyset_with_keys_discarded_answers_as_a_set_does() -> None:
    chance = random.Random(7)
    keys = [str(7_000_000_000_000_000_000 + chance.randrange(5000)) for _ in range(3000)]
    keys += [f"input:line {chance.randrange(5000)}" for _ in range(3000)]
    ours, theirs = KeySet(), set()
    for key in keys:
        if chance.random() < 0.35:
            ours.discard(key)
            theirs.discard(key)
        else:
            ours.add(key)
            theirs.add(key)
    assert len(ours) == len(theirs)
    assert all((key in ours) == (key in theirs) for key in keys)


def _peak(script: str, *args: str) -> int:
    """Peak RSS in bytes of a child process running ``script``: its own ``VmHWM`` (``ru_maxrss``
    would count the parent's RSS at the fork, pytest's)."""
    program = f"import sys\n{textwrap.dedent(script)}\n" \
              "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    done = subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) * 1024  # in kB


_JOURNAL = """
from pathlib import Path
from douyin_async import BatchResult
from douyin_async.cli._batch import Planner
from douyin_async.cli._inputs import BadInputError
from douyin_async.cli._journal import Journal
from douyin_async.cli._output import Output
import asyncio
work, count = Path(sys.argv[1]), int(sys.argv[2])
async def main():
    journal = Journal(work / "out.jsonl", work / "out.failed.jsonl", Output("jsonl"))
    await journal.load()
    await journal.open()
    planner = Planner(journal, retry_failed=False, short_link_hosts=("v.douyin.com",))
    for number in range(count):
        text = f"line {number} of a list that holds no video at all"
        if planner.sort(text)[0] == "invalid":
            await journal.write(BatchResult(text, None, None, BadInputError(text), 0, -1), text)
    await journal.close()
asyncio.run(main())
"""


@linux
def test_a_run_over_lines_without_an_id_keeps_no_line_in_memory(tmp_path: Path) -> None:
    """A line that fails (here: holds no id) costs its key, a few bytes, not its record."""
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    extra = 30_000  # about 90 bytes a line; when each failure's line was kept, about 370
    grown = _peak(_JOURNAL, str(large), str(1000 + extra)) - _peak(_JOURNAL, str(small), "1000")
    assert grown / extra < 200, f"{grown / extra:.0f} bytes a line"
    assert len((large / "out.failed.jsonl").read_text().splitlines()) == 1000 + extra
    assert len(_permanent_keys(large / "out.failed.jsonl")) == 1000 + extra


def _workbook(path: Path, rows: list[list[str | None]], *, active: int = 0, sheets: int = 1,
              cells: dict[tuple[int, int], str] | None = None) -> None:
    """A minimal .xlsx: text cells through shared strings; ``cells`` holds raw ``<c>`` XML by (row, column)."""
    strings: list[str] = []
    body = []
    for number, row in enumerate(rows, start=1):
        xml = []
        for column, value in enumerate(row):
            ref = f"{chr(65 + column)}{number}"
            if cells and (number, column) in cells:
                xml.append(cells[number, column].replace("REF", ref))
            elif value is not None:
                xml.append(f'<c r="{ref}" t="s"><v>{len(strings)}</v></c>')
                strings.append(value)
        body.append(f'<row r="{number}">{"".join(xml)}</row>')
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.sheet.main+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.'
                      'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for n in range(1, sheets + 1))
            + '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sharedStrings+xml"/></Types>'),
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<workbook {main} xmlns:r="{rel}"><bookViews><workbookView activeTab="{active}"/></bookViews><sheets>'
            + "".join(f'<sheet name="s{n}" sheetId="{n}" r:id="rId{n}"/>' for n in range(1, sheets + 1))
            + "</sheets></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{n}" Type="{rel}/worksheet" Target="/xl/worksheets/sheet{n}.xml"/>'
                      for n in range(1, sheets + 1))
            + f'<Relationship Id="rId99" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'),
        "xl/sharedStrings.xml": (
            f'<sst {main} count="{len(strings)}" uniqueCount="{len(strings)}">'
            + "".join(f"<si><t>{escape(text)}</t></si>" for text in strings) + "</sst>"),
    }
    other = f'<worksheet {main}><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>other</t></is></c></row>' \
            "</sheetData></worksheet>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        for n in range(1, sheets + 1):
            sheet = f'<worksheet {main}><sheetData>{"".join(body)}</sheetData></worksheet>' if n - 1 == active else other
            archive.writestr(f"xl/worksheets/sheet{n}.xml", sheet)


_SHEET = """
from pathlib import Path
from douyin_async.cli._inputs import read_inputs
assert sum(1 for _ in read_inputs(sys.argv[1])) == int(sys.argv[2])
"""


@linux
def test_a_workbook_of_many_shared_strings_is_read_without_holding_them(tmp_path: Path) -> None:
    def rows(count: int) -> list[list[str | None]]:
        return [["序号", "视频ID", "标题"]] + [
            [f"row {n}", str(7_000_000_000_000_000_000 + n), f"a title that says something about video {n}"]
            for n in range(count)]

    extra = 20_000  # about 40 bytes a row; when openpyxl held the shared strings, 1,100
    _workbook(tmp_path / "small.xlsx", rows(1000))
    _workbook(tmp_path / "large.xlsx", rows(1000 + extra))
    grown = (_peak(_SHEET, str(tmp_path / "large.xlsx"), str(1000 + extra))
             - _peak(_SHEET, str(tmp_path / "small.xlsx"), "1000"))
    assert grown / extra < 100, f"{grown / extra:.0f} bytes a row"


ID = "7092264344980868359"


def test_a_formula_saved_without_its_value_is_an_input_that_says_so(tmp_path: Path) -> None:
    cells = {(2, 0): '<c r="REF"><f>CONCAT("70","92")</f></c>',
             (3, 0): f'<c r="REF" t="str"><f>CONCAT("7092","264344980868359")</f><v>{ID}</v></c>'}
    _workbook(tmp_path / "ids.xlsx", [["item_id"], [None], [None], ["7092264344980868360"]], cells=cells)
    values = list(read_inputs(str(tmp_path / "ids.xlsx")))
    assert values[1:] == [ID, "7092264344980868360"]
    assert values[0].startswith("cell A2 is a formula saved without its value: open the workbook in Excel or WPS")


def test_the_active_sheet_inline_and_rich_text_and_rows_after_blank_ones(tmp_path: Path) -> None:
    cells = {(3, 1): f'<c r="REF" t="inlineStr"><is><r><t>{ID[:9]}</t></r><r><t>{ID[9:]}</t></r>'
                     "<rPh><t>ignored</t></rPh></is></c>",
             (4, 1): '<c r="REF"><v>7.0922643449808681E+18</v></c>'}
    _workbook(tmp_path / "ids.xlsx", [[None, None], [None, "链接"], [None, None], ["4", None]],
              active=1, sheets=2, cells=cells)
    values = list(read_inputs(str(tmp_path / "ids.xlsx")))
    assert values[0] == ID
    assert "is a spreadsheet number, which keeps only 15 digits" in values[1]


def test_a_workbook_part_with_a_dtd_is_refused(tmp_path: Path) -> None:
    _workbook(tmp_path / "ids.xlsx", [["item_id"], [ID]])
    with zipfile.ZipFile(tmp_path / "ids.xlsx") as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/sharedStrings.xml"] = b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaa">]>' + \
        parts["xl/sharedStrings.xml"]
    with zipfile.ZipFile(tmp_path / "ids.xlsx", "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(InputError, match=r"as an \.xlsx workbook: xl/sharedStrings\.xml declares a DTD"):
        list(read_inputs(str(tmp_path / "ids.xlsx")))


def test_a_formula_cell_without_a_value_is_bad_input_in_the_errors_file(tmp_path: Path) -> None:
    from douyin_async.cli import main

    _workbook(tmp_path / "ids.xlsx", [["item_id"], [None]], cells={(2, 0): '<c r="REF"><f>A1&amp;"x"</f></c>'})
    code = main(["batch", str(tmp_path / "ids.xlsx"), "-o", str(tmp_path / "out.jsonl"), "--emulator"])
    assert code == 1
    (line,) = (tmp_path / "out.failed.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["error"] == "BadInputError" and record["input"].startswith("cell A2 is a formula saved without")
