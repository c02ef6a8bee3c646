"""How the batch command writes a result: a JSONL line with the gateway's item, or a flat CSV row.

Both are one line per result (CSV fields have their line breaks replaced by spaces), so a torn
last line can be cut the same way, and both carry the id a rerun needs to skip the input.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from .. import ItemGetVideoResponse
from ..sinks import SQLiteSink
from ..sinks._rows import VIDEO_FIELDS, flat_video, readable_item

_ENCODE = msgspec.json.Encoder().encode
EXCERPT = 200
"""Characters of an input kept in the errors file: enough to find it, never a whole bad line."""

CSV_COLUMNS = ("input", *VIDEO_FIELDS)


def quoted_input(text: Any) -> Any:
    """An input as the output files quote it: whole if short, else its start and its length."""
    if isinstance(text, str) and len(text) > EXCERPT:
        return f"{text[:EXCERPT]}... ({len(text)} characters)"
    return text


class Output:
    """Successes as JSONL (``{"input", "item_id", "item"}``) or CSV rows of ``CSV_COLUMNS``."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt

    def header(self) -> bytes:
        """What a new, empty file starts with."""
        return _csv_line(CSV_COLUMNS) if self.format == "csv" else b""

    def line(self, input_text: Any, response: ItemGetVideoResponse) -> bytes:
        if self.format == "csv":
            return _csv_line((str(quoted_input(input_text)), *flat_video(response)))
        return b'{"input":%s,"item_id":%s,"item":%s}\n' % (
            _ENCODE(quoted_input(input_text)), _ENCODE(response.item.num_iid), readable_item(response.raw_item)
        )

    def done_ids(self, lines: Iterable[bytes]) -> Iterator[str]:
        """The ids of the results already in a file of this format."""
        if self.format == "csv":
            for row in csv.DictReader(line.decode("utf-8", "replace") for line in lines):
                if row.get("item_id"):
                    yield row["item_id"]
            return
        for line in lines:
            try:
                record = _DONE.decode(line)
            except msgspec.DecodeError:
                continue
            if record.item_id:
                yield record.item_id


    def is_whole(self, line: bytes) -> bool:
        """Whether a last line without its newline is a whole result (never sure for a CSV row)."""
        if self.format == "csv":
            return False
        try:
            return _DONE.decode(line).item_id is not None
        except msgspec.DecodeError:
            return False


class _Done(msgspec.Struct):
    item_id: str | None = None


_DONE = msgspec.json.Decoder(_Done)


class ForeignFileError(Exception):
    """A file given as OUT or as the errors file holds something else: it is never written."""


def format_of_existing(path: Path) -> str | None:
    """The format of the results already in ``path`` (None if it is missing or empty).

    Raises ``ForeignFileError`` when its first line is neither a CSV header of ours nor a
    JSONL result: appending to such a file would mix results into someone else's data.
    """
    try:
        with open(path, "rb") as stream:
            first = stream.readline(1 << 20)
    except FileNotFoundError:
        return None
    if not first.strip():
        return None
    if first.startswith(SQLiteSink.HEADER):
        return "sqlite"
    if first.rstrip(b"\r\n") == _csv_line(CSV_COLUMNS).rstrip(b"\n"):
        return "csv"
    try:
        if _DONE.decode(first).item_id is not None:
            return "jsonl"
    except msgspec.DecodeError:
        pass
    raise ForeignFileError(str(path))


def _csv_line(fields: tuple[str, ...]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [guarded(" ".join(field.splitlines()) if "\n" in field or "\r" in field else field) for field in fields]
    )
    return buffer.getvalue().encode()


_FORMULA = re.compile("'*[=+\\-@\t\r＝＋－＠]")
"""What a spreadsheet may run as a formula at the start of a cell, behind any apostrophes (the
full-width forms too: some locales' spreadsheets take them for the ASCII ones)."""


def guarded(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula gets a ``'`` first.

    Values that already start with apostrophes before such a character get one more, so
    ``unguarded`` gives every value back exactly; ids are digits and are never changed.
    """
    return "'" + value if _FORMULA.match(value) else value


def unguarded(value: str) -> str:
    """The value ``guarded`` was given."""
    return value[1:] if value.startswith("'") and _FORMULA.match(value, 1) else value


OUTPUT_SUFFIXES = {
    ".csv": "csv", ".xlsx": "xlsx", ".sqlite": "sqlite", ".db": "sqlite", ".sqlite3": "sqlite", ".parquet": "parquet",
}


def output_format_of(path: str) -> str:
    """The output format an extension implies (``OUTPUT_SUFFIXES``), else JSONL."""
    return OUTPUT_SUFFIXES.get(Path(path).suffix.lower(), "jsonl")
