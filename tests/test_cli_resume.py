"""What a rerun costs: nothing for what is done, in whatever form it is given again."""

from __future__ import annotations

import asyncio
import csv
import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from douyin_async import cli
from douyin_async.cli import _batch, _workbook
from douyin_async.cli._output import CSV_COLUMNS
from douyin_async.emulator import Emulator

from .conftest import SEED_ID, run_cli

KEYS = {"resume-key": "resume-secret"}
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "DOUYIN_API_KEY": "resume-key", "DOUYIN_API_SECRET": "resume-secret"}


async def run(*args: str) -> subprocess.CompletedProcess[str]:
    return await run_cli(ENV, *args)


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def ids(start: int, count: int) -> list[str]:
    return [str(start + n) for n in range(count)]


async def test_a_rerun_after_a_complete_run_sends_no_request(tmp_path: Path) -> None:
    wanted = ids(7092264344980868363, 40)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join([*wanted, "not an id", wanted[0]]) + "\n")
    out = tmp_path / "out.jsonl"
    async with Emulator(fast=True, keys=KEYS) as emu:
        first = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        missing = [i for i in wanted if emu.expected_item(i) is None]
        assert first.returncode == 1, first.stderr
        assert emu.stats.requests == 40  # the repeat is not sent, nor is the input without an id
        failed = records(tmp_path / "out.failed.jsonl")
        assert sorted(str(r["item_id"]) for r in failed if r["item_id"]) == sorted(missing)
        assert f"failures: {tmp_path / 'out.failed.jsonl'}" in first.stdout

        # The same videos again, as URLs this time: nothing is sent, nothing is written twice.
        source.write_text("\n".join(f"https://www.douyin.com/video/{i}" for i in wanted) + "\nnot an id\n")
        second = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        assert emu.stats.requests == 40, second.stdout
        assert second.returncode == 1, second.stderr  # the missing videos are still missing: not all ok
        assert "billed calls 0, possibly billed 0" in second.stdout
        assert f"skipped 41: {40 - len(missing)} already in" in second.stdout
        assert len(records(out)) == 40 - len(missing)
        assert records(tmp_path / "out.failed.jsonl") == failed  # each id once, not a line per run

        # --retry-failed asks again for what failed for good, and only that.
        third = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--retry-failed")
        assert emu.stats.requests == 40 + len(missing), third.stdout
        assert len(records(tmp_path / "out.failed.jsonl")) == len(failed)


async def test_transient_failures_are_tried_again_on_the_next_run(tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    source.write_text(f"{SEED_ID}\n")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    async with Emulator(fast=True, keys=KEYS) as emu:
        emu.script(SEED_ID, ["4000", "4000"])
        first = await run("batch", str(source), "-o", str(out), "--errors", str(errors), "--base-url", emu.base_url,
                    "--retries", "1")
        assert first.returncode == 1
        assert records(errors)[0]["permanent"] is False
        second = await run("batch", str(source), "-o", str(out), "--errors", str(errors), "--base-url", emu.base_url)
        assert second.returncode == 0, second.stderr
        assert [r["item_id"] for r in records(out)] == [SEED_ID]
        assert errors.read_text() == ""  # the id is done: its old failure is dropped


async def test_dry_run_counts_and_costs_without_sending_or_writing(tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("\n".join([*ids(7092264344980868363, 10), SEED_ID, SEED_ID, "nope"]) + "\n")
    out = tmp_path / "out.jsonl"
    async with Emulator(fast=True, keys=KEYS) as emu:
        dry = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--dry-run", "--price", "0.5",
                  "--retries", "2")
        assert emu.stats.requests == 0
    assert dry.returncode == 0, dry.stderr
    assert not out.exists()
    assert "would fetch 11: 11 distinct ids, 0 short links" in dry.stdout
    assert "1 repeat;" in dry.stdout and "1 input holds no id" in dry.stdout
    assert "billed calls: 11 if every answer is read, at worst 33" in dry.stdout
    assert "cost 5.50, at worst 16.50" in dry.stdout


async def test_two_runs_on_one_out_do_not_both_fetch(tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids(7092264344980868363, 30)) + "\n")
    out = tmp_path / "out.jsonl"
    async with Emulator(keys=KEYS, latency=0.2) as emu:
        args = [sys.executable, "-m", "douyin_async", "batch", str(source), "-o", str(out), "--base-url",
                emu.base_url, "--rate", "0", "--concurrency", "2"]
        first = await asyncio.create_subprocess_exec(*args, env=ENV, stdout=asyncio.subprocess.DEVNULL,
                                                     stderr=asyncio.subprocess.DEVNULL)
        try:
            while not out.exists() or not out.stat().st_size:
                assert first.returncode is None
                await asyncio.sleep(0.05)
            second = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        finally:
            await asyncio.wait_for(first.wait(), 120)
    assert second.returncode == 2
    assert "another douyin-async run is writing it" in second.stderr
    assert first.returncode in (0, 1)
    found = [r["item_id"] for r in records(out)]
    assert len(found) == len(set(found))


