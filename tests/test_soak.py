"""The soak: 100,000 ids with 20% faults, every id exactly once, memory flat (``pytest -m soak``)."""

from __future__ import annotations

import pytest

from benchmarks.soak import soak


@pytest.mark.soak
async def test_a_hundred_thousand_ids_with_faults_each_once_in_flat_memory() -> None:
    report = await soak(count=100_000, max_seconds=300.0)
    assert report.every_id_once, (report.results, report.duplicates, report.missing)
    assert report.faults > 0.15 * report.requests  # the faults were real
    assert report.ok > 0.98 * report.count  # transient faults were retried away
    assert report.rss_growth_mib < 32, report.rss_mib
