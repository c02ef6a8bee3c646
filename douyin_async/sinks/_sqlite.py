"""Results in a SQLite file (standard library): WAL, every commit in a thread of its own.

Results wait for their commit in spool files beside it (``FILE-spool.TABLE.PID-N.0`` and ``.1``),
removed when the run ends; the next run replays what a killed one left there.

The file is marked as ours (``PRAGMA application_id``) when its tables are made; a file that is
not SQLite, or holds another program's tables, or tables of our names with other columns, is
refused with ``ForeignStoreError`` before anything is written to it. Commits run in one thread, so
the event loop never waits on the disk; a lock held by another program is waited for five seconds,
then reported.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from .._locks import lock
from ..errors import ForeignStoreError, InvalidSettingError, StorageError
from ._sink import Sink
from ._spool import Leftovers
from ._tables import (
    DEFAULT_TABLE,
    FAILURE_COLUMNS,
    TOTAL_FIELDS,
    VIDEO_COLUMNS,
    Stored,
    Tables,
    changes_of,
    iso_utc,
    now,
    unstored,
)

APPLICATION_ID = 0x44594153
"""``PRAGMA application_id`` of a douyin-async database ("DYAS")."""
BUSY_SECONDS = 5.0
_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
"""Parameters one statement may take (SQLite's default limit)."""
PAGE_SIZE = 16384
"""Bytes in a page of a new database: a video's row (3 to 4 KiB) fits in one with room to spare,
where SQLite's default 4 KiB page spills most rows onto overflow pages (more writes, 25% more disk)."""
_READ_CHUNK = 10_000
T = TypeVar("T")


class SQLiteSink(Sink):
    """Results in a SQLite file: tables ``videos``, ``failures`` and ``runs`` (see ``Sink``)."""

    HEADER = b"SQLite format 3\x00"
    """What every SQLite file starts with."""

    def __init__(
        self, path: str | os.PathLike[str], *, table: str = DEFAULT_TABLE, settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(table=table, settings=settings)
        if str(path) == ":memory:" or str(path).startswith("file:"):
            raise InvalidSettingError(f"path={str(path)!r}: give a file; results kept in memory are lost, and paid "
                                      "for again, by the next run")
        self.path = Path(path).absolute()  # never one of SQLite's special names
        self._db: sqlite3.Connection | None = None
        self._lock: IO[bytes] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._failed_keys: set[str] | None = None
        """The keys the failures table holds (this run holds the file: no other run writes it), so a
        commit deletes only failures that exist; None until the tables are prepared. A program
        that adds failures by hand while a run writes the file may see them outlive a success."""

    _time = staticmethod(iso_utc)

    def __repr__(self) -> str:
        return f"SQLiteSink({str(self.path)!r}, table={self.tables.videos!r})"

    async def _in_thread(self, work: Any, *args: Any) -> Any:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="douyin-async-sqlite")
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def _connect(self) -> None:
        await self._in_thread(self._connect_here)

    def _connect_here(self) -> None:
        check_ours(self.path, self.tables)
        self._lock = open(self.path, "ab")  # noqa: SIM115 - closed after the database, in _disconnect
        if not lock(self._lock, wait=False):
            self._lock.close()
            self._lock = None
            raise StorageError(f"{self.path}: another douyin-async run is writing it; wait for it to finish, or "
                               "give another file")
        self._db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)

    async def _prepare(self) -> int:
        run_id: int = await self._in_thread(self._prepare_here, self._run_row())
        return run_id

    def _prepare_here(self, row: dict[str, Any]) -> int:
        db = self._db
        assert db is not None
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file's only: rows of a few KiB fit in a page
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a killed process loses no commit
        leftovers = self._leftovers()
        try:
            with _transaction(db):
                run_id = self._prepare_tables(db, leftovers, row)
        except BaseException:
            leftovers.release()
            raise
        leftovers.remove()
        return run_id

    def _prepare_tables(self, db: sqlite3.Connection, leftovers: Leftovers, row: dict[str, Any]) -> int:
        if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            check_ours(self.path, self.tables, db)  # again, inside the write lock
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        for table, columns in self.tables.columns().items():
            key = columns[0][0]
            spec = ", ".join(f"{name} {kind}" for name, kind, _ in columns)
            if table == self.tables.runs:
                spec = spec.replace("run_id INTEGER", "run_id INTEGER PRIMARY KEY AUTOINCREMENT", 1)
                db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({spec})")
            else:
                primary = "item_id" if table == self.tables.videos else key
                db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({spec}, PRIMARY KEY ({primary}))")
        runs = self.tables.runs
        self._failed_keys = {key for key, in db.execute(f"SELECT key FROM {self.tables.failures}")}
        records, totals, started = self._replayed(leftovers)
        self._store_here(db, records)
        for run_id, values in totals.items():
            _update_run(db, self.tables, run_id, values, later_only=True)
        for run_id, count in started.items():
            db.execute(f"UPDATE {runs} SET in_flight = ? - requests WHERE run_id = ? AND status IN ('running', "
                       "'killed') AND ? - requests > in_flight", (count, run_id, count))
        # This sink holds the file's lock: a run still marked running died without closing.
        self.unfinished = [(run_id, max(0, lost or 0)) for run_id, lost in db.execute(
            f"SELECT run_id, {unstored(self.tables, 'r.run_id')} FROM {runs} r WHERE status = 'running' "
            "ORDER BY run_id")]
        db.execute(f"UPDATE {runs} SET status = 'killed' WHERE status = 'running'")
        names = ", ".join(row)
        cursor = db.execute(f"INSERT INTO {runs} ({names}) VALUES ({', '.join('?' * len(row))})",
                            [_value(value) for value in row.values()])
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    @property
    def _shown(self) -> str:
        return str(self.path)

    def _spool_place(self) -> tuple[Path, str]:
        return self.path.parent, f"{self.path.name}-spool.{self.tables.videos}"

    async def _commit(self, records: list[Stored], totals: dict[str, int], end: str | None) -> None:
        await self._in_thread(self._commit_here, records, totals, end)

    def _commit_here(self, records: list[Stored], totals: dict[str, int], end: str | None) -> None:
        db = self._db
        assert db is not None
        assert self.run_id is not None
        try:
            with _transaction(db):
                self._store_here(db, records)
                _update_run(db, self.tables, self.run_id, totals, end=end)
        except BaseException as exc:
            self._failed_keys = None  # rolled back: the set may be ahead of the table; delete every key again
            if isinstance(exc, sqlite3.OperationalError):
                raise self._wrap(exc, "cannot write it") from None
            raise

    def _store_here(self, db: sqlite3.Connection, records: list[Stored]) -> None:
        tables, changes, failed = self.tables, changes_of(records), self._failed_keys
        cleared = list(changes.cleared) if failed is None else [key for key in changes.cleared if key in failed]
        if cleared:
            _delete(db, tables.failures, "key", cleared)
        if changes.videos:
            _upsert(db, tables.videos, VIDEO_COLUMNS, "item_id", list(changes.videos.values()))
        if changes.failures:
            _upsert(db, tables.failures, FAILURE_COLUMNS, "key", list(changes.failures.values()))
        if failed is not None:
            failed.difference_update(cleared)
            failed.update(changes.failures)

    async def _disconnect(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(thread, db.close)
        thread.shutdown(wait=False)
        if self._lock is not None:  # after the database: closing it drops SQLite's own locks on the file
            self._lock.close()
            self._lock = None

    def _wrap(self, exc: BaseException, doing: str) -> StorageError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            text += f" (another program holds it for longer than {BUSY_SECONDS:g} s)"
        return StorageError(f"{self.path}: {doing}: {text}")

    async def _read(self, query: str) -> AsyncIterator[tuple[Any, ...]]:
        """Rows of ``query`` read in chunks in the sink's thread (none if the file or table is missing)."""
        rows = await self._in_thread(_reader, self.path, self.tables, query, self._db is None)
        try:
            while True:
                chunk = await self._in_thread(next, rows, None)
                if chunk is None:
                    return
                for row in chunk:
                    yield row
        finally:
            await self._in_thread(rows.close)
            if self._db is None:
                await self._disconnect()


def _reader(path: Path, tables: Tables, query: str, check: bool) -> Iterator[list[tuple[Any, ...]]]:
    """``check``: the file is not open here yet. Once the sink holds it, its header is not read
    again: closing any descriptor of the file drops the process's POSIX locks on it, SQLite's
    own, and another process's connection could then take itself for the last one and remove the
    write-ahead log the sink still commits to."""
    if check and not check_ours(path, tables):
        return
    try:
        db = sqlite3.connect(path, timeout=BUSY_SECONDS, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot read it: {exc}") from None
    try:
        table = query.rpartition(" FROM ")[2]
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is None:
            return
        cursor = db.execute(query)
        while chunk := cursor.fetchmany(_READ_CHUNK):
            yield chunk
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot read it: {exc}") from None
    finally:
        db.close()


def check_ours(path: Path, tables: Tables, db: sqlite3.Connection | None = None) -> bool:
    """Whether ``path`` holds our tables (False: missing or empty, free to create); raises
    ``ForeignStoreError`` for anything else. Reads only: a foreign file is never altered."""
    if db is None:
        try:
            with open(path, "rb") as stream:
                header = stream.read(len(SQLiteSink.HEADER))
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise ForeignStoreError(f"{path}: is a directory, not a SQLite database") from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
        if not header:
            return False
        if header != SQLiteSink.HEADER:
            raise ForeignStoreError(f"{path}: not a SQLite database; give another file")
    try:
        # Read only: a foreign file's pending WAL is not checkpointed, nor its hot journal rolled back.
        connection = db or sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_SECONDS)
    except sqlite3.Error as exc:
        raise ForeignStoreError(f"{path}: not a SQLite database we can read ({exc}); give another file") from None
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        objects = connection.execute("SELECT type, name FROM sqlite_master").fetchall()
        found = {name: [row[1] for row in connection.execute(f"PRAGMA table_info({name})")]
                 for kind, name in objects if kind == "table"}
    except sqlite3.DatabaseError as exc:
        raise ForeignStoreError(f"{path}: not a SQLite database we can read ({exc}); give another file") from None
    finally:
        if db is None:
            connection.close()
    found.pop("sqlite_sequence", None)
    others = [name for _, name in objects if name != "sqlite_sequence"]
    if application_id not in (0, APPLICATION_ID) or (application_id == 0 and (others or version)):
        raise ForeignStoreError(f"{path}: a SQLite database of another program; give another file")
    for table, columns in tables.columns().items():
        if table in found and found[table] != [name for name, _, _ in columns]:
            raise ForeignStoreError(f"{path}: its table {table} has other columns than douyin-async's; "
                                    "give another file or another table name")
    return bool(found)


def _upsert(
    db: sqlite3.Connection, table: str, columns: tuple[Any, ...], key: str, rows: list[tuple[Any, ...]],
) -> None:
    """Insert or replace ``rows``, many to a statement: ``executemany`` takes the GIL back for each
    row, and a loop busy with requests then makes the writer wait for it each time."""
    names = [name for name, _, _ in columns]
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != key)
    row = f"({', '.join('?' * len(names))})"
    per_statement = max(1, _VARIABLES // len(names))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        db.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([row] * len(chunk))} "
                   f"ON CONFLICT ({key}) DO UPDATE SET {updates}", [value for values in chunk for value in values])


