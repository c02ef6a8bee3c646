"""A batch's media downloads: started as its results come, at most four pending, all awaited
before the summary."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from .. import (
    DouyinClient,
    DouyinError,
    ItemGetVideoResponse,
)
from ._progress import ProgressReporter
from ._store import AnyJournal


class Downloads:
    """Media downloads started by a batch, all awaited before the summary.

    At most four are pending at once, so a batch that fetches faster than media downloads waits
    for them instead of piling up tasks (the client limits the downloads running at once).
    """

    def __init__(
        self, client: DouyinClient, args: argparse.Namespace, reporter: ProgressReporter, directory: Path,
        journal: AnyJournal,
    ) -> None:
        self._client, self._args, self._reporter, self._directory = client, args, reporter, directory
        self._journal = journal
        self._slots = asyncio.Semaphore(4)
        self._tasks: set[asyncio.Task[None]] = set()
        self.failed = 0
        self.retried = 0

    async def submit(self, target: ItemGetVideoResponse | str) -> None:
        """Download a fetched video's media; an id (a failure of an earlier run) is fetched again first."""
        await self._slots.acquire()
        task = asyncio.create_task(self._one(target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, target: ItemGetVideoResponse | str) -> None:
        item_id = target if isinstance(target, str) else target.item.num_iid
        self.retried += isinstance(target, str)
        error: DouyinError | None = None
        try:
            await self._client.download_media(target, self._directory, kinds=self._args.kinds,
                                              watermark=self._args.watermark, overwrite=self._args.overwrite,
                                              on_bytes=self._reporter.add_bytes)
        except DouyinError as exc:
            error = exc
            self.failed += 1
            print(f"download {item_id}: {exc}", file=sys.stderr)
        finally:
            self._slots.release()
        await self._journal.write_download(item_id, error)

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks)


