"""Results as a Parquet file (the ``parquet`` extra, pyarrow), rebuilt at the end of every run from
the SQLite journal beside it.

A Parquet file cannot be appended to a row at a time, so a run stores its results in
``OUT.sqlite`` (``videos.parquet`` has ``videos.parquet.sqlite``), which a rerun resumes from,
and replaces the Parquet file from it, whole, when it ends. Columns are typed: counts are
integers, times are UTC timestamps (the gateway's Beijing ``server_time`` included).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..sinks._rows import VIDEO_FIELDS
from ._files import replacing

ROWS_PER_GROUP = 50_000
_BEIJING = timezone(timedelta(hours=8))
_INTEGERS = {"attempts": "int32", "billed": "int32", "run_id": "int64"}
_TIMES = ("server_time", "fetched_at")
COLUMNS = ("input", *VIDEO_FIELDS, "item", "attempts", "billed", "request_id", "server_time", "fetched_at", "run_id")


def write_parquet(journal: Path, target: Path, table: str = "videos") -> int:
    """Replace ``target`` with the videos in ``journal``; returns how many there are."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def kind(name: str) -> Any:
        if name in _INTEGERS:
            return getattr(pa, _INTEGERS[name])()
        return pa.timestamp("ms", tz="UTC") if name in _TIMES else pa.string()

    schema = pa.schema([(name, kind(name)) for name in COLUMNS])
    rows = 0
    with replacing(target) as stream, pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        for chunk in _chunks(journal, table):
            columns = list(zip(*chunk, strict=True))
            arrays = {name: [_time(value, name) for value in values] if name in _TIMES else list(values)
                      for name, values in zip(COLUMNS, columns, strict=True)}
            writer.write_table(pa.table(arrays, schema=schema))
            rows += len(chunk)
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows


def _chunks(journal: Path, table: str) -> Iterator[list[tuple[Any, ...]]]:
    db = sqlite3.connect(journal)
    try:
        cursor = db.execute(f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY rowid")
        while chunk := cursor.fetchmany(ROWS_PER_GROUP):
            yield chunk
    finally:
        db.close()


def _time(value: str | None, name: str) -> datetime | None:
    """A stored time as a UTC timestamp: ISO 8601 as stored, or the gateway's ``Beijing/Y-m-d H:M:S``."""
    if not value:
        return None
    try:
        if name == "fetched_at":
            return datetime.fromisoformat(value).astimezone(timezone.utc)
        zone, _, text = value.rpartition("/")
        moment = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
        return moment.replace(tzinfo=_BEIJING if zone in ("", "Beijing") else timezone.utc).astimezone(timezone.utc)
    except ValueError:
        return None
