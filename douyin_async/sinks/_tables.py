"""The three tables a sink keeps, the same in SQLite and PostgreSQL, and what goes in their rows.

``videos`` holds one row per video (keyed by ``item_id``: a refetch replaces it), ``failures`` the
latest failure of each id or input that has no video (keyed by ``key``: the id, ``input:TEXT`` for
an input without one, ``download:ID`` for media), ``runs`` one row per run with the ledger's totals.
A table name given by the user (``videos`` by default) names the other two: ``NAME_failures`` and
``NAME_runs``, except for the default, whose tables are ``videos``, ``failures`` and ``runs``.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import DouyinError, InvalidSettingError
from ._rows import VIDEO_FIELDS, flat_video, readable_item

DEFAULT_TABLE = "videos"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")
_POSTGRES_RESERVED = frozenset({
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "binary",
    "both", "case", "cast", "check", "collate", "collation", "column", "concurrently", "constraint", "create",
    "cross", "current_catalog", "current_date", "current_role", "current_schema", "current_time",
    "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
    "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike", "in",
    "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral", "leading", "left", "like",
    "limit", "localtime", "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or",
    "order", "outer", "overlaps", "placing", "primary", "references", "returning", "right", "select",
    "session_user", "similar", "some", "symmetric", "system_user", "table", "tablesample", "then", "to", "trailing",
    "true", "union", "unique", "user", "using", "variadic", "verbose", "when", "where", "window", "with"
})
"""The words PostgreSQL's documentation marks reserved (some of them "can be function or type"):
none of them names a table unquoted."""

Column = tuple[str, str, str]
"""A column's name, its SQLite type and its PostgreSQL type."""

VIDEO_COLUMNS: tuple[Column, ...] = (
    ("input", "TEXT", "text"),
    *((name, "TEXT", "text") for name in VIDEO_FIELDS),
    ("item", "TEXT", "text"),
    ("attempts", "INTEGER", "integer"),
    ("billed", "INTEGER", "integer"),
    ("request_id", "TEXT", "text"),
    ("server_time", "TEXT", "text"),
    ("fetched_at", "TEXT", "timestamptz"),
    ("run_id", "INTEGER", "bigint"),
)
FAILURE_COLUMNS: tuple[Column, ...] = (
    ("key", "TEXT", "text"),
    ("input", "TEXT", "text"),
    ("item_id", "TEXT", "text"),
    ("kind", "TEXT", "text"),
    ("code", "TEXT", "text"),
    ("error", "TEXT", "text"),
    ("message", "TEXT", "text"),
    ("permanent", "INTEGER", "boolean"),
    ("attempts", "INTEGER", "integer"),
    ("billed", "INTEGER", "integer"),
    ("possibly_billed", "INTEGER", "integer"),
    ("failed_at", "TEXT", "timestamptz"),
    ("run_id", "INTEGER", "bigint"),
)
# ``in_flight``: requests sent and not answered at the last commit; for a killed run, the requests
# it started (``Sink.on_event``) that had no answer at its last result: it may have been billed for them.
TOTAL_FIELDS = (
    "requests", "billed", "possibly_billed", "not_billed", "refused", "retries", "in_flight", "fetched", "failed",
)
RUN_COLUMNS: tuple[Column, ...] = (
    ("run_id", "INTEGER", "bigint"),
    ("started_at", "TEXT", "timestamptz"),
    ("ended_at", "TEXT", "timestamptz"),
    ("status", "TEXT", "text"),
    ("host", "TEXT", "text"),
    ("pid", "INTEGER", "integer"),
    *((name, "INTEGER", "bigint") for name in TOTAL_FIELDS),
    ("settings", "TEXT", "text"),
)


@dataclass(frozen=True)
class Tables:
    """The names of one sink's three tables."""

    videos: str
    failures: str
    runs: str

    @classmethod
    def named(cls, table: str) -> Tables:
        """The tables of ``table``: checked to be a plain SQL name, so it is never quoted wrong."""
        if not isinstance(table, str) or not _NAME.fullmatch(table):
            raise InvalidSettingError(f"table={table!r}: give a name of lowercase letters, digits and _ "
                                      "(at most 48), not starting with a digit")
        if not _plain_name(table):
            raise InvalidSettingError(f"table={table!r}: a word of SQL, which a database would not take as a "
                                      "table's name; give another name")
        if table == DEFAULT_TABLE:
            return cls("videos", "failures", "runs")
        return cls(table, f"{table}_failures", f"{table}_runs")

    def columns(self) -> dict[str, tuple[Column, ...]]:
        return {self.videos: VIDEO_COLUMNS, self.failures: FAILURE_COLUMNS, self.runs: RUN_COLUMNS}