def test_csv_output_flattens_the_common_fields_and_resumes(tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    source.write_text(f"{SEED_ID}\n")
    out = tmp_path / "videos.csv"
    env_run = subprocess.run([sys.executable, "-m", "douyin_async", "batch", str(source), "-o", str(out),
                              "--emulator", "--rate", "0"], capture_output=True, text=True, timeout=60,
                             env={**ENV, "DOUYIN_API_KEY": "", "DOUYIN_API_SECRET": ""})
    assert env_run.returncode == 0, env_run.stderr
    text = out.read_text(encoding="utf-8")
    header, row = text.splitlines()
    assert header.startswith("input,item_id,title,nick,uid")
    assert SEED_ID in row and "修以美好" in row and "花草日记" in row
    rerun = subprocess.run([sys.executable, "-m", "douyin_async", "batch", str(source), "-o", str(out),
                            "--emulator"], capture_output=True, text=True, timeout=60, env=ENV)
    assert "skipped 1: 1 already in" in rerun.stdout
    assert out.read_text(encoding="utf-8") == text


async def test_a_bad_line_mid_stdin_stops_there_and_keeps_what_was_paid_for(tmp_path: Path) -> None:
    wanted = ids(7092264344980868363, 30)
    out = tmp_path / "out.jsonl"
    async with Emulator(keys=KEYS, latency=0.05, found_ratio=1.0) as emu:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "douyin_async", "batch", "-", "-o", str(out), "--input-format", "jsonl",
            "--base-url", emu.base_url, "--rate", "0", "--concurrency", "4",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
        )
        body = "".join(f'{{"id": "{i}"}}\n' for i in wanted) + "{bad\n"
        stdout, stderr = await asyncio.wait_for(process.communicate(body.encode()), 60)
        charged = emu.stats.charged
    assert process.returncode == 2, stderr
    assert b"INPUT line 31 is not JSON" in stderr and b"stopped reading there" in stderr
    assert b"billed calls" in stdout  # the summary is printed
    assert len(records(out)) == charged == 30  # every answer paid for is kept


def test_get_on_a_console_that_cannot_show_an_emoji_still_shows_the_video() -> None:
    result = subprocess.run([sys.executable, "-m", "douyin_async", "get", SEED_ID, "--emulator"],
                            capture_output=True, timeout=60, env={**ENV, "PYTHONIOENCODING": "gbk"})
    assert result.returncode == 0, result.stderr
    assert "修以美好".encode("gbk") in result.stdout


async def test_a_failed_download_is_recorded_and_tried_again_by_the_next_run(tmp_path: Path) -> None:
    item_id = next(i for i in ids(7092264344980868363, 20) if Emulator().expected_item(i))
    source = tmp_path / "ids.txt"
    source.write_text(f"{item_id}\n")
    out, media = tmp_path / "out.jsonl", tmp_path / "media"
    async with Emulator(fast=True, keys=KEYS, self_contained=True) as emu:
        video = emu.expected_item(item_id)["video"]  # type: ignore[index]
        for url in (video["url"], video["url_raw"]):
            emu.script_media(url, ["http404"] * 6)
        first = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--download", str(media))
        assert first.returncode == 1, first.stderr
        assert "1 download failed" in first.stdout
        assert [r.get("download") for r in records(tmp_path / "out.failed.jsonl")] == [True]
        for url in (video["url"], video["url_raw"]):
            emu.script_media(url, [])  # the media host is back
        second = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--download", str(media))
        assert second.returncode == 0, second.stderr
        assert "1 failed downloads of earlier runs tried again" in second.stdout
        assert (media / f"{item_id}.mp4").read_bytes() == emu.media_bytes("video", item_id)
    assert (tmp_path / "out.failed.jsonl").read_text() == ""
    assert len(records(out)) == 1


