"""Every ``python`` and ``bash`` example of the READMEs and docs/ runs, offline, against the emulator.

Each fenced block is run as written: python through ``docs/_tools/run_example.py`` (top-level
``await`` allowed, as in ``python -m asyncio``), bash with ``set -euo pipefail``; both in a scratch
directory holding a copy of ``docs/examples``, with ``DOUYIN_API_KEY``/``DOUYIN_API_SECRET`` set
and ``DOUYIN_API_BASE_URL`` pointing at an emulator (self-contained: its media and share links
are on 127.0.0.1 too), and ``REDIS_URL`` at a real redis-server. A block preceded by
``<!-- example: not run (why) -->`` is skipped with that reason; ``<!-- example: exit N (why) -->``
expects that exit code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .redis_server import REDIS_SERVER, RedisServer

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "README.zh-CN.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNER = ROOT / "docs" / "_tools" / "run_example.py"
FENCE = re.compile(r"^```(python|bash)\s*$")
MARKER = re.compile(r"^<!-- example: (not run|exit (\d+)) \((.+)\) -->$")
KEYS = {"test-key": "test-secret", "your-key": "your-secret"}


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    language: str
    code: str
    skip: str | None
    exit_code: int


def examples() -> Iterator[Example]:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            fence = FENCE.match(lines[index])
            if fence:
                end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
                marker = MARKER.match(lines[index - 1]) if index else None
                skip = marker[3] if marker and marker[1] == "not run" else None
                exit_code = int(marker[2]) if marker and marker[2] else 0
                yield Example(page.relative_to(ROOT).as_posix(), index + 1, fence[1],
                              "\n".join(lines[index + 1:end]) + "\n", skip, exit_code)
                index = end
            index += 1


EXAMPLES = list(examples())


@pytest.fixture(scope="module")
def gateway() -> Iterator[dict[str, str]]:
    """An emulator (and a redis-server) in their own processes, for every example of the run."""
    keys = [arg for key, secret in KEYS.items() for arg in ("--key", f"{key}={secret}")]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "douyin_async.emulator", "--port", "0", "--fast", "--self-contained", *keys],
        stdout=subprocess.PIPE, text=True,
    )
    redis = RedisServer() if REDIS_SERVER else None
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().split("base_url=")[1].split()[0]
        env = {"DOUYIN_API_BASE_URL": base_url, "DOUYIN_API_KEY": "test-key", "DOUYIN_API_SECRET": "test-secret",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONIOENCODING": "utf-8"}
        if redis is not None:
            redis.start()
            env["REDIS_URL"] = redis.url
        yield env
    finally:
        emulator.terminate()
        emulator.wait(10)
        if emulator.stdout is not None:
            emulator.stdout.close()
        if redis is not None:
            redis.stop()


def test_there_are_examples_and_few_are_skipped() -> None:
    skipped = [example for example in EXAMPLES if example.skip]
    assert len(EXAMPLES) >= 20
    assert len(skipped) <= len(EXAMPLES) // 3, [f"{e.page}:{e.line}" for e in skipped]


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.page}:{e.line}" for e in EXAMPLES])
def test_example_runs(example: Example, gateway: dict[str, str], tmp_path: Path) -> None:
    if example.skip:
        pytest.skip(example.skip)
    if "REDIS_URL" in example.code and "REDIS_URL" not in gateway:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    env = {**os.environ, **gateway}
    if example.language == "python":
        command = [sys.executable, str(RUNNER), f"{example.page}:{example.line}"]
    else:
        command = ["bash", "-euo", "pipefail", "-c", example.code]
    result = subprocess.run(command, input=example.code if example.language == "python" else None,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == example.exit_code, f"{example.page}:{example.line}\n{result.stdout}\n{result.stderr}"