def unstored(tables: Tables, run_id: str) -> str:
    """SQL for the calls run ``run_id`` (an SQL expression) may have paid for whose answer it did not
    store: what its ledger counted at its last result, and what it had in flight then, less what its
    stored rows say they cost. For a run killed since: the ids asked again."""
    return (f"(SELECT billed + possibly_billed + in_flight FROM {tables.runs} WHERE run_id = {run_id})"
            f" - (SELECT coalesce(sum(billed), 0) FROM {tables.videos} WHERE run_id = {run_id})"
            f" - (SELECT coalesce(sum(billed + possibly_billed), 0) FROM {tables.failures} WHERE run_id = {run_id})")


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Stored:
    """One result on its way to the tables, its row built already (in the event loop: the writer's
    thread then runs little but the database's own code)."""

    key: str
    kind: str
    """``fetch``, or ``download`` for a video's media."""
    ok: bool
    row: tuple[Any, ...] | None
    """The video's row, or the failure's (None for a download that succeeded: its failure goes)."""


@dataclass
class Changes:
    """What one commit does: videos upserted, failures upserted, failures removed (by key)."""

    videos: dict[str, tuple[Any, ...]]
    failures: dict[str, tuple[Any, ...]]
    cleared: set[str]


def changes_of(records: list[Stored]) -> Changes:
    """What ``records`` do, in their order: a later record of a key wins, a video or a successful
    download removes the key's failure."""
    changes = Changes({}, {}, set())
    for record in records:
        if record.row is None or record.ok:
            changes.failures.pop(record.key, None)
            changes.cleared.add(record.key)
            if record.row is not None:
                changes.videos[record.key] = record.row
            continue
        changes.cleared.discard(record.key)
        changes.failures[record.key] = record.row
    return changes


def video_row(input: str, response: Any, attempts: int, billed: int, at: Any, run_id: int) -> tuple[Any, ...]:
    """A row of ``videos`` (``at``: the time, as the database takes it)."""
    item = readable_item(response.raw_item).decode("utf-8", "replace")
    return (input, *flat_video(response), item, attempts, billed, response.request_id, response.server_time, at,
            run_id)


def failure_row(
    key: str, input: str, item_id: str | None, kind: str, error: BaseException, permanent: bool, attempts: int,
    billed: int, possibly_billed: int, at: Any, run_id: int,
) -> tuple[Any, ...]:
    """A row of ``failures``."""
    code = error.code if isinstance(error, DouyinError) else None
    return (key, input, item_id, kind, code, type(error).__name__, str(error), permanent, attempts, billed,
            possibly_billed, at, run_id)


def utc(seconds: float) -> datetime:
    """A time as PostgreSQL takes it: an aware datetime in UTC."""
    return datetime.fromtimestamp(seconds, timezone.utc)


def iso_utc(seconds: float) -> str:
    """A time as SQLite keeps it: ISO 8601 text in UTC, to the millisecond (its date functions read it)."""
    whole = math.floor(seconds)
    micros = round((seconds - whole) * 1e6)  # to the microsecond first, half to even, as datetime does
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return f"{_iso_second(whole)}.{micros // 1000:03d}+00:00"


@functools.lru_cache(maxsize=4)
def _iso_second(whole: int) -> str:
    """A whole second's part of ``iso_utc``: formatted once for the thousands of results in it."""
    return utc(whole).strftime("%Y-%m-%dT%H:%M:%S")


def _plain_name(name: str) -> bool:
    """Whether both databases take ``name`` as a table's name unquoted: SQLite is asked itself."""
    if name in _POSTGRES_RESERVED:
        return False
    database = sqlite3.connect(":memory:")
    try:
        database.execute(f"CREATE TABLE {name} (x)")
    except sqlite3.Error:
        return False
    finally:
        database.close()
    return True
