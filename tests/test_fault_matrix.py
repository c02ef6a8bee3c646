"""Every fault the emulator can inject, through every entry point: the documented outcome.

One case per cell, its id ``fault-entry``. A cell passes when the call succeeds after its
retries where the fault is transient, or ends in the documented typed error; never an untyped
error, never a hang (each cell runs under ``asyncio.wait_for``), never a lost or repeated id.
docs/reliability.md prints the table below as the outcome table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from douyin_async import (
    AccountDisabledError,
    ApiError,
    AuthError,
    BatchAbortedError,
    ConfigurationError,
    DouyinClient,
    DouyinError,
    HTTPStatusError,
    InsufficientBalanceError,
    InvalidParamError,
    NotFoundError,
    QuotaExceededError,
    ResponseTooLargeError,
    RetryOptions,
    ShortLinkOptions,
)
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET

OK = None
"""The call succeeds (after retries where the fault is transient)."""

# fault -> what every entry point must end in: OK, or the typed error.
OUTCOMES: dict[str, type[DouyinError] | None] = {
    "2000": NotFoundError,
    "4000": OK, "4001": OK, "4002": OK, "4017": OK,
    "4003": InvalidParamError, "4014": InvalidParamError, "4015": InvalidParamError,
    "4004": AuthError, "4005": AuthError,
    "4006": AccountDisabledError, "4007": AccountDisabledError, "4012": AccountDisabledError,
    "4008": OK, "4009": OK,
    "4010": ConfigurationError,
    "4013": QuotaExceededError,
    "4016": InsufficientBalanceError,
    "5000": ApiError,
    "http500": OK, "http502": OK, "http503": OK,
    "reset": OK, "truncated": OK, "timeout": OK,
    "wrong_type": OK, "gbk": OK, "slow_headers": OK, "slow_body": OK,
    "empty": OK, "deep_json": OK,
    "redirect_other": HTTPStatusError, "redirect_loop": HTTPStatusError,
    "gzip_bomb": ResponseTooLargeError, "endless": ResponseTooLargeError,
}
ENTRIES = ("single", "batch_ordered", "batch_unordered", "download", "short_link")
IDS = [str(10**15 + n) for n in (1, 2, 3)]
FAULTED = IDS[1]
CELL_SECONDS = 10.0


def client_for(emu: Emulator) -> DouyinClient:
    async def no_sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    return DouyinClient(
        KEY, SECRET, base_url=emu.base_url, rate_limit=None, max_concurrency=None, max_retries=2,
        backoff_initial=0.001, backoff_max=0.01, timeout=0.25, retry=RetryOptions(sleep=no_sleep),
        short_links=ShortLinkOptions(hosts=[emu.short_link_host]),
    )


async def single(client: DouyinClient, emu: Emulator, tmp: Path) -> DouyinError | None:
    try:
        response = await client.item_get_video(FAULTED)
    except DouyinError as exc:
        return exc
    assert response.item.num_iid == FAULTED
    return None


def batch(ordered: bool) -> Callable[[DouyinClient, Emulator, Path], Awaitable[DouyinError | None]]:
    async def run(client: DouyinClient, emu: Emulator, tmp: Path) -> DouyinError | None:
        results = [r async for r in client.iter_videos(IDS, ordered=ordered)]
        assert sorted(r.item_id for r in results) == IDS  # every id, exactly once
        if ordered:
            assert [r.item_id for r in results] == IDS
        faulted = next(r for r in results if r.item_id == FAULTED)
        for other in results:
            if other is not faulted:
                fatal = faulted.error is not None and faulted.error.fatal
                assert other.ok or (fatal and isinstance(other.error, BatchAbortedError)), other.error
            assert other.ok == (other.response is not None)
        return faulted.error

    return run


async def download(client: DouyinClient, emu: Emulator, tmp: Path) -> DouyinError | None:
    try:
        [path] = await client.download(FAULTED, tmp)
    except DouyinError as exc:
        assert not list(tmp.glob("*.mp4"))
        return exc
    assert path.read_bytes() == emu.media_bytes("video", FAULTED)
    return None


async def short_link(client: DouyinClient, emu: Emulator, tmp: Path) -> DouyinError | None:
    item_id = await client.resolve_item_id(emu.short_link(FAULTED))
    assert item_id == FAULTED
    return await single(client, emu, tmp)


RUNS = {"single": single, "batch_ordered": batch(True), "batch_unordered": batch(False),
        "download": download, "short_link": short_link}
CELLS = [pytest.param(fault, entry, id=f"{fault}-{entry}") for fault in OUTCOMES for entry in ENTRIES]


@pytest.mark.parametrize(("fault", "entry"), CELLS)
async def test_fault_matrix_cell(fault: str, entry: str, tmp_path: Path) -> None:
    expected = OUTCOMES[fault]
    async with Emulator(fast=True, found_ratio=1.0, timeout_delay=0.5) as emu, client_for(emu) as client:
        emu.script(FAULTED, [fault])  # once: a transient fault clears on the retry
        error = await asyncio.wait_for(RUNS[entry](client, emu, tmp_path), CELL_SECONDS)
        assert emu.stats.faults[fault] == 1
    if expected is None:
        assert error is None, f"{fault} via {entry}: expected success after retry, got {error!r}"
    else:
        assert type(error) is expected, f"{fault} via {entry}: expected {expected.__name__}, got {error!r}"
        assert error.retryable is False or isinstance(error, ApiError)


def test_every_emulator_fault_and_every_code_is_in_the_matrix() -> None:
    from douyin_async.emulator import FAULTS
    from douyin_async.errors import CODES

    assert set(FAULTS) | (set(CODES) - {"0000"}) == set(OUTCOMES)
