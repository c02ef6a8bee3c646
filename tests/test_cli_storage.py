"""The batch command into databases: SQLite and Parquet files, PostgreSQL tables shared by runs;
reruns that send nothing, kills that lose nothing billed, and faults that stop with one line."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from douyin_async.emulator import Emulator

from .conftest import run_cli
from .postgres_server import PostgresServer
from .test_sinks import ids, rows

KEYS = {"store-key": "store-secret"}
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "DOUYIN_API_KEY": "store-key", "DOUYIN_API_SECRET": "store-secret"}
PASSWORD = "pg-cli-secret-0815"


def count_in(path: Path) -> int:
    try:
        return int(rows(path, "SELECT count(*) FROM videos")[0][0])
    except sqlite3.Error:
        return 0


async def run(*args: str) -> subprocess.CompletedProcess[str]:
    return await run_cli(ENV, *args)


def no_secret(*outputs: subprocess.CompletedProcess[str]) -> None:
    for output in outputs:
        assert PASSWORD not in output.stdout + output.stderr
        assert "store-secret" not in output.stdout + output.stderr
        assert "Traceback" not in output.stderr


async def test_sqlite_out_is_its_own_journal_and_its_runs_match_the_bill(tmp_path: Path) -> None:
    wanted = ids(60)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join([*wanted, "not an id", wanted[0]]) + "\n")
    out = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys=KEYS) as emu:
        first = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        found = {i for i in wanted if emu.expected_item(i) is not None}
        assert first.returncode == 1, first.stderr
        assert emu.stats.requests == 60
        assert f"failures: table failures of {out}" in first.stdout
        assert {row[0] for row in rows(out, "SELECT item_id FROM videos")} == found
        assert rows(out, "SELECT count(*) FROM failures WHERE permanent = 1")[0][0] == 61 - len(found)

        # The same videos again, as URLs: nothing is sent, nothing is stored twice.
        source.write_text("\n".join(f"https://www.douyin.com/video/{i}" for i in wanted) + "\nnot an id\n")
        second = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        assert second.returncode == 1, second.stderr
        assert emu.stats.requests == 60
        assert f"skipped 61: {len(found)} already in" in second.stdout

        # --retry-failed asks again for what failed for good, and only that.
        third = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--retry-failed")
        assert emu.stats.requests == 60 + 60 - len(found), third.stdout
        runs = rows(out, "SELECT status, billed, in_flight, settings FROM runs ORDER BY run_id")
        assert [run[0] for run in runs] == ["done", "done", "done"]
        assert sum(run[1] for run in runs) == emu.stats.charged
        assert all(run[2] == 0 for run in runs)
        assert '"output":' in runs[0][3] and "store-secret" not in str(runs) and "store-key" not in str(runs)
        no_secret(first, second, third)


async def _kill_when(process: asyncio.subprocess.Process, ready: Callable[[], bool], timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(ready) and process.returncode is None:
        assert asyncio.get_running_loop().time() < deadline, "the run never got there"
        await asyncio.sleep(0.02)
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()


async def _spawn(*args: str, env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None,
                 ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "douyin_async", *args, "--rate", "0", "--concurrency", "8", "--no-progress",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env or ENV, preexec_fn=preexec)


async def _killed_twice_then_finished(
    tmp_path: Path, out: str, stored: Callable[[], int], table: Callable[[str], list[tuple[Any, ...]]],
) -> None:
    """The shared scenario: SIGKILL at a third and at two thirds, then a rerun to the end."""
    wanted = ids(1500)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    async with Emulator(fast=True, keys=KEYS) as emu:
        emu.config.latency = 0.005
        found = {i for i in wanted if emu.expected_item(i) is not None}
        args = ("batch", str(source), "-o", out, "--base-url", emu.base_url)
        for mark in (len(found) // 3, 2 * len(found) // 3):
            process = await _spawn(*args)
            await _kill_when(process, lambda mark=mark: stored() >= mark)  # type: ignore[misc]
            assert process.returncode == -signal.SIGKILL
        last = await run(*args)
        assert last.returncode == 1, last.stderr  # some ids are not found: not all ok
        assert last.stderr.count("did not finish (killed?)") == 1, last.stderr  # the run before it
        assert "note: run 2 of -o" in last.stderr
        items = [row[0] for row in table("SELECT item_id FROM {videos}")]
        assert len(items) == len(set(items)) and set(items) == found  # every video once
        runs = table("SELECT status, billed, in_flight FROM {runs} ORDER BY run_id")
        assert [run[0] for run in runs] == ["killed", "killed", "done"]
        charged, recorded = emu.stats.charged, sum(run[1] for run in runs)
        in_flight_at_kills = sum(run[2] for run in runs[:2])
        refetched = charged - len(wanted)  # every id was sent once at least: the rest were sent again
        # What the runs table misses was asked again (it was paid after the run's last result), and
        # nothing else was paid twice: at each kill, at most the 8 read ahead (in flight, or answered
        # and not yet taken) and the one result taken and not yet written. What was written and not
        # committed is stored from the spool by the next run.
        assert recorded <= charged <= recorded + in_flight_at_kills, (charged, runs)  # each request noted as it went
        assert charged - recorded <= refetched <= 2 * (8 + 1), (charged, runs, last.stderr)
        assert in_flight_at_kills > 0


async def test_sqlite_killed_twice_stores_every_video_once_and_pays_twice_only_for_what_was_in_flight(
    tmp_path: Path,
) -> None:
    out = tmp_path / "videos.sqlite"
    await _killed_twice_then_finished(tmp_path, str(out), lambda: count_in(out),
                                      lambda query: rows(out, query.format(videos="videos", runs="runs")))
    assert not list(tmp_path.glob("videos.sqlite-spool*"))  # the spools of the killed runs were replayed


@pytest.mark.parametrize("table", [[], ["--table", "clips"]], ids=["default", "table"])
async def test_parquet_is_rebuilt_from_its_journal_with_typed_columns(tmp_path: Path, table: list[str]) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    wanted = ids(40)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    out = tmp_path / "videos.parquet"
    async with Emulator(fast=True, keys=KEYS) as emu:
        first = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, *table)
        found = {i for i in wanted if emu.expected_item(i) is not None}
        assert f"wrote {out}: {len(found)} results, from videos.parquet.sqlite" in first.stderr, first.stderr
        second = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, *table)
        assert emu.stats.requests == 40, second.stdout
    table = pq.read_table(out)
    assert set(table.column("item_id").to_pylist()) == found
    types = {field.name: str(field.type) for field in table.schema}
    assert types["attempts"] == "int32" and types["run_id"] == "int64"
    assert types["fetched_at"] == types["server_time"] == "timestamp[ms, tz=UTC]"
    assert None not in table.column("server_time").to_pylist()


def test_parquet_without_pyarrow_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("7092264344980868359\n")
    program = ("import sys; sys.modules['pyarrow'] = None; from douyin_async.cli import main; "
               "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", program, "batch", "ids.txt", "-o", "v.parquet", "--emulator"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=ENV)
    assert done.returncode == 2
    assert done.stderr.strip() == ("douyin-async batch: -o v.parquet: writing .parquet needs pyarrow: "
                                   "pip install 'douyin-async[parquet]'")
    assert sorted(os.listdir(tmp_path)) == ["ids.txt"]


def test_parquet_with_a_pyarrow_that_cannot_be_imported_is_one_line_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("7092264344980868359\n")
    broken = tmp_path / "broken"
    (broken / "pyarrow").mkdir(parents=True)
    (broken / "pyarrow" / "__init__.py").write_text("raise ImportError('numpy ABI mismatch')\n")
    env = {**ENV, "PYTHONPATH": str(broken)}
    done = subprocess.run([sys.executable, "-m", "douyin_async", "batch", "ids.txt", "-o", "v.parquet", "--emulator"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert "needs pyarrow: pip install 'douyin-async[parquet]' (it is installed, but importing it failed: numpy ABI" \
        in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["broken", "ids.txt"]


async def test_a_run_killed_before_its_first_commit_is_noted_with_a_number(tmp_path: Path) -> None:
    out = tmp_path / "videos.sqlite"
    program = ("import asyncio, os, sys; from douyin_async.sinks import SQLiteSink\n"
               "async def main():\n    await SQLiteSink(sys.argv[1]).open()\n    os._exit(0)\nasyncio.run(main())")
    subprocess.run([sys.executable, "-c", program, str(out)], check=True, timeout=60, env=ENV)  # noqa: ASYNC221
    (tmp_path / "ids.txt").write_text("7092264344980868359\n")
    async with Emulator(fast=True, keys=KEYS) as emu:
        done = await run("batch", str(tmp_path / "ids.txt"), "-o", str(out), "--base-url", emu.base_url)
    assert done.returncode == 0, done.stderr
    assert "note: run 1 of -o" in done.stderr and "may have paid for 0 calls" in done.stderr, done.stderr


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE")
async def test_a_full_disk_stops_the_run_with_one_line_and_the_rerun_continues(tmp_path: Path) -> None:
    wanted = ids(800)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    out = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys=KEYS) as emu:
        args = ("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        process = await _spawn(*args, preexec=_file_size_limit(400_000))  # about 250 videos
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 3, stderr
        message = stderr.decode()
        assert f"stopped: -o {out}: cannot write it:" in message and "rerun the same command" in message
        assert "Traceback" not in message
        assert "billed calls" in stdout.decode()  # the summary still says what was spent
        kept = count_in(out)
        assert 0 < kept < 800
        rerun = await run(*args)
        found = {i for i in wanted if emu.expected_item(i) is not None}
        assert rerun.returncode == 1, rerun.stderr
        items = [row[0] for row in rows(out, "SELECT item_id FROM videos")]
        assert len(items) == len(set(items)) and set(items) == found
        assert emu.stats.charged - len(wanted) <= 2000 // 8  # asked again: at most what the stopped run had queued


async def test_a_database_locked_mid_run_stops_it_and_the_rerun_continues(tmp_path: Path) -> None:
    wanted = ids(600)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    out = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys=KEYS) as emu:
        emu.config.latency = 0.01
        args = ("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        process = await _spawn(*args)
        while count_in(out) < 50:
            assert process.returncode is None, await process.communicate()
            await asyncio.sleep(0.02)
        other = sqlite3.connect(out, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program, holding the write lock for longer than we wait
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), 60)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert process.returncode == 3, stderr
        assert "database is locked (another program holds it for longer than 5 s)" in stderr.decode()
        rerun = await run(*args)
        assert rerun.returncode == 1, rerun.stderr
        found = {i for i in wanted if emu.expected_item(i) is not None}
        assert {row[0] for row in rows(out, "SELECT item_id FROM videos")} == found
        statuses = [row[0] for row in rows(out, "SELECT status FROM runs ORDER BY run_id")]
        assert statuses[-1] == "done" and statuses[0] in ("stopped", "killed")


async def test_a_second_run_on_one_sqlite_out_stops_at_once(tmp_path: Path) -> None:
    wanted = ids(600)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    out = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys=KEYS) as emu:
        emu.config.latency = 0.05
        args = ("batch", str(source), "-o", str(out), "--base-url", emu.base_url)
        first = await _spawn(*args)
        while count_in(out) < 10:
            assert first.returncode is None, await first.communicate()
            await asyncio.sleep(0.02)
        second = await run(*args)
        await first.communicate()
        assert second.returncode == 2, second.stderr
        assert "another douyin-async run is writing it" in second.stderr
        assert first.returncode == 1
        assert emu.stats.requests == 600  # the second sent nothing


async def test_a_failed_download_is_kept_in_the_table_and_tried_again(tmp_path: Path) -> None:
    wanted = ids(6)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    out, media = tmp_path / "videos.sqlite", tmp_path / "media"
    async with Emulator(fast=True, keys=KEYS) as emu:
        found = sorted(i for i in wanted if emu.expected_item(i) is not None)
        emu.config.media_faults = {"http404": 1.0}
        first = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--download", str(media))
        assert first.returncode == 1, first.stderr
        failed = sorted(row[0] for row in rows(out, "SELECT item_id FROM failures WHERE kind = 'download'"))
        assert failed == found
        emu.config.media_faults = {}
        second = await run("batch", str(source), "-o", str(out), "--base-url", emu.base_url, "--download", str(media))
        assert second.returncode == 1, second.stderr  # the missing videos are still missing
        assert rows(out, "SELECT count(*) FROM failures WHERE kind = 'download'") == [(0,)]
        assert len(list(media.iterdir())) == len(found)


# -- PostgreSQL ------------------------------------------------------------------------------------


def _pg(server: PostgresServer, table: str) -> Callable[[str], list[tuple[Any, ...]]]:
    names = {"videos": table, "runs": f"{table}_runs", "failures": f"{table}_failures"}

    def query(sql: str) -> list[tuple[Any, ...]]:
        text = server.psql(sql.format(**names))
        return [tuple(int(v) if v.lstrip("-").isdigit() and len(v) < 12 else v for v in line.split("|"))
                for line in text.splitlines() if line]
    return query


async def test_postgres_out_resumes_and_never_shows_its_password(
    shared_postgres: PostgresServer, tmp_path: Path,
) -> None:
    wanted = ids(50)
    url = shared_postgres.url(password=PASSWORD)
    table = _pg(shared_postgres, "cli_single")
    async with Emulator(fast=True, keys=KEYS) as emu:
        source = tmp_path / "ids.txt"
        source.write_text("\n".join([*wanted, "not an id"]) + "\n")
        first = await run("batch", str(source), "-o", url, "--table", "cli_single", "--base-url", emu.base_url, "-v")
        second = await run("batch", str(source), "-o", url, "--table", "cli_single", "--base-url", emu.base_url)
        found = {i for i in wanted if emu.expected_item(i) is not None}
        assert first.returncode == 1 and second.returncode == 1, first.stderr + second.stderr
        assert emu.stats.requests == 50
        assert f"table cli_single_failures of postgresql://***@127.0.0.1:{shared_postgres.port}/postgres" \
            in first.stdout
        assert {row[0] for row in table("SELECT item_id FROM {videos}")} == found
        assert table("SELECT count(*) FROM {failures}") == [(51 - len(found),)]
        runs = table("SELECT status, billed, settings FROM {runs} ORDER BY run_id")
        assert [run[:2] for run in runs] == [("done", emu.stats.charged), ("done", 0)]
        assert PASSWORD not in str(runs)
        no_secret(first, second)


async def test_two_machines_fill_one_table_and_a_rerun_anywhere_skips_their_work(
    shared_postgres: PostgresServer, tmp_path: Path,
) -> None:
    wanted = ids(600)
    halves = tmp_path / "part1.txt", tmp_path / "part2.txt"
    halves[0].write_text("\n".join(wanted[:300]) + "\n")
    halves[1].write_text("\n".join(wanted[300:]) + "\n")
    (tmp_path / "all.txt").write_text("\n".join(wanted) + "\n")
    url = shared_postgres.url()
    table = _pg(shared_postgres, "fleet")
    async with Emulator(fast=True, keys=KEYS) as emu:
        emu.config.latency = 0.05  # each run lasts about two seconds: longer than a process takes to start
        both = await asyncio.gather(*(run("batch", str(half), "-o", url, "--table", "fleet", "--base-url",
                                          emu.base_url) for half in halves))
        assert [done.returncode for done in both] == [1, 1], [done.stderr for done in both]
        runs = table("SELECT started_at, ended_at FROM {runs}")
        assert len(runs) == 2 and runs[0][0] < runs[1][1] and runs[1][0] < runs[0][1]  # they did overlap
        rerun = await run("batch", str(tmp_path / "all.txt"), "-o", url, "--table", "fleet", "--base-url",
                          emu.base_url)
        assert emu.stats.requests == 600, rerun.stdout
        found = {i for i in wanted if emu.expected_item(i) is not None}
        items = [row[0] for row in table("SELECT item_id FROM {videos}")]
        assert len(items) == len(set(items)) and set(items) == found
        assert sum(row[0] for row in table("SELECT billed FROM {runs}")) == emu.stats.charged == 600


async def test_postgres_killed_twice_stores_every_video_once(postgres_server: PostgresServer, tmp_path: Path) -> None:
    table = _pg(postgres_server, "videos")

    def stored() -> int:
        found = table("SELECT count(*) FROM {videos}")
        return int(found[0][0]) if found else 0

    await _killed_twice_then_finished(
        tmp_path, postgres_server.url(),
        stored, lambda query: table(query.replace("{videos}", "videos").replace("{runs}", "runs")))


async def test_a_postgres_that_goes_away_stops_the_run_and_the_rerun_continues(
    postgres_server: PostgresServer, tmp_path: Path,
) -> None:
    wanted = ids(800)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    url = postgres_server.url(password=PASSWORD)
    table = _pg(postgres_server, "videos")
    async with Emulator(fast=True, keys=KEYS) as emu:
        emu.config.latency = 0.01
        args = ("batch", str(source), "-o", url, "--base-url", emu.base_url)
        process = await _spawn(*args)
        while not (found := await asyncio.to_thread(table, "SELECT count(*) FROM {videos}")) or int(found[0][0]) < 50:
            assert process.returncode is None, await process.communicate()
            await asyncio.sleep(0.05)
        postgres_server.kill()
        stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
        message = stderr.decode()
        assert process.returncode == 3, message
        assert "stopped: -o postgresql://***@127.0.0.1" in message and "rerun the same command" in message
        assert PASSWORD not in message + stdout.decode() and "Traceback" not in message
        postgres_server.start()
        rerun = await run(*args)
        assert rerun.returncode == 1, rerun.stderr
        found_ids = {i for i in wanted if emu.expected_item(i) is not None}
        items = [row[0] for row in table("SELECT item_id FROM {videos}")]
        assert len(items) == len(set(items)) and set(items) == found_ids
        no_secret(rerun)


async def test_a_postgres_table_with_other_columns_is_refused_untouched(shared_postgres: PostgresServer,
                                                                        tmp_path: Path) -> None:
    shared_postgres.psql("CREATE TABLE theirs (item_id text, note text); INSERT INTO theirs VALUES ('1', 'mine')")
    (tmp_path / "ids.txt").write_text("7092264344980868359\n")
    done = await run("batch", str(tmp_path / "ids.txt"), "-o", shared_postgres.url(password=PASSWORD),
                     "--table", "theirs", "--emulator")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("douyin-async batch: -o postgresql://***@127.0.0.1:"
                                   f"{shared_postgres.port}/postgres: its table theirs has other columns than "
                                   "douyin-async's; give another table name (--table)")
    assert shared_postgres.psql("SELECT * FROM theirs").strip() == "1|mine"
    assert shared_postgres.psql("SELECT to_regclass('theirs_runs') IS NULL").strip() == "t"


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE")
async def test_a_spool_with_no_room_stops_a_postgres_run_before_it_sends_naming_the_spool(
    shared_postgres: PostgresServer, tmp_path: Path,
) -> None:
    """The spool is the one local file a PostgreSQL run writes, and it takes its room on the disk when
    it opens: with no room, the run stops before a request goes, saying so (not blaming the
    database), and the rerun does it all."""
    wanted = ids(300)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(wanted) + "\n")
    url = shared_postgres.url(password=PASSWORD)
    table = _pg(shared_postgres, "full_spool")
    env = {**ENV, "XDG_STATE_HOME": str(tmp_path / "state")}
    async with Emulator(fast=True, keys=KEYS) as emu:
        args = ("batch", str(source), "-o", url, "--table", "full_spool", "--base-url", emu.base_url)
        process = await _spawn(*args, env=env, preexec=_file_size_limit(6_000))  # less than a spool file's first size
        _, stderr = await asyncio.wait_for(process.communicate(), 120)
        message = stderr.decode()
        assert process.returncode == 2, message
        assert f"-o postgresql://***@127.0.0.1:{shared_postgres.port}/postgres: cannot keep results in " \
               f"{tmp_path / 'state'}/douyin-async/spool until they are committed: File too large" in message
        assert PASSWORD not in message and "Traceback" not in message
        assert emu.stats.charged == 0
        rerun = await run_cli(env, *args)
        assert rerun.returncode == 1, rerun.stderr
        found = {i for i in wanted if emu.expected_item(i) is not None}
        items = [row[0] for row in table("SELECT item_id FROM {videos}")]
        assert len(items) == len(set(items)) and set(items) == found
        assert [run[0] for run in table("SELECT status FROM {runs} ORDER BY run_id")] == ["failed", "done"]
    assert not list((tmp_path / "state" / "douyin-async" / "spool").iterdir())
