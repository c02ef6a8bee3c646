"""The feed: the inputs OUT does not have yet, as ids for the client, short links resolved a few
at a time ahead of it (a free lookup), bad input recorded by the batch itself."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator

from .. import (
    DouyinClient,
    DouyinError,
)
from ._inputs import InputError
from ._plan import LOOKAHEAD, Planner
from ._progress import ProgressReporter


async def feed(
    texts: AsyncIterator[str], planner: Planner, client: DouyinClient, stop: asyncio.Event,
    origins: dict[str, str], reporter: ProgressReporter, problems: list[InputError],
    bad_input: Callable[[str], Awaitable[None]],
) -> AsyncGenerator[str, None]:
    """The inputs left to fetch, in order: ids as given, short links resolved; ``bad_input`` is
    told of each input that holds no id (it is not the client's to fetch)."""
    pending: deque[tuple[str, str, asyncio.Future[str] | None]] = deque()
    try:
        async for text in _until_bad_input(texts, problems):
            if stop.is_set():
                return
            kind, value = planner.sort(text)
            if kind == "skip":
                continue
            if kind == "invalid":
                await bad_input(text)
                continue
            task: asyncio.Future[str] | None = None
            if kind == "link":
                task = asyncio.ensure_future(client.resolve_item_id(value))
            pending.append((text, value, task))
            while pending and (len(pending) >= LOOKAHEAD or pending[0][2] is None or pending[0][2].done()):
                ready = await _settle(*pending.popleft(), planner, origins, reporter)
                if ready is not None:
                    yield ready
        while pending and not stop.is_set():
            ready = await _settle(*pending.popleft(), planner, origins, reporter)
            if ready is not None:
                yield ready
    finally:
        for _, _, task in pending:
            if task is not None:
                task.cancel()


async def _until_bad_input(texts: AsyncIterator[str], problems: list[InputError]) -> AsyncIterator[str]:
    """The inputs up to one that cannot be read (only standard input can have one mid-run: a file
    is read through once before anything is sent): the inputs before it are fetched, and the
    problem is reported after the summary."""
    try:
        async for text in texts:
            yield text
    except InputError as exc:
        problems.append(exc)


async def each(texts: Iterator[str]) -> AsyncIterator[str]:
    for text in texts:
        yield text


async def _settle(
    text: str, value: str, task: asyncio.Future[str] | None, planner: Planner, origins: dict[str, str],
    reporter: ProgressReporter,
) -> str | None:
    if task is None:
        return text
    try:
        item_id = await task
    except DouyinError:
        return text  # the client tries the link again and reports why it fails, as this input's result
    if not planner.resolved(item_id):
        if reporter.total is not None:
            reporter.total -= 1
        return None
    origins[item_id] = text
    return item_id


