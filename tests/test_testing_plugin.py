"""The fixtures users enable with ``pytest_plugins = ["douyin_async.testing"]``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_user_suite_runs_with_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["douyin_async.testing"]\n')
    (tmp_path / "test_user.py").write_text(textwrap.dedent('''
        import pytest
        from douyin_async import NotFoundError

        async def test_fetch(douyin_client, douyin_emulator):
            resp = await douyin_client.item_get_video("7092264344980868359")
            assert resp.item.nick
            douyin_emulator.script("5", ["2000"])
            with pytest.raises(NotFoundError):
                await douyin_client.item_get_video("5")
    '''))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
         "-W", "error", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_fixture_client_resolves_the_emulators_short_links(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["douyin_async.testing"]\n')
    (tmp_path / "test_links.py").write_text(textwrap.dedent('''
        async def test_short_link(douyin_client, douyin_emulator):
            link = douyin_emulator.short_link("7092264344980868359")
            assert await douyin_client.resolve_item_id(link) == "7092264344980868359"
    '''))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
         "-o", "asyncio_default_fixture_loop_scope=function", "-W", "error", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
