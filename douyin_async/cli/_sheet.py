"""The rows of an .xlsx workbook's active sheet, read as a stream: memory does not grow with the sheet.

An .xlsx is a zip of XML parts. The sheet (``xl/worksheets/sheetN.xml``) is parsed as it is
unpacked, a row at a time; its text cells mostly point into one table of shared strings
(``xl/sharedStrings.xml``), which is spilled to a temporary file first, so that what stays in
memory is the table's offsets, 8 bytes a string. Once the id column is chosen, only its cells
are kept and looked up. Parts that declare a DTD are refused (no workbook has one; entities are
how XML bombs grow). Values are what a spreadsheet shows: a formula's saved result; a formula
saved without one (by a program that does not compute them) is a ``Formula`` cell.
"""

from __future__ import annotations

import posixpath
import tempfile
import zipfile
from array import array
from collections.abc import Callable, Iterator
from typing import IO, Any
from xml.parsers import expat

_CHUNK = 1 << 16
MAX_COLUMNS = 16384
"""Excel's columns (XFD): a cell reference beyond them is a damaged sheet, not a wide one."""


class SheetError(Exception):
    """The workbook is damaged or not a workbook: what is wrong, in a few words."""


class Formula:
    """A formula cell saved without its value: no input, and the user can fix that."""

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def __str__(self) -> str:
        return (f"cell {self.ref} is a formula saved without its value: open the workbook in Excel or WPS, "
                "save it, and rerun (or paste the column as values)")


def _local(name: str) -> str:
    return name.rpartition(" ")[2]


