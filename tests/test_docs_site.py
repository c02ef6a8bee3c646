"""The built site in headless Chromium: every page renders, and the API reference shows each public
class's signature and its ``>>>`` examples as code (``docs/_tools/screenshots.py``).

Needs the ``docs`` extra (mkdocs, Playwright) and a Chromium; skipped, with the reason, without them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium on PATH (Debian: apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None or importlib.util.find_spec("mkdocs") is None,
                       reason="needs the docs extra: pip install -e '.[docs]'"),
]


def test_api_reference_shows_signatures_and_examples_as_code(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir",
                            str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert build.returncode == 0, build.stderr
    check = subprocess.run([sys.executable, str(ROOT / "docs" / "_tools" / "screenshots.py"), str(tmp_path / "site"),
                            str(tmp_path / "shots")], capture_output=True, text=True, timeout=300, env=env)
    assert check.returncode == 0, check.stderr + check.stdout
    assert (tmp_path / "shots" / "api-DouyinClient.png").stat().st_size > 10_000
