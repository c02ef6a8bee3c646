"""pytest fixtures for testing your own code against the emulator.

Enable them in your ``conftest.py`` (they need pytest-asyncio)::

    pytest_plugins = ["douyin_async.testing"]

    async def test_my_service(douyin_client):
        resp = await douyin_client.item_get_video("7092264344980868359")
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from . import DEFAULT_SHORT_LINK_HOSTS, DouyinClient, ShortLinkOptions
from .emulator import EMULATOR_KEY, EMULATOR_SECRET, Emulator

__all__ = ["EMULATOR_KEY", "EMULATOR_SECRET", "douyin_client", "douyin_emulator"]


@pytest_asyncio.fixture
async def douyin_emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator on 127.0.0.1 for one test; change ``.config`` or call ``.script()`` freely.

    It answers at once (``fast=True``); set ``.config.latency`` for a test about slow answers.
    """
    async with Emulator(keys={EMULATOR_KEY: EMULATOR_SECRET}, fast=True) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def douyin_client(douyin_emulator: Emulator) -> AsyncIterator[DouyinClient]:
    """A client on ``douyin_emulator`` with its credentials, no throttle, and its short links."""
    hosts = (*DEFAULT_SHORT_LINK_HOSTS, douyin_emulator.short_link_host)
    async with DouyinClient(
        EMULATOR_KEY, EMULATOR_SECRET, base_url=douyin_emulator.base_url,
        rate_limit=None, max_concurrency=None, short_links=ShortLinkOptions(hosts=hosts),
    ) as client:
        yield client
