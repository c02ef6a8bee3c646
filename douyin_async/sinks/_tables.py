"""The three tables a sink keeps, the same in SQLite and PostgreSQL, and what goes in their rows.

``videos`` holds one row per video (keyed by ``item_id``: a refetch replaces it), ``failures`` the
latest failure of each id or input that has no video (keyed by ``key``: the id, ``input:TEXT`` for
an input without one, ``download:ID`` for media), ``runs`` one row per run with the ledger's totals.
A table name given by the user (``videos`` by default) names the other two: ``NAME_failures`` and
``NAME_runs``, except for the default, whose tables are ``videos``, ``failures`` and ``runs``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import DouyinError, InvalidSettingError
from ._rows import VIDEO_FIELDS, flat_video, readable_item

DEFAULT_TABLE = "videos"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")

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
# ``in_flight``: requests sent whose results are not stored yet (answers awaited, or queued for the
# writer) at the last commit; a run killed then may have been billed for them.
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
        if table == DEFAULT_TABLE:
            return cls("videos", "failures", "runs")
        return cls(table, f"{table}_failures", f"{table}_runs")

    def columns(self) -> dict[str, tuple[Column, ...]]:
        return {self.videos: VIDEO_COLUMNS, self.failures: FAILURE_COLUMNS, self.runs: RUN_COLUMNS}


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Stored:
    """One result on its way to the tables: a video, or a failure (``error``), with its key."""

    key: str
    input: str
    item_id: str | None
    response: Any
    error: BaseException | None
    kind: str
    attempts: int
    billed: int
    possibly_billed: int
    permanent: bool
    at: datetime


@dataclass
class Changes:
    """What one commit does: videos upserted, failures upserted, failures removed (by key)."""

    videos: dict[str, tuple[Any, ...]]
    failures: dict[str, tuple[Any, ...]]
    cleared: set[str]


def changes_of(records: list[Stored], run_id: int) -> Changes:
    """The rows for ``records``, in their order: a later record of a key wins, a video or a
    successful download removes the key's failure."""
    changes = Changes({}, {}, set())
    for record in records:
        if record.error is None:
            changes.failures.pop(record.key, None)
            changes.cleared.add(record.key)
            if record.response is not None:
                changes.videos[record.key] = video_row(record, run_id)
            continue
        changes.cleared.discard(record.key)
        changes.failures[record.key] = failure_row(record, run_id)
    return changes


def video_row(record: Stored, run_id: int) -> tuple[Any, ...]:
    response = record.response
    item = readable_item(response.raw_item).decode("utf-8", "replace")
    return (
        record.input, *flat_video(response), item, record.attempts, record.billed, response.request_id,
        response.server_time, record.at, run_id,
    )


def failure_row(record: Stored, run_id: int) -> tuple[Any, ...]:
    error = record.error
    code = error.code if isinstance(error, DouyinError) else None
    return (
        record.key, record.input, record.item_id, record.kind, code, type(error).__name__, str(error),
        record.permanent, record.attempts, record.billed, record.possibly_billed, record.at, run_id,
    )