def _delete(db: sqlite3.Connection, table: str, key: str, keys: list[str]) -> None:
    """Delete the rows of ``keys``, many to a statement (``executemany`` would take the GIL back per key)."""
    for start in range(0, len(keys), _VARIABLES):
        chunk = keys[start:start + _VARIABLES]
        db.execute(f"DELETE FROM {table} WHERE {key} IN ({', '.join('?' * len(chunk))})", chunk)


def _update_run(
    db: sqlite3.Connection, tables: Tables, run_id: int, totals: dict[str, int], *, end: str | None = None,
    later_only: bool = False,
) -> None:
    """Write a run's totals, and ``end`` its final status; ``later_only``: a killed run's, unless its
    row is later already (it counts more requests: a spool's lines committed before the kill, or a
    row the run closed itself after a failed commit)."""
    values: list[Any] = [totals[name] for name in TOTAL_FIELDS]
    assignments = ", ".join(f"{name} = ?" for name in TOTAL_FIELDS)
    if end is not None:
        assignments += ", status = ?, ended_at = ?"
        values += [end, _value(now())]
    where = "run_id = ? AND status IN ('running', 'killed') AND requests <= ?" if later_only else "run_id = ?"
    db.execute(f"UPDATE {tables.runs} SET {assignments} WHERE {where}",
               [*values, run_id, *([totals["requests"]] if later_only else [])])


def _value(value: Any) -> Any:
    """A value as SQLite stores it: times as ISO 8601 text in UTC, flags as 0 and 1."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, bool):
        return int(value)
    return value


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): the write lock is taken at once."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
