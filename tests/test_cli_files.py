"""What the batch command reads and writes: formula-safe CSV, files replaced without following a
link, bad input as bad input, short links that failed for good, empty inputs, standard input."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from douyin_async import cli
from douyin_async.cli import _session
from douyin_async.cli._files import replacing
from douyin_async.emulator import Emulator

from .conftest import SEED_ID
from .test_cli import ENV, FAST, lines
from .test_cli import cli as run_cli

FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOUYIN_API_KEY", raising=False)
    monkeypatch.delenv("DOUYIN_API_SECRET", raising=False)
    return tmp_path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


# -- formulas in CSV -----------------------------------------------------------------------------

def test_csv_cells_that_start_like_a_formula_are_written_as_text_and_a_rerun_still_skips(workdir: Path) -> None:
    source = workdir / "ids.txt"
    source.write_text(f"{FORMULA} https://www.douyin.com/video/{SEED_ID}\n", encoding="utf-8")
    assert cli.main(["batch", "ids.txt", "-o", "out.csv", "--emulator", *FAST]) == 0
    (row,) = _rows(workdir / "out.csv")
    assert row["input"].startswith("'" + FORMULA)
    assert row["music_title"] == "'@若然若创作的原声一若然若"  # the seed's own music title starts with @
    assert row["item_id"] == SEED_ID
    assert cli.main(["batch", "ids.txt", "-o", "out.csv", "--emulator", *FAST]) == 0
    assert len(_rows(workdir / "out.csv")) == 1  # the id read back: nothing fetched again


def test_an_xlsx_shows_the_cells_as_they_are_and_its_journal_guards_them(workdir: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl", reason="openpyxl is in the test extra")
    (workdir / "ids.txt").write_text(f"{FORMULA} {SEED_ID}\n", encoding="utf-8")
    assert cli.main(["batch", "ids.txt", "-o", "out.xlsx", "--emulator", *FAST]) == 0
    (row,) = _rows(workdir / "out.xlsx.csv")
    assert row["input"].startswith("'=") and row["music_title"].startswith("'@")
    sheet = openpyxl.load_workbook(workdir / "out.xlsx").active
    header, values = list(sheet.values)
    record = dict(zip(header, values, strict=True))
    assert record["input"] == f"{FORMULA} {SEED_ID}" and record["music_title"] == "@若然若创作的原声一若然若"


# -- files replaced without following a link -------------------------------------------------------

def test_replacing_never_writes_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target = tmp_path / "out.xlsx"
    target.symlink_to(victim)  # a link at the target is replaced, not followed
    with replacing(target) as stream:
        stream.write(b"new")
    assert victim.read_text() == "keep me"
    assert not target.is_symlink() and target.read_bytes() == b"new"

    def fail_midway() -> None:
        with replacing(target) as stream:
            stream.write(b"half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx", "victim"]  # no temporary left


def test_a_link_planted_at_the_workbooks_old_temporary_name_is_left_alone(workdir: Path) -> None:
    pytest.importorskip("openpyxl", reason="openpyxl is in the test extra")
    victim = workdir / "victim.txt"
    victim.write_text("precious")
    (workdir / f".out.xlsx.{os.getpid()}.part").symlink_to(victim)
    (workdir / "ids.txt").write_text(f"{SEED_ID}\n")
    assert cli.main(["batch", "ids.txt", "-o", "out.xlsx", "--emulator", *FAST]) == 0
    assert victim.read_text() == "precious"
    assert (workdir / "out.xlsx").read_bytes()[:2] == b"PK"
    assert oct((workdir / "out.xlsx").stat().st_mode & 0o777) != oct(0o600)  # the umask's, not mkstemp's


# -- bad input, short links, empty inputs -----------------------------------------------------------

INPUTS = {
    "ids.txt": "not a video\n{id}\n",
    "ids.csv": "url\nnot a video\n{id}\n",
    "ids.jsonl": '{{"url": "not a video"}}\n{{"url": "{id}"}}\n',
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_an_input_without_an_id_is_bad_input_not_a_gateway_code(workdir: Path, name: str) -> None:
    (workdir / name).write_text(INPUTS[name].format(id=SEED_ID), encoding="utf-8")
    result = run_cli("batch", name, "-o", "out.jsonl", "--emulator", *FAST)
    assert result.returncode == 1, result.stderr
    (failure,) = lines(workdir / "out.failed.jsonl")
    assert failure["error"] == "BadInputError" and failure["code"] is None and failure["attempts"] == 0
    assert failure["permanent"] is True and "holds no video id" in str(failure["message"])
    assert "bad input 1 (no video id: recorded, never sent)" in result.stdout
    assert "[4003" not in result.stdout + result.stderr
    again = run_cli("batch", name, "-o", "out.jsonl", "--emulator", *FAST)
    assert "1 failed for good before" in again.stdout and "bad input" not in again.stdout
    assert len(lines(workdir / "out.failed.jsonl")) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_short_link_that_failed_for_good_is_not_looked_up_again(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, started = _free_port(), []

    def emulator(**options: Any) -> Emulator:
        started.append(Emulator(port=port, **options))
        return started[-1]

    monkeypatch.setattr(_session, "Emulator", emulator)
    (workdir / "ids.txt").write_text(f"look http://127.0.0.1:{port}/s/no_such_video/ now\n{SEED_ID}\n")

    def lookups(*extra: str) -> int:
        cli.main(["batch", "ids.txt", "-o", "out.jsonl", "--emulator", *FAST, *extra])
        return started[-1].stats.short_link_requests

    assert lookups() > 0
    (failure,) = lines(workdir / "out.failed.jsonl")
    assert failure["permanent"] is True
    assert lookups() == 0  # recorded under its input, and read back under it
    assert lookups("--retry-failed") > 0


@pytest.mark.parametrize(("name", "content"), [
    ("empty.txt", ""), ("blank.txt", "\n# only a comment\n\n"), ("header.csv", "url,title\n"),
    ("empty.jsonl", "\n"),
])
@pytest.mark.parametrize("dry", [False, True])
def test_an_empty_input_is_one_line_and_exit_2_with_nothing_written(
    workdir: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, dry: bool
) -> None:
    (workdir / name).write_text(content)
    code = cli.main(["batch", name, "-o", "out.jsonl", "--emulator", *(["--dry-run"] if dry else [])])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [f"douyin-async batch: INPUT {name} holds no input (no id, URL or share "
                                        "text; a CSV or sheet may have only its header): nothing to do"]
    assert sorted(os.listdir(workdir)) == [name]


def test_an_empty_standard_input_says_so_and_exits_2(tmp_path: Path) -> None:
    result = run_cli("batch", "-", "-o", str(tmp_path / "out.jsonl"), "--emulator", stdin="")
    assert result.returncode == 2
    assert "INPUT - holds no input" in result.stderr


# -- standard input that stays open -----------------------------------------------------------------

def test_standard_input_is_read_without_blocking_results_or_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "douyin_async", "batch", "-", "-o", str(out), "--emulator", "--no-progress"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )
    try:
        assert process.stdin is not None
        process.stdin.write(f"{SEED_ID}\n".encode())
        process.stdin.flush()
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_bytes().endswith(b"\n")):  # the result, with stdin still open
            assert process.poll() is None and time.monotonic() < deadline, "no result while stdin is open"
            time.sleep(0.05)
        assert json.loads(out.read_text())["item_id"] == SEED_ID
        process.send_signal(signal.SIGINT)  # stdin is still open: Ctrl-C must not wait for it
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
