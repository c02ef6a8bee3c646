"""The installed package works without the test extra: nothing outside tests imports test tools."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_cli_and_public_api_import_without_test_tools() -> None:
    probe = textwrap.dedent('''
        import builtins, sys
        real_import = builtins.__import__
        def guarded(name, *args, **kwargs):
            if name.split(".")[0] in ("pytest", "pytest_asyncio", "aioresponses", "hypothesis"):
                raise ImportError(f"test tool imported: {name}")
            return real_import(name, *args, **kwargs)
        builtins.__import__ = guarded
        import douyin_async, douyin_async.cli, douyin_async.emulator, douyin_async.errors
        douyin_async.cli.build_parser()
        print("ok")
    ''')
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


def test_the_version_is_written_once_in_pyproject() -> None:
    import re
    from pathlib import Path

    import douyin_async

    root = Path(__file__).resolve().parents[1]
    declared = re.search(r'^version = "([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    assert declared is not None
    assert douyin_async.__version__ == declared[1]
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{declared[1]}]" in changelog  # every release has its changelog entry
    sources = "".join(p.read_text(encoding="utf-8") for p in (root / "douyin_async").rglob("*.py"))
    assert f'"{declared[1]}"' not in sources  # and no copy of it in the code
