"""The real ``douyin-async`` command in a subprocess, against the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from douyin_async.emulator import Emulator

from .conftest import SEED_ID

FAST = ["--rate", "300", "--concurrency", "8"]
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}
ENV.pop("DOUYIN_API_KEY", None)
ENV.pop("DOUYIN_API_SECRET", None)


def cli(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "douyin_async", *args], input=stdin, capture_output=True, text=True,
        timeout=timeout, env=ENV,
    )


async def cli_async(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "douyin_async", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env or ENV,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_get_summary_and_json() -> None:
    result = cli("get", SEED_ID, f"https://www.douyin.com/video/{SEED_ID}", "--emulator")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("修以美好") == 1  # one video given twice is asked for once
    assert "/aweme/v1/play/" in result.stdout
    assert "no watermark" in result.stdout
    assert "billed calls 1, possibly billed 0" in result.stderr
    as_json = subprocess.run([sys.executable, "-m", "douyin_async", "get", SEED_ID, "--json", "--emulator"],
                             capture_output=True, timeout=60, env=ENV)
    assert "花草日记 🪴 麦麦".encode() in as_json.stdout  # UTF-8, not \u escapes
    assert b"\\u" not in as_json.stdout
    assert json.loads(as_json.stdout)["nick"] == "花草日记 🪴 麦麦"


def test_get_missing_video_exits_1() -> None:
    missing = next(str(i) for i in range(10**15, 10**15 + 100) if Emulator().expected_item(str(i)) is None)
    result = cli("get", SEED_ID, missing, "--emulator")
    assert result.returncode == 1
    assert f"{missing}: [2000]" in result.stderr
    assert "修以美好" in result.stdout


def test_get_refuses_a_target_without_an_id_before_any_call() -> None:
    result = cli("get", SEED_ID, "not an id", "--emulator")
    assert result.returncode == 2
    assert "'not an id' is not a video id" in result.stderr
    assert result.stdout == ""


def test_batch_sample_file_and_rerun_skips_everything(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[1] / "docs" / "examples" / "ids.txt"
    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    first = cli("batch", str(sample), "-o", str(out), "--errors", str(err), "--emulator", *FAST)
    assert first.returncode == 1, first.stderr  # the sample holds a non-id and missing videos
    done = lines(out)
    failed = lines(err)
    assert len(done) + len(failed) == 41
    seed = next(record for record in done if record["item_id"] == SEED_ID)
    assert seed["item"]["title"] == "修以美好,与君相遇#就算无人欣赏也要独自芬芳"  # type: ignore[index]
    bad = [f for f in failed if f["error"] == "BadInputError"]  # bad input, no gateway code
    assert len(bad) == 1 and bad[0]["code"] is None and bad[0]["attempts"] == 0 and bad[0]["permanent"]
    assert "bad input 1 (no video id" in first.stdout
    assert "\x1b[" not in first.stderr  # not a terminal: plain lines, no escape codes
    assert "done 40/40" in first.stderr
    second = cli("batch", str(sample), "-o", str(out), "--errors", str(err), "--emulator", *FAST)
    assert len(lines(out)) == len(done)
    assert f"skipped 41: {len(done)} already in {out}, {len(failed)} failed for good before" in second.stdout
    assert "billed calls 0" in second.stdout


@pytest.mark.parametrize(
    ("name", "content", "extra"),
    [
        ("ids.csv", "title,视频链接\nA,https://www.douyin.com/video/{id}\nB,{id2}\n", []),
        ("ids.csv", "{id},x\n{id2},y\n", []),
        ("ids.tsv", "n\tvideo\n1\t{id}\n2\t{id2}\n", ["--column", "video"]),
        ("ids.jsonl", '{{"aweme_id": "{id}"}}\n{{"aweme_id": {id2}}}\n', []),
        ("ids.jsonl", '{{"x": "{id}"}}\n{{"x": "{id2}"}}\n', ["--field", "x"]),
        ("ids.txt", "{id}\n\n{id2}\n", []),
    ],
)
def test_batch_input_formats(tmp_path: Path, name: str, content: str, extra: list[str]) -> None:
    other = "7092264344980868363"
    source = tmp_path / name
    source.write_text(content.format(id=SEED_ID, id2=other), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = cli("batch", str(source), "-o", str(out), "--emulator", *FAST, *extra)
    assert result.returncode in (0, 1), result.stderr
    assert {record["item_id"] for record in lines(out)} <= {SEED_ID, other}
    assert SEED_ID in {record["item_id"] for record in lines(out)}


def test_batch_from_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = cli("batch", "-", "-o", str(out), "--emulator", *FAST, stdin=f"{SEED_ID}\n")
    assert result.returncode == 0, result.stderr
    assert lines(out)[0]["item_id"] == SEED_ID


def test_batch_from_xlsx(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl", reason="openpyxl is in the test extra")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["作者", "视频ID"])
    sheet.append(["a", SEED_ID])
    sheet.append(["b", int(SEED_ID) + 4])
    book.save(tmp_path / "ids.xlsx")
    out = tmp_path / "out.jsonl"
    result = cli("batch", str(tmp_path / "ids.xlsx"), "-o", str(out), "--emulator", *FAST)
    assert result.returncode in (0, 1), result.stderr
    assert SEED_ID in {record["item_id"] for record in lines(out)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["batch", "missing.txt", "-o", "out.jsonl", "--emulator"], "INPUT missing.txt: no such file"),
        (["batch", "ids.csv", "-o", "out.jsonl", "--emulator", "--column", "nope"], "no column"),
        (["batch", "ids.txt"], "required"),
        (["get", SEED_ID], "DOUYIN_API_KEY"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_and_input_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "ids.csv").write_text(f"id\n{SEED_ID}\n")
    (tmp_path / "ids.txt").write_text(f"{SEED_ID}\n")
    result = subprocess.run([sys.executable, "-m", "douyin_async", *args], capture_output=True, text=True,
                            timeout=60, env=ENV, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


async def test_fatal_stop_exits_3_and_leaves_the_rest_undone(tmp_path: Path) -> None:
    ids = [str(7092264344980868363 + i) for i in range(60)]
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids) + "\n")
    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    async with Emulator(fast=True, keys={"k": "s"}, balance=10) as emu:
        env = {**ENV, "DOUYIN_API_KEY": "k", "DOUYIN_API_SECRET": "s"}
        code, _, stderr = await cli_async(
            "batch", str(source), "-o", str(out), "--errors", str(err), "--base-url", emu.base_url,
            "--concurrency", "1", "--rate", "300", env=env,
        )
        assert emu.stats.charged == 10
    assert code == 3, stderr
    assert "4016" in stderr
    assert "stays to do for the next run (49 of 60 inputs not yet tried)" in stderr
    done = {r["item_id"] for r in lines(out)}
    failed = lines(err)
    assert [f["code"] for f in failed if f["code"] != "2000"] == ["4016"]
    attempted = done | {f["item_id"] for f in failed}
    assert len(attempted) == 11
    assert attempted == set(ids[:11])


def test_resume_after_sigkill_holds_every_id_exactly_once(tmp_path: Path) -> None:
    ids = [str(7092264344980868363 + i) for i in range(400)]
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids) + "\n")
    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    args = [sys.executable, "-m", "douyin_async", "batch", str(source), "-o", str(out), "--errors", str(err),
            "--emulator", "--rate", "100", "--concurrency", "8"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20_000):
            time.sleep(0.05)
        assert out.exists(), "the run never wrote anything"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    partial = len(out.read_text(encoding="utf-8").splitlines())
    assert 0 < partial < 400
    with open(out, "ab") as handle:  # as if killed inside a write
        handle.write(b'{"input":"70922643449808')
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=120, env=ENV)
    assert rerun.returncode in (0, 1), rerun.stderr
    found = [record["item_id"] for record in lines(out)]
    assert len(found) == len(set(found))  # every id at most once
    expected = {i for i in ids if Emulator().expected_item(i) is not None}
    assert set(found) == expected  # and every video is there


def test_secret_never_printed_even_verbose(tmp_path: Path) -> None:
    secret = "cli-secret-9f8e7d"
    result = cli("get", SEED_ID, "--emulator", "--key", "cli-key", "--secret", secret, "--verbose")
    assert result.returncode == 0
    assert secret not in result.stdout + result.stderr
    result = cli("get", "12345", "--base-url", "http://127.0.0.1:9/douyin", "--key", "cli-key",
                 "--secret", secret, "--verbose", "--retries", "1")
    assert result.returncode == 1
    assert secret not in result.stdout + result.stderr
    assert "cli-key" not in result.stdout + result.stderr
    assert "retrying" in result.stderr


def test_help_lists_commands_and_warns_about_flags() -> None:
    result = cli("batch", "--help")
    assert result.returncode == 0
    assert "shell history" in result.stdout
    assert "--emulator" in result.stdout
    assert "emulator" in cli("--help").stdout


def test_download_command_writes_verified_files(tmp_path: Path) -> None:
    emu = Emulator()  # same deterministic media as the CLI's own emulator
    item_id = next(str(i) for i in range(10**15, 10**15 + 50) if emu.expected_item(str(i)))
    result = cli("download", f"https://www.douyin.com/video/{item_id}", "-d", str(tmp_path),
                 "--kinds", "video,cover", "--emulator")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / f"{item_id}.mp4"), str(tmp_path / f"{item_id}.cover.jpg")]
    assert (tmp_path / f"{item_id}.mp4").read_bytes() == emu.media_bytes("video", item_id)
    assert "downloaded" in result.stderr
    assert cli("download", item_id, "-d", str(tmp_path), "--kinds", "subtitles", "--emulator").returncode == 2


def test_batch_with_download(tmp_path: Path) -> None:
    emu = Emulator()
    ids = [i for i in (str(10**15 + n) for n in range(12)) if emu.expected_item(i)]
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids) + "\n")
    media = tmp_path / "media.2024"  # a directory, whatever its name looks like
    result = cli("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--download", str(media),
                 "--kinds", "video,music", "--emulator", *FAST)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in media.iterdir()) == sorted([f"{i}.mp4" for i in ids] + [f"{i}.mp3" for i in ids])
    assert "0 downloads failed" in result.stdout


@pytest.mark.parametrize("flag", ["--max-billed", "--max-charged"])
def test_a_budget_stops_the_batch_and_says_so(tmp_path: Path, flag: str) -> None:
    """``--max-charged`` is the older, hidden spelling of ``--max-billed``, and still works."""
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{10**18 + n}\n" for n in range(20)))
    result = cli("batch", str(ids), "-o", str(tmp_path / "out.jsonl"), "--emulator", flag, "3", *FAST)
    assert result.returncode == 3, result.stderr
    assert "--max-billed 3 reached" in result.stdout + result.stderr
    assert "billed calls 3" in result.stdout + result.stderr
    help_text = cli("batch", "--help").stdout
    assert "--max-billed" in help_text and "--max-charged" not in help_text


def test_audit_file_holds_one_line_per_request_and_agrees_with_the_summary(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{10**15 + n}\n" for n in range(30)))
    audit = tmp_path / "audit.jsonl"
    env = {**ENV, "DOUYIN_API_KEY": "audit-sentinel-key", "DOUYIN_API_SECRET": "audit-sentinel-secret"}
    result = subprocess.run(
        [sys.executable, "-m", "douyin_async", "batch", str(ids), "-o", str(tmp_path / "out.jsonl"), "--emulator",
         "--audit", str(audit), *FAST], capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode in (0, 1), result.stderr
    records = lines(audit)
    assert len(records) >= 30
    billed = sum(r["charge"] == "billed" for r in records)
    possibly = sum(r["charge"] == "possibly_billed" for r in records)
    assert f"billed calls {billed}, possibly billed {possibly}" in result.stdout
    assert all(r["request_id"] for r in records if r["code"] in ("0000", "2000"))
    assert {"item_id", "attempt", "host", "status", "code", "error", "charge", "waited", "duration",
            "started_at"} <= set(records[0])
    text = audit.read_text()
    assert "audit-sentinel" not in text and "secret=" not in text


def test_otel_exports_through_the_otel_variables_and_says_what_is_missing(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk")
    env = {**ENV, "DOUYIN_API_KEY": "otel-sentinel-key", "DOUYIN_API_SECRET": "otel-sentinel-secret",
           "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "console"}
    run = subprocess.run([sys.executable, "-m", "douyin_async", "get", SEED_ID, "--emulator", "--otel"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    assert '"name": "item_get_video"' in run.stdout and '"name": "GET"' in run.stdout
    assert "http.client.request.duration" in run.stdout
    assert "otel-sentinel" not in run.stdout + run.stderr
    missing = subprocess.run([sys.executable, "-m", "douyin_async", "get", SEED_ID, "--emulator", "--otel"],
                             capture_output=True, text=True, timeout=120,
                             env={**env, "OTEL_TRACES_EXPORTER": "nosuchexporter"})
    assert missing.returncode == 2
    assert "no traces exporter named 'nosuchexporter'" in missing.stderr and "Traceback" not in missing.stderr
