"""Batch inputs from a text file, CSV, JSONL, an .xlsx sheet or stdin, read lazily."""

from __future__ import annotations

import csv
import io
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import find_short_link, parse_item_id
from ..errors import InvalidParamError

ID_COLUMNS = (
    "item_id", "aweme_id", "video_id", "id", "url", "link", "share_url", "share", "video_url",
    "链接", "视频id", "视频链接", "分享链接", "作品链接", "作品id",
)
_SNIFF_ROWS = 20


class InputError(Exception):
    """The input file cannot be read as asked (exit code 2)."""


def read_inputs(
    path: str, *, fmt: str | None = None, column: str | None = None, field: str | None = None
) -> Iterator[str]:
    """Each input value (an id, URL or share text) of ``path`` (``-`` for stdin), lazily."""
    fmt = fmt or _format_of(path, column, field)
    if fmt == "xlsx":
        return _xlsx(path, column)
    stream = sys.stdin if path == "-" else _open(path)
    if fmt == "csv":
        return _csv(stream, column)
    if fmt == "jsonl":
        return _jsonl(stream, field)
    if fmt == "text":
        return (line.strip() for line in stream if line.strip() and not line.lstrip().startswith("#"))
    raise InputError(f"unknown input format {fmt!r}: use text, csv, jsonl or xlsx")


def _open(path: str) -> io.TextIOWrapper:
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _format_of(path: str, column: str | None, field: str | None) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv") or column:
        return "csv"
    if suffix in (".jsonl", ".ndjson") or field:
        return "jsonl"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    return "text"


def _looks_like_input(value: Any) -> bool:
    if value is None:
        return False
    text = str(value)
    try:
        parse_item_id(text)
    except InvalidParamError:
        return find_short_link(text) is not None
    return True


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
    raise InputError(f"cannot tell which column holds the ids ({', '.join(map(str, header))}): use --column")


def _rows_with_header(rows: Iterator[list[Any]], column: str | None) -> Iterator[str]:
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
    for row in itertools.chain(sample, rows):
        if index < len(row) and row[index] is not None and str(row[index]).strip():
            yield str(row[index]).strip()


def _csv(stream: Iterable[str], column: str | None) -> Iterator[str]:
    lines = iter(stream)
    first = next(lines, "")
    dialect = "excel-tab" if first.count("\t") > first.count(",") else "excel"
    return _rows_with_header(csv.reader(itertools.chain([first], lines), dialect), column)


def _jsonl(stream: Iterable[str], field: str | None) -> Iterator[str]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InputError(f"line {number} is not JSON") from None
        if not isinstance(record, dict):
            yield str(record)
            continue
        key = field or next((k for k in record if str(k).lower() in ID_COLUMNS), None)
        if key is None or key not in record:
            raise InputError(f"line {number} has no field {field or 'like ' + ID_COLUMNS[0]!r}: use --field")
        yield str(record[key])


def _xlsx(path: str, column: str | None) -> Iterator[str]:
    try:
        import openpyxl
    except ImportError:
        raise InputError("reading .xlsx needs openpyxl: pip install 'douyin-async[xlsx]'") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    rows = (list(row) for row in book.active.iter_rows(values_only=True))
    try:
        yield from _rows_with_header(rows, column)
    finally:
        book.close()
