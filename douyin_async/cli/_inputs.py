"""Batch inputs from a text file, CSV, JSONL, an .xlsx sheet or stdin, read lazily and within limits.

A line longer than ``MAX_LINE``, a cell or field longer than ``MAX_VALUE`` or a workbook that
unpacks to more than ``MAX_XLSX_UNPACKED`` is refused with a clear message: such files are not
lists of videos, and reading them whole would cost memory for nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import os
import sys
import threading
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import find_short_link, parse_item_id
from ..errors import DouyinError, InvalidParamError
from ._output import quoted_input
from ._sheet import SheetError, SheetRows

ID_COLUMNS = (
    "item_id", "aweme_id", "video_id", "id", "url", "link", "share_url", "share", "video_url",
    "链接", "视频id", "视频链接", "分享链接", "作品链接", "作品id", "作品地址", "视频地址", "地址", "网址",
)
_MIN_ID_DIGITS = 15
"""A bare number shorter than this is not taken for an id when guessing a column (row numbers)."""
_SNIFF_ROWS = 20
MAX_LINE = 1 << 20
"""Characters in one input line (a CSV row, a JSONL record, a text line)."""
MAX_VALUE = 64 << 10
"""Characters in one input value (an id, URL or share text)."""
MAX_XLSX_UNPACKED = 256 << 20
"""Bytes an .xlsx workbook may unpack to."""


class InputError(Exception):
    """The input file cannot be read as asked (exit code 2)."""


class BadInputError(DouyinError):
    """An input that holds no video id, video URL or short link: recorded as bad input, never sent.

    It has no gateway code: the gateway never saw it.
    """

    def __init__(self, text: str) -> None:
        super().__init__(f"{quoted_input(text)!r} holds no video id, video URL or short link")


def read_inputs(
    path: str, *, fmt: str | None = None, column: str | None = None, field: str | None = None,
    on_column: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Each input value (an id, URL or share text) of ``path`` (``-`` for stdin), lazily.

    ``on_column`` is told which CSV or sheet column the ids are read from, once it is chosen.
    """
    fmt = fmt or input_format_of(path, column, field)
    if fmt == "xlsx":
        yield from _checked(_xlsx(path, column, on_column))
    elif path == "-":
        stdin = io.TextIOWrapper(_stdin(), encoding="utf-8-sig", errors="replace", newline="")
        yield from _checked(_values(_bounded_lines(stdin), fmt, column, field, on_column))
    else:
        with _open(path) as stream:
            yield from _checked(_values(_bounded_lines(stream), fmt, column, field, on_column))


def _stdin() -> io.BufferedReader:
    """Standard input on a descriptor of its own: a thread blocked reading it holds no lock that
    the interpreter needs when it exits."""
    try:
        return open(os.dup(sys.stdin.fileno()), "rb")
    except (OSError, ValueError, io.UnsupportedOperation):  # no descriptor (an embedding program)
        return sys.stdin.buffer  # type: ignore[return-value]


