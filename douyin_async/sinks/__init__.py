"""Sinks: batch results stored in a database as they arrive, for the command line and for services.

``SQLiteSink`` (standard library) and ``PostgresSink`` (the ``postgres`` extra) keep the same
three tables: ``videos`` (one row per video, keyed by ``item_id``), ``failures`` (the latest
failure per id) and ``runs`` (one row per run, with the client's ledger totals)::

    async with SQLiteSink("videos.sqlite") as sink, DouyinClient(on_event=sink.on_event) as client:
        sink.watch(client)
        async for result in client.iter_videos(ids):
            await sink.write(result)
"""

from ..errors import ForeignStoreError, StorageError
from ._postgres import PostgresSink
from ._sink import PERMANENT_ERRORS, Sink, StoredFailure
from ._sqlite import SQLiteSink

__all__ = [
    "PERMANENT_ERRORS", "ForeignStoreError", "PostgresSink", "SQLiteSink", "Sink", "StorageError", "StoredFailure",
]
