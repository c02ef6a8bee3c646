"""Memory of the batch command is bounded by what is in flight, not by the input: per-line costs.

Each measure runs in a child process at two input sizes and takes its peak RSS: the difference
over the extra lines is what one more line costs, whatever the interpreter and imports cost. (The
costs measured here are a few dozen bytes a line, against hundreds when lines were kept.)
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from douyin_async.cli._journal import _permanent_keys
from douyin_async.cli._keys import KeySet

linux = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")


def test_a_keyset_with_keys_discarded_answers_as_a_set_does() -> None:
    chance = random.Random(7)
    keys = [str(7_000_000_000_000_000_000 + chance.randrange(5000)) for _ in range(3000)]
    keys += [f"input:line {chance.randrange(5000)}" for _ in range(3000)]
    ours, theirs = KeySet(), set()
    for key in keys:
        if chance.random() < 0.35:
            ours.discard(key)
            theirs.discard(key)
        else:
            ours.add(key)
            theirs.add(key)
    assert len(ours) == len(theirs)
    assert all((key in ours) == (key in theirs) for key in keys)


def _peak(script: str, *args: str) -> int:
    """Peak RSS in bytes of a child process running ``script``: its own ``VmHWM`` (``ru_maxrss``
    would count the parent's RSS at the fork, pytest's)."""
    program = f"import sys\n{textwrap.dedent(script)}\n" \
              "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    done = subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) * 1024  # in kB


_JOURNAL = """
from pathlib import Path
from douyin_async import BatchResult
from douyin_async.cli._batch import Planner
from douyin_async.cli._inputs import BadInputError
from douyin_async.cli._journal import Journal
from douyin_async.cli._output import Output
work, count = Path(sys.argv[1]), int(sys.argv[2])
journal = Journal(work / "out.jsonl", work / "out.failed.jsonl", Output("jsonl"))
journal.load()
journal.open()
planner = Planner(journal, retry_failed=False, short_link_hosts=("v.douyin.com",))
for number in range(count):
    text = f"line {number} of a list that holds no video at all"
    if planner.sort(text)[0] == "invalid":
        journal.write(BatchResult(text, None, None, BadInputError(text), 0, -1), text)
journal.close()
"""


@linux
def test_a_run_over_lines_without_an_id_keeps_no_line_in_memory(tmp_path: Path) -> None:
    """A line that fails (here: holds no id) costs its key, a few bytes, not its record."""
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    extra = 30_000  # about 90 bytes a line; when each failure's line was kept, about 370
    grown = _peak(_JOURNAL, str(large), str(1000 + extra)) - _peak(_JOURNAL, str(small), "1000")
    assert grown / extra < 200, f"{grown / extra:.0f} bytes a line"
    assert len((large / "out.failed.jsonl").read_text().splitlines()) == 1000 + extra
    assert len(_permanent_keys(large / "out.failed.jsonl")) == 1000 + extra