async def test_xlsx_output_is_rebuilt_from_its_journal_and_a_rerun_sends_nothing(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wanted = ids(7092264344980868363, 12)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    out = tmp_path / "videos.xlsx"
    async with Emulator(keys=KEYS, fast=True, found_ratio=1.0) as emu:
        first = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        assert first.returncode == 0, first.stderr
        assert "wrote" in first.stderr and "12 results, from videos.xlsx.csv" in first.stderr
        sent = emu.stats.requests
        rerun = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        assert rerun.returncode == 0, rerun.stderr
        assert emu.stats.requests == sent == 12
    book = openpyxl.load_workbook(out, read_only=True)
    header, *rows = [list(row) for row in book.active.iter_rows(values_only=True)]
    book.close()
    assert header[:3] == ["input", "item_id", "title"]
    assert sorted(row[1] for row in rows) == wanted  # ids as text: every digit kept
    assert (tmp_path / "videos.xlsx.csv").exists()


def test_a_workbook_holds_text_only_and_spills_onto_more_sheets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    monkeypatch.setattr(_workbook, "SHEET_ROWS", 3)  # a header and two results per sheet
    journal = tmp_path / "out.xlsx.csv"
    titles = ['=HYPERLINK("http://evil.example","click")', "bell\x07 and tab\tkept", "+1", "no\uffff\ufffe xml", "最后"]
    with open(journal, "wb") as stream:
        stream.write(b",".join(c.encode() for c in CSV_COLUMNS) + b"\n")
        for n, title in enumerate(titles):
            row = [f"{SEED_ID[:-1]}{n}", f"{SEED_ID[:-1]}{n}", title] + [""] * (len(CSV_COLUMNS) - 3)
            stream.write(_csv_row(row))
        stream.write(b'"torn, last')  # a row the journal has not finished: left out
    assert _workbook.write_workbook(journal, tmp_path / "out.xlsx") == len(titles)
    book = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert book.sheetnames == ["results", "results 2", "results 3"]
    cells = [row for sheet in book for row in sheet.iter_rows(min_row=2)]
    assert [row[2].value for row in cells] == [titles[0], "bell and tab\tkept", "+1", "no xml", "最后"]
    assert {row[2].data_type for row in cells} == {"s"}  # a title never becomes a formula


def _csv_row(fields: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue().encode()


def test_a_workbook_that_cannot_be_written_keeps_the_results_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("openpyxl")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ids.txt").write_text(f"{SEED_ID}\n")

    def disk_full(journal: Path, workbook: Path) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_batch, "write_workbook", disk_full)
    assert cli.main(["batch", "ids.txt", "-o", "videos.xlsx", "--emulator", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "-o videos.xlsx: cannot write it (No space left on device)" in err
    assert "safe in videos.xlsx.csv" in err and "Traceback" not in err
    assert SEED_ID in (tmp_path / "videos.xlsx.csv").read_text(encoding="utf-8")


async def test_a_pretty_printed_answer_is_one_record_and_a_rerun_bills_nothing(tmp_path: Path) -> None:
    """A gateway that indents its JSON: every record of OUT is still one line, so a rerun reads them all."""
    from aiohttp import web

    sent: list[str] = []

    async def gateway(request: web.Request) -> web.Response:
        item_id = request.query["item_id"]
        sent.append(item_id)
        body = {"error_code": "0000", "item": {"num_iid": item_id, "title": "标题\nline two",
                                               "video": {"url_raw": "http://x/play"}}, "api_info": ""}
        return web.Response(body=json.dumps(body, indent=2, ensure_ascii=False).encode(),
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/douyin/item_get_video/", gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    wanted = ids(7092264344980868363, 5)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/douyin"
    try:
        for out in (tmp_path / "out.jsonl", tmp_path / "out.csv"):
            for _ in range(2):
                done = await run("batch", str(source), "-o", str(out), "--base-url", base, "--no-progress")
                assert done.returncode == 0, done.stderr
            lines = out.read_text(encoding="utf-8").splitlines()
            assert len(lines) == 5 + (out.suffix == ".csv")
    finally:
        await runner.cleanup()
    assert sorted(sent) == sorted(wanted * 2)  # each id once per OUT: the reruns sent nothing
    first = records(tmp_path / "out.jsonl")[0]
    assert first["item"]["title"] == "标题\nline two"  # type: ignore[index]


async def test_six_shards_on_one_errors_file_lose_no_failure_and_rerun_free(tmp_path: Path) -> None:
    """Six runs at once, each on its own OUT and part of one list, all writing one --errors file:
    every billed not-found answer is kept, and running all six again bills nothing."""
    wanted = ids(7092264344980868363, 180)
    errors = tmp_path / "failed.jsonl"
    shards = []
    for n in range(6):
        source = tmp_path / f"part{n}.txt"
        source.write_text("\n".join(wanted[n::6]) + "\n")
        shards.append((source, tmp_path / f"out{n}.jsonl"))
    async with Emulator(fast=True, keys=KEYS, found_ratio=0.5, seed=3) as emu:
        missing = {i for i in wanted if emu.expected_item(i) is None}
        assert len(missing) > 40
        for _ in range(2):
            results = await asyncio.gather(*(
                run("batch", str(source), "-o", str(out), "--errors", str(errors), "--base-url", emu.base_url,
                    "--no-progress") for source, out in shards))
            assert all(result.returncode in (0, 1) for result in results), [r.stderr for r in results]
            assert {str(r["item_id"]) for r in records(errors)} == missing
        assert emu.stats.charged == len(wanted)  # the second round billed nothing
        # A rerun that names another errors file, or none, still skips what failed for good.
        for n, (source, out) in enumerate(shards):
            rerun = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--no-progress",
                              *(["--errors", str(tmp_path / "other.jsonl")] if n % 2 else []))
            assert rerun.returncode in (0, 1), rerun.stderr
            assert "earlier runs of -o" in rerun.stderr and str(errors) in rerun.stderr
        assert emu.stats.charged == len(wanted)
    assert len(records(errors)) == len(missing)  # one line per id once no run shares it


async def test_pasted_credentials_in_the_input_reach_no_file(tmp_path: Path) -> None:
    """An input line holding a gateway URL with the key and secret: masked in OUT and the errors file."""
    key, secret = next(iter(KEYS.items()))
    source = tmp_path / "ids.txt"
    source.write_text(f"https://www.douyin.com/video/7092264344980868363?key={key}&secret={secret}\n"
                      f"https://api-gw-4.cn/douyin/item_get_video/?key={key}&secret={secret}&item_id=1\n"
                      f"not an id but the secret {secret}\n")
    out = tmp_path / "out.jsonl"
    async with Emulator(fast=True, keys=KEYS, found_ratio=1.0) as emu:
        done = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
    assert done.returncode == 1, done.stderr
    written = out.read_text() + (tmp_path / "out.failed.jsonl").read_text() + done.stdout + done.stderr
    assert "7092264344980868363" in out.read_text()
    assert key not in written and secret not in written


async def test_an_errors_file_recorded_but_never_created_stops_no_rerun(tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("7092264344980868363\n")
    out = tmp_path / "out.jsonl"
    async with Emulator(fast=True, keys=KEYS, found_ratio=1.0) as emu:
        first = await run("batch", str(source), "-o", str(out), "--errors", str(tmp_path / "e2.jsonl"),
                          "--base-url", emu.base_url)
        assert first.returncode == 0, first.stderr
        assert not (tmp_path / "e2.jsonl").exists()
        for extra in ([], ["--retry-failed"]):
            again = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, *extra)
            assert again.returncode == 0, again.stderr
        assert emu.stats.requests == 1