def _parse(
    archive: zipfile.ZipFile, part: str, start: Callable[[str, dict[str, str]], None],
    end: Callable[[str], None], text: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Feed ``part`` to expat a chunk at a time, yielding after each chunk: the handlers collect,
    the caller takes what they collected, so nothing piles up."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True

    def refuse(*_: Any) -> None:
        raise SheetError(f"{part} declares a DTD")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = lambda name, attrs: start(_local(name), {_local(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda name: end(_local(name))
    if text is not None:
        parser.CharacterDataHandler = text
    try:
        with archive.open(part) as stream:
            while chunk := stream.read(_CHUNK):
                parser.Parse(chunk, False)
                yield
            parser.Parse(b"", True)
    except KeyError:
        raise SheetError(f"it has no {part}") from None
    except expat.ExpatError as exc:
        raise SheetError(f"{part}: {exc}") from None
    yield


def _drain(parts: Iterator[None]) -> None:
    for _ in parts:
        pass


def _relations(archive: zipfile.ZipFile, source: str) -> dict[str, tuple[str, str]]:
    """``Id -> (type, part)`` of the relationships of part ``source`` (``""`` for the package)."""
    folder, name = posixpath.split(source)
    found: dict[str, tuple[str, str]] = {}

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "Relationship" and "Id" in attrs and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            found[attrs["Id"]] = (attrs.get("Type", ""), part)

    rels = posixpath.join(folder, "_rels", f"{name}.rels")
    if rels in archive.NameToInfo:
        _drain(_parse(archive, rels, start, lambda tag: None))
    return found


def _active_sheet(archive: zipfile.ZipFile) -> tuple[str, str | None]:
    """(the active sheet's part, the shared strings' part or None)."""
    book = next((part for kind, part in _relations(archive, "").values() if kind.endswith("/officeDocument")),
                "xl/workbook.xml")
    sheets: list[str] = []
    active = [0]

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "sheet":
            sheets.append(attrs.get("id", ""))
        elif tag == "workbookView" and attrs.get("activeTab", "").isdigit():
            active[0] = int(attrs["activeTab"])

    _drain(_parse(archive, book, start, lambda tag: None))
    relations = _relations(archive, book)
    strings = next((part for kind, part in relations.values() if kind.endswith("/sharedStrings")), None)
    if not sheets:
        raise SheetError("it has no sheet")
    kind, part = relations.get(sheets[min(active[0], len(sheets) - 1)], ("", ""))
    if not kind.endswith("/worksheet"):
        raise SheetError("its active sheet holds no cells (a chart sheet?)")
    return part, strings


class _Strings:
    """The shared strings, in a temporary file; in memory only where each one starts."""

    def __init__(self, archive: zipfile.ZipFile, part: str | None, limit: int) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._starts = array("Q", [0])
        if part is None:
            return
        pieces: list[str] = []
        size = [0]
        depth = {"si": 0, "t": 0, "rPh": 0}

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag in depth:
                depth[tag] += 1

        def end(tag: str) -> None:
            if tag in depth:
                depth[tag] -= 1
            if tag == "si":
                self._file.write("".join(pieces).encode("utf-8", "surrogatepass"))
                self._starts.append(self._file.tell())
                pieces.clear()
                size[0] = 0

        def text(data: str) -> None:
            if depth["si"] and depth["t"] and not depth["rPh"] and size[0] <= limit:
                pieces.append(data[:limit + 1 - size[0]])  # a value this long is refused by its length
                size[0] += len(pieces[-1])

        try:
            _drain(_parse(archive, part, start, end, text))
        except BaseException:
            self.close()
            raise

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < len(self._starts) - 1:
            raise SheetError(f"a cell points at shared string {index}, which does not exist")
        self._file.seek(self._starts[index])
        return self._file.read(self._starts[index + 1] - self._starts[index]).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._file.close()


def _column(ref: str) -> int | None:
    """The 0-based column of a cell reference such as ``AB12``."""
    number = 0
    for char in ref:
        if "A" <= char <= "Z":
            number = number * 26 + ord(char) - 64
        else:
            break
    return number - 1 if number else None


def _number(text: str) -> int | float | str:
    """A number cell as the spreadsheet stored it: an int when it has no fraction or exponent."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


class _Cursor:
    """Where the sheet's parser is: the element whose text it reads, the next column, inside a phonetic run."""

    __slots__ = ("inside", "next", "phonetic")

    def __init__(self) -> None:
        self.inside, self.next, self.phonetic = "", 0, 0


class SheetRows:
    """The rows of the active sheet of the workbook at ``path``, as lists of values (``None`` for an
    empty cell); rows with no value are left out. ``keep_only(column)`` keeps only that column's
    values from then on. Use as a context manager (it holds the zip and a temporary file)."""

    def __init__(self, path: str, *, limit: int) -> None:
        self._archive = zipfile.ZipFile(path)
        self._strings: _Strings | None = None
        self._limit = limit
        self._only: int | None = None

    def __enter__(self) -> SheetRows:
        return self

    def __exit__(self, *_: object) -> None:
        if self._strings is not None:
            self._strings.close()
        self._archive.close()

    def keep_only(self, column: int) -> None:
        self._only = column

    def __iter__(self) -> Iterator[list[Any]]:
        sheet, strings_part = _active_sheet(self._archive)
        strings = self._strings = _Strings(self._archive, strings_part, self._limit)
        limit = self._limit
        rows: list[list[Any]] = []
        row: dict[int, Any] = {}
        cell: dict[str, Any] = {}
        state = _Cursor()

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == "c":
                ref = attrs.get("r", "")
                column = _column(ref) if ref else state.next
                if column is None or column >= MAX_COLUMNS:
                    raise SheetError(f"cell reference {ref[:20]!r} is not one")
                state.next = column + 1
                cell.clear()
                cell.update(column=column, ref=ref or f"column {column + 1}", type=attrs.get("t", "n"))
            elif tag in ("v", "t", "f"):
                state.inside = tag
                cell[tag] = cell.get(tag, "") if tag == "t" else ""
            elif tag == "rPh":
                state.phonetic += 1
            elif tag == "row":
                row.clear()
                state.next = 0

        def text(data: str) -> None:
            if state.inside and not state.phonetic and len(cell.get(state.inside, "")) <= limit:
                cell[state.inside] += data[:limit + 1]

        def end(tag: str) -> None:
            if tag in ("v", "t", "f"):
                state.inside = ""
            elif tag == "rPh":
                state.phonetic -= 1
            elif tag == "c":
                if self._only is None or cell["column"] == self._only:
                    value = _value(cell, strings)
                    if value is not None and value != "":
                        row[cell["column"]] = value
            elif tag == "row":
                if row:
                    values: list[Any] = [None] * (max(row) + 1)
                    for column, value in row.items():
                        values[column] = value
                    rows.append(values)
                row.clear()

        for _ in _parse(self._archive, sheet, start, end, text):
            yield from rows
            rows.clear()


def _value(cell: dict[str, Any], strings: _Strings) -> Any:
    kind, saved = cell["type"], cell.get("v")
    if kind == "inlineStr":
        return cell.get("t")
    if saved is None or saved == "":
        return Formula(cell["ref"]) if "f" in cell else None
    if kind == "s":
        try:
            return strings[int(saved)]
        except ValueError:
            raise SheetError(f"cell {cell['ref']} points at shared string {saved[:20]!r}") from None
    if kind == "b":
        return saved.strip() in ("1", "true")
    if kind in ("str", "e", "d"):
        return saved
    return _number(saved)