async def values_in_thread(values: Iterator[str], stop: asyncio.Event, *, ahead: int = 256) -> AsyncIterator[str]:
    """``values`` read by a thread, at most ``ahead`` in advance: reading standard input blocks,
    and the event loop must go on (results, Ctrl-C) while it waits for the next line.

    Ends when the values end or ``stop`` is set; an error reading them is raised here.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str | None, BaseException | None]] = asyncio.Queue()
    room = threading.Semaphore(ahead)
    closed = threading.Event()

    def hand(item: tuple[str | None, BaseException | None]) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            closed.set()

    def read() -> None:
        try:
            for value in values:
                room.acquire()
                if closed.is_set():
                    return
                hand((value, None))
        except BaseException as exc:  # handed to the reader, raised there
            hand((None, exc))
            return
        hand((None, None))

    threading.Thread(target=read, name="douyin-async stdin", daemon=True).start()
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            if queue.empty():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait((getter, stopped), return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                value, error = getter.result()
            else:
                value, error = queue.get_nowait()
            room.release()
            if error is not None:
                raise error
            if value is None:
                return
            yield value
    finally:
        stopped.cancel()
        closed.set()
        room.release()


def _values(
    lines: Iterator[str], fmt: str, column: str | None, field: str | None, on_column: Callable[[str], None] | None
) -> Iterator[str]:
    if fmt == "csv":
        return _csv(lines, column, on_column)
    if fmt == "jsonl":
        return _jsonl(lines, field)
    if fmt == "text":
        return (line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    raise InputError(f"unknown input format {fmt!r}: use text, csv, jsonl or xlsx")


def _open(path: str) -> io.TextIOWrapper:
    try:
        return open(path, encoding=_encoding_of(path), errors="replace", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _encoding_of(path: str) -> str:
    """UTF-8 (with or without a BOM), or GB18030 for a file saved by a Chinese Excel or Notepad."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if b"\0" in head:
        raise InputError(f"{path} looks like a binary file, not a list of videos (use .xlsx for a workbook)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            return "gb18030"
    return "utf-8-sig"


def _bounded_lines(stream: io.TextIOBase | Any) -> Iterator[str]:
    """The stream's lines, refusing one longer than ``MAX_LINE`` without reading it whole."""
    number = 0
    while True:
        try:
            line = stream.readline(MAX_LINE + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the input: {exc}") from None
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            raise InputError(f"line {number} is longer than {MAX_LINE} characters: is this a list of videos?")
        yield line


def _checked(values: Iterable[str]) -> Iterator[str]:
    for number, value in enumerate(values, start=1):
        if len(value) > MAX_VALUE:
            raise InputError(f"input {number} is longer than {MAX_VALUE} characters: is this a list of videos?")
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape: no file could hold it
            value = value.encode("utf-8", "replace").decode()
        yield value


def input_format_of(path: str, column: str | None = None, field: str | None = None) -> str:
    """The input format an extension (or ``--column``/``--field``) implies."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    return "csv" if column else "jsonl" if field else "text"


def _looks_like_input(value: Any) -> bool:
    """Whether a cell looks like a video: a long id, a video URL, a share text or a short link."""
    if value is None:
        return False
    text = str(value).strip()
    try:
        parse_item_id(text)
    except InvalidParamError:
        return find_short_link(text) is not None
    return not text.isdigit() or len(text) >= _MIN_ID_DIGITS


def _pick_column(header: list[str], rows: list[list[Any]], column: str | None) -> int:
    """The index of the id column: named, known by its header, or found by its content."""
    names = [str(name).strip().lower() for name in header]
    if column is not None:
        if column.lower() in names:
            return names.index(column.lower())
        raise InputError(f"no column {column!r}; columns are: {', '.join(map(str, header))}")
    for known in ID_COLUMNS:
        if known in names:
            return names.index(known)
    scores = [sum(_looks_like_input(row[i]) for row in rows if i < len(row)) for i in range(len(header))]
    if scores and max(scores) > 0:
        return scores.index(max(scores))
    columns = ", ".join(map(str, header)) or "none: the file is empty"
    raise InputError(f"cannot tell which column holds the ids (columns: {columns}): use --column")


def _rows_with_header(
    rows: Iterator[list[Any]], column: str | None, on_column: Callable[[str], None] | None = None,
    keep_only: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The id column's values; ``keep_only`` is told its index once it is chosen (a sheet reader
    then drops the other columns' cells)."""
    header = next(rows, None)
    if header is None:
        return
    sample = list(itertools.islice(rows, _SNIFF_ROWS))
    if column is None and _looks_like_input(next(iter(header), None)) and not any(
        str(h).strip().lower() in ID_COLUMNS for h in header
    ):
        sample.insert(0, header)  # no header row: the first row is data
        header = [f"column{i + 1}" for i in range(len(header))]
    index = _pick_column([str(h) for h in header], sample, column)
    if on_column is not None:
        on_column(str(header[index]))
    if keep_only is not None:
        keep_only(index)
    for row in itertools.chain(sample, rows):
        if index < len(row) and row[index] is not None and str(row[index]).strip():
            yield _cell_text(row[index])


def _cell_text(value: Any) -> str:
    """A cell as an input; a spreadsheet number too long to hold an id exactly says so."""
    if isinstance(value, float) and value >= 10**_MIN_ID_DIGITS:
        return f"{value!r} is a spreadsheet number, which keeps only 15 digits of an id: format the column as text"
    return str(value).strip()


def _csv(stream: Iterable[str], column: str | None, on_column: Callable[[str], None] | None) -> Iterator[str]:
    lines = iter(stream)
    first = next(lines, "")
    dialect = "excel-tab" if first.count("\t") > first.count(",") else "excel"
    csv.field_size_limit(MAX_VALUE)
    reader = csv.reader(itertools.chain([first], lines), dialect)
    try:
        yield from _rows_with_header(reader, column, on_column)
    except csv.Error as exc:
        raise InputError(f"CSV line {reader.line_num}: {' '.join(str(exc).split())}") from None


def _jsonl(stream: Iterable[str], field: str | None) -> Iterator[str]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise InputError(f"line {number} is not JSON: use --input-format to read it as text") from None
        if not isinstance(record, dict):
            yield str(record)
            continue
        key = field or next((k for k in record if str(k).lower() in ID_COLUMNS), None)
        if key is None or key not in record:
            raise InputError(f"line {number} has no field {field or 'like ' + ID_COLUMNS[0]!r}: use --field")
        yield str(record[key])


def _xlsx(path: str, column: str | None, on_column: Callable[[str], None] | None) -> Iterator[str]:
    """The id column of the active sheet, streamed (``_sheet``): memory stays flat however long it is."""
    _check_unpacked_size(path)
    try:
        with SheetRows(path, limit=MAX_VALUE) as sheet:
            yield from _rows_with_header(iter(sheet), column, on_column, sheet.keep_only)
    except (SheetError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
        # a damaged part, a truncated zip, an unknown compression or an encrypted member
        raise InputError(f"cannot read {path} as an .xlsx workbook: {exc}") from None


def _check_unpacked_size(path: str) -> None:
    """Refuse a workbook that is not a zip or unpacks to more than ``MAX_XLSX_UNPACKED`` (a zip bomb)."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {path} as an .xlsx workbook: {exc}") from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise InputError(
            f"{path} unpacks to {unpacked / 2**20:.0f} MiB, over the {MAX_XLSX_UNPACKED >> 20} MiB limit: "
            "save the id column as CSV instead"
        )
