"""The sinks from Python: every result stored once, the run's row from the ledger, the loop never
blocked, foreign databases refused untouched, and a PostgreSQL password never shown."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from douyin_async import BatchResult, DouyinClient, NotFoundError, Usage
from douyin_async.emulator import Emulator
from douyin_async.sinks import ForeignStoreError, PostgresSink, SQLiteSink, StorageError
from douyin_async.sinks._sink import UNSTORED_PER_REQUEST
from douyin_async.sinks._spool import FIRST_SIZE, Leftovers, Spool, SpoolLine
from douyin_async.sinks._tables import iso_utc, video_row

from .conftest import KEY, SECRET, SEED_ID
from .postgres_server import PostgresServer

PASSWORD = "pg-sink-secret-4711"


def ids(count: int, start: int = 7092264344980868363) -> list[str]:
    return [str(start + n) for n in range(count)]


def rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    database = sqlite3.connect(path)
    try:
        return database.execute(query).fetchall()
    finally:
        database.close()


def client_for(emulator: Emulator, **options: Any) -> DouyinClient:
    return DouyinClient(KEY, SECRET, base_url=emulator.base_url, rate_limit=None, max_concurrency=16, **options)


async def test_sqlite_sink_stores_every_result_once_and_the_run_from_the_ledger(tmp_path: Path) -> None:
    wanted = ids(150)
    path = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        async with SQLiteSink(path, settings={"why": "test"}) as sink:
            sink.watch(client)
            async for result in client.iter_videos([*wanted, "not an id", wanted[0]]):
                await sink.write(result)
        charged = emulator.stats.charged
        found = {i for i in wanted if emulator.expected_item(i) is not None}
    assert {row[0] for row in rows(path, "SELECT item_id FROM videos")} == found
    failures = rows(path, "SELECT key, error, permanent, billed FROM failures ORDER BY key")
    assert {key for key, *_ in failures} == (set(wanted) - found) | {"input:not an id"}
    assert all(permanent == 1 for _, _, permanent, _ in failures)
    assert ("input:not an id", "InvalidParamError", 1, 0) in failures
    (run,) = rows(path, "SELECT status, requests, billed, possibly_billed, in_flight, fetched, failed, settings, "
                        "ended_at IS NOT NULL FROM runs")
    assert run == ("done", 150, charged, 0, 0, len(found), 151 - len(found), '{"why":"test"}', 1)
    item, title, fetched_at = rows(path, f"SELECT item, title, fetched_at FROM videos WHERE item_id = '{SEED_ID}'")[0] \
        if SEED_ID in found else rows(path, "SELECT item, title, fetched_at FROM videos LIMIT 1")[0]
    assert item.startswith('{"num_iid":') and "\\u" not in item and title
    assert fetched_at.endswith("+00:00")
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]


async def test_a_later_record_of_an_id_replaces_the_earlier_one(tmp_path: Path) -> None:
    """In one commit or across two: a success clears the id's failure, and a refetch replaces its row."""
    path = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        response = await client.item_get_video(SEED_ID)
        failed = BatchResult(SEED_ID, SEED_ID, None, NotFoundError("gone", code="2000"), 1, 0, billed=1)
        ok = BatchResult(SEED_ID, SEED_ID, response, None, 2, 0, billed=1)
        async with SQLiteSink(path) as sink:
            await sink.write(failed)
            await sink.write(ok)  # queued together: one commit
        assert rows(path, "SELECT count(*) FROM failures") == [(0,)]
        async with SQLiteSink(path) as sink:
            await sink.write(failed)
            await sink.flush()
            assert rows(path, "SELECT key FROM failures") == [(SEED_ID,)]
            await sink.write(ok)
            await sink.write_download(SEED_ID, OSError("disk full"))
        assert rows(path, "SELECT key, kind FROM failures") == [(f"download:{SEED_ID}", "download")]
        assert rows(path, "SELECT item_id, attempts, run_id FROM videos") == [(SEED_ID, 2, 2)]
        async with SQLiteSink(path) as sink:
            assert [failure.key async for failure in sink.failures()] == [f"download:{SEED_ID}"]
            await sink.write_download(SEED_ID, None)
        assert rows(path, "SELECT count(*) FROM failures") == [(0,)]


async def test_the_loop_runs_on_while_the_database_is_locked(tmp_path: Path) -> None:
    """Commits wait in the sink's thread: a heartbeat task keeps beating while another program holds the lock."""
    path = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        response = await client.item_get_video(SEED_ID)
        async with SQLiteSink(path) as sink:
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another program writes for a while
            gaps: list[float] = []

            async def heartbeat() -> None:
                last = time.monotonic()
                while True:
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

            beating = asyncio.create_task(heartbeat())
            await sink.write(BatchResult(SEED_ID, SEED_ID, response, None, 1, 0, billed=1))
            await asyncio.sleep(1.0)  # the writer is stuck on the lock meanwhile
            other.execute("COMMIT")
            other.close()
            await sink.flush()
            beating.cancel()
        assert rows(path, "SELECT count(*) FROM videos") == [(1,)]
        assert len(gaps) > 20 and max(gaps) < 0.5, max(gaps)


async def test_a_lock_held_too_long_stops_the_sink_with_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        response = await client.item_get_video(SEED_ID)
        sink = SQLiteSink(path)
        await sink.open()
        ledger = _Ledger()
        sink.watch(ledger)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            ledger.usage, ledger.limits.in_flight = Usage(requests=3, billed=1), 2
            await sink.write(BatchResult(SEED_ID, SEED_ID, response, None, 1, 0, billed=1))
            with pytest.raises(StorageError, match="locked") as caught:
                await sink.flush()
            assert caught.value.fatal
            with pytest.raises(StorageError):  # and every later write says so
                await sink.write(BatchResult(SEED_ID, SEED_ID, response, None, 1, 0))
        finally:
            ledger.usage, ledger.limits.in_flight = Usage(requests=3, billed=3), 0  # two answers came since
            other.execute("ROLLBACK")
            other.close()
            await sink.close(quiet=True)
    # The database takes the run's last update once the lock is gone: the row says what happened.
    closed = [("failed", 3, 3, 0, 1)]
    assert rows(path, "SELECT status, requests, billed, in_flight, fetched FROM runs") == closed
    assert rows(path, "SELECT count(*) FROM videos") == [(0,)]
    # What it could not commit waited in its spool: the next sink stores it.
    async with SQLiteSink(path) as later:
        assert later.replayed == 1
    assert rows(path, "SELECT item_id FROM videos") == [(SEED_ID,)]
    # ... and leaves the row the run closed itself, later than its last spooled result.
    assert rows(path, "SELECT status, requests, billed, in_flight, fetched FROM runs WHERE run_id = 1") == closed
    assert sorted(os.listdir(tmp_path)) == ["videos.sqlite", "videos.sqlite-shm", "videos.sqlite-wal"] or \
        sorted(os.listdir(tmp_path)) == ["videos.sqlite"]


class _Ledger:
    """What a sink reads of a watched client: its usage and its limits, set by the test."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.limits = SimpleNamespace(in_flight=0, concurrency_ceiling=8)


def _pending_wal(path: Path) -> None:
    """Another program's WAL database whose last transaction is still in its -wal file (it died)."""
    program = ("import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('pragma journal_mode=wal'); "
               "db.execute('pragma wal_autocheckpoint=0'); db.execute('create table t(a)'); "
               "db.execute('insert into t values (1)'); db.commit(); os._exit(0)")
    subprocess.run([sys.executable, "-c", program, str(path)], check=True, timeout=30)


@pytest.mark.parametrize("kind", ["another program's", "other columns", "not sqlite", "a view only", "user_version",
                                  "pending WAL"])
async def test_a_database_that_is_not_ours_is_refused_and_left_as_it_was(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "theirs.sqlite"
    if kind == "not sqlite":
        path.write_text("my notes\n")
    elif kind == "pending WAL":
        _pending_wal(path)
    elif kind in ("a view only", "user_version"):
        database = sqlite3.connect(path)
        database.execute("CREATE VIEW v AS SELECT 1" if kind == "a view only" else "PRAGMA user_version = 7")
        database.close()
    else:
        database = sqlite3.connect(path)
        database.executescript("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')" if kind ==
                               "another program's" else "PRAGMA application_id = 1146700115; CREATE TABLE runs (x)")
        database.close()
    def files() -> dict[str, str]:  # -shm is SQLite's shared index of the WAL, rewritten by any reader
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()
                if not p.name.endswith("-shm")}

    before = files()
    with pytest.raises(ForeignStoreError):
        await SQLiteSink(path).open()
    with pytest.raises(ForeignStoreError):
        [item_id async for item_id in SQLiteSink(path).done_ids()]
    assert files() == before


def test_a_table_name_must_be_plain_and_a_path_a_file() -> None:
    with pytest.raises(ValueError, match="table="):
        SQLiteSink("x.sqlite", table="videos; DROP TABLE runs")
    for word in ("select", "order", "user", "index", "transaction"):  # PostgreSQL's, SQLite's
        with pytest.raises(ValueError, match=f"table='{word}': a word of SQL"):
            SQLiteSink("x.sqlite", table=word)
        with pytest.raises(ValueError, match=f"table='{word}': a word of SQL"):
            PostgresSink("postgresql://u@h/db", table=word)
    with pytest.raises(ValueError, match="give a file"):
        SQLiteSink(":memory:")


async def test_one_sqlite_file_has_one_sink_at_a_time_and_a_reopened_one_counts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        response = await client.item_get_video(SEED_ID)
        sink = SQLiteSink(path)
        async with sink:
            with pytest.raises(StorageError, match="another douyin-async run is writing it"):
                await SQLiteSink(path).open()
            await sink.write(BatchResult(SEED_ID, SEED_ID, response, None, 1, 0, billed=1))
        async with sink:  # the same sink again: a new run, counted from nothing
            pass
    assert rows(path, "SELECT status, fetched FROM runs ORDER BY run_id") == [("done", 1), ("done", 0)]


async def test_a_stuck_commit_holds_writes_back_instead_of_paying_on(tmp_path: Path) -> None:
    """A commit that waits on another program's lock: after a second, write() waits for it."""
    path = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        response = await client.item_get_video(SEED_ID)
        async with SQLiteSink(path) as sink:
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                await sink.write(BatchResult(SEED_ID, SEED_ID, response, None, 1, 0, billed=1))
                await asyncio.sleep(1.5)  # the writer is stuck on the lock
                later = asyncio.create_task(sink.write(BatchResult(SEED_ID, SEED_ID, response, None, 1, 0)))
                await asyncio.sleep(0.5)
                assert not later.done()  # held back while the commit is stuck
            finally:
                other.execute("ROLLBACK")
                other.close()
            await asyncio.wait_for(later, 10)  # and let go once it goes through
        assert rows(path, "SELECT count(*) FROM videos") == [(1,)]


async def test_no_more_results_wait_for_the_writer_than_a_few_per_request_in_flight(tmp_path: Path) -> None:
    """What a kill can lose is bounded: with 16 requests in flight at most, the 64th result waiting
    for a commit holds the next write back, even before the commit has waited long enough to be
    called stuck."""
    path = tmp_path / "videos.sqlite"
    most = UNSTORED_PER_REQUEST * 16
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        response = await client.item_get_video(SEED_ID)
        async with SQLiteSink(path) as sink:
            sink.watch(client)  # max_concurrency=16
            await sink.flush()
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                for n in range(most):
                    await asyncio.wait_for(sink.write(BatchResult(str(n), str(n), response, None, 1, n)), 0.5)
                later = asyncio.create_task(sink.write(BatchResult("x", "x", response, None, 1, most)))
                await asyncio.sleep(0.3)  # less than a stuck commit's second
                assert not later.done()
            finally:
                other.execute("ROLLBACK")
                other.close()
            await asyncio.wait_for(later, 10)
    assert rows(path, "SELECT fetched, in_flight FROM runs") == [(most + 1, 0)]


def test_a_postgres_url_shows_no_password_in_any_form() -> None:
    for url in ("postgresql://u@h/db?password=REPRSECRET", "postgresql://u@h/db?sslpassword=REPRSECRET",
                "postgres://u:REPR%40SECRET@h:5/db", "postgresql://u:REPR@SECRET@h/db"):
        sink = PostgresSink(url)
        assert "REPR" not in repr(sink) and "SECRET" not in sink.shown_url, repr(sink)
    for unreadable in ("postgresql://u:REPRSECRET@[::1:5432/db", "postgresql://u:REPR/SECRET@h/db"):
        with pytest.raises(ValueError, match="give a PostgreSQL URL") as caught:
            PostgresSink(unreadable)
        assert "SECRET" not in str(caught.value)


async def test_postgres_sink_stores_and_never_shows_its_password(shared_postgres: PostgresServer) -> None:
    url = shared_postgres.url(password=PASSWORD)
    wanted = ids(120)
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        sink = PostgresSink(url, table="library_run", settings={"output": "masked"})
        assert PASSWORD not in repr(sink)
        async with sink:
            sink.watch(client)
            async for result in client.iter_videos([*wanted, "not an id"]):
                await sink.write(result)
        charged = emulator.stats.charged
        found = {i for i in wanted if emulator.expected_item(i) is not None}
    assert set(shared_postgres.psql("SELECT item_id FROM library_run").split()) == found
    assert shared_postgres.psql("SELECT count(*) FROM library_run_failures").strip() == str(121 - len(found))
    assert shared_postgres.psql("SELECT status, billed, in_flight FROM library_run_runs").strip() == f"done|{charged}|0"
    assert [item async for item in PostgresSink(url, table="library_run").done_ids()].__len__() == len(found)

    refused = PostgresSink(f"postgresql://postgres:{PASSWORD}@127.0.0.1:9/postgres")
    with pytest.raises(StorageError) as caught:
        await refused.open()
    assert "cannot connect" in str(caught.value)
    assert PASSWORD not in str(caught.value) + repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_a_role_that_may_only_write_uses_tables_made_before(shared_postgres: PostgresServer) -> None:
    """A fleet's application role without CREATE on the schema: the tables exist, it writes them."""
    shared_postgres.psql("CREATE SCHEMA app; CREATE ROLE writer LOGIN")
    owner = PostgresSink(shared_postgres.url() + "?search_path=app", table="fleet_rw")
    await owner.open()
    await owner.close()
    shared_postgres.psql("GRANT USAGE ON SCHEMA app TO writer; "
                         "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO writer; "
                         "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA app TO writer")
    url = f"postgresql://writer@127.0.0.1:{shared_postgres.port}/postgres?search_path=app"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client, \
            PostgresSink(url, table="fleet_rw") as sink:
        async for result in client.iter_videos(ids(5)):
            await sink.write(result)
    assert shared_postgres.psql("SELECT count(*) FROM app.fleet_rw_runs WHERE status = 'done'").strip() == "2"
    shared_postgres.psql("REVOKE TEMPORARY ON DATABASE postgres FROM PUBLIC")
    try:  # a role that may not create temporary tables (the staging table): refused, and no row left behind
        with pytest.raises(StorageError, match="temporary"):
            await PostgresSink(url, table="fleet_rw").open()
    finally:
        shared_postgres.psql("GRANT TEMPORARY ON DATABASE postgres TO PUBLIC")
    assert shared_postgres.psql("SELECT count(*) FROM app.fleet_rw_runs").strip() == "2"


async def test_two_postgres_sinks_on_one_table_keep_each_video_once(shared_postgres: PostgresServer) -> None:
    """Two runs that overlap (here: on purpose) at once: each row once, the newest answer kept."""
    url = shared_postgres.url()
    wanted = ids(200)

    async def run(part: list[str], emulator: Emulator) -> None:
        async with client_for(emulator) as client, PostgresSink(url, table="shared_run") as sink:
            sink.watch(client)
            async for result in client.iter_videos(part):
                await sink.write(result)

    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator:
        await asyncio.gather(run(wanted[:140], emulator), run(wanted[60:], emulator))
        found = {i for i in wanted if emulator.expected_item(i) is not None}
        charged = emulator.stats.charged
    stored = shared_postgres.psql("SELECT item_id FROM shared_run").split()
    assert len(stored) == len(set(stored)) and set(stored) == found
    billed = shared_postgres.psql("SELECT sum(billed) FROM shared_run_runs").strip()
    assert int(billed) == charged == 280


async def test_a_postgres_run_is_found_killed_by_its_lock_not_by_its_host_and_pid(
    shared_postgres: PostgresServer,
) -> None:
    """A row marked running whose connection is gone is killed, even with this live process's pid
    and host (a pid reused, or fleet machines of one name); a run that still runs, elsewhere, is not."""
    url = shared_postgres.url()
    async with PostgresSink(url, table="who_runs") as running:
        shared_postgres.psql(f"INSERT INTO who_runs_runs (started_at, status, host, pid, requests, billed, "
                             f"possibly_billed, not_billed, refused, retries, in_flight, fetched, failed, settings) "
                             f"VALUES (now(), 'running', '{socket.gethostname()}', {os.getpid()}, "
                             f"5, 5, 0, 0, 0, 0, 2, 3, 0, '{{}}')")
        async with PostgresSink(url, table="who_runs") as later:
            assert [run for run, _ in later.unfinished] == [running.run_id + 1]
            assert later.unfinished[0][1] == 5 + 2  # billed and in flight, less what its stored rows cost: none
    statuses = shared_postgres.psql("SELECT status FROM who_runs_runs ORDER BY run_id").split()
    assert statuses == ["done", "killed", "done"]  # the first ran all along: never called killed


async def test_a_run_lock_holds_for_run_ids_past_32_bits_and_per_schema(shared_postgres: PostgresServer) -> None:
    """The lock's keys are 32-bit: a bigint run_id is split over them, and the schema is in the name,
    so a live run in one schema never hides a dead run of the same number in another."""
    url = shared_postgres.url()
    shared_postgres.psql("CREATE SCHEMA s_a; CREATE SCHEMA s_b")
    async with PostgresSink(url + "?search_path=s_a", table="big_ids"):
        pass
    shared_postgres.psql("ALTER TABLE s_a.big_ids_runs ALTER COLUMN run_id RESTART WITH 2147483648")
    async with PostgresSink(url + "?search_path=s_a", table="big_ids") as sink:
        assert sink.run_id == 2147483648
    dead = PostgresSink(url + "?search_path=s_b")
    await dead.open()
    dead._connection.terminate()  # the process dies: its row says running, its lock is gone
    dead._connection = None
    assert dead._spool is not None
    dead._spool.close(remove=False)  # and so do its spool files' locks
    async with PostgresSink(url + "?search_path=s_a") as live, PostgresSink(url + "?search_path=s_b") as later:
        assert live.run_id == dead.run_id == 1
        assert [run for run, _ in later.unfinished] == [1]


async def test_a_table_named_like_the_staging_table_is_a_table_like_any(shared_postgres: PostgresServer) -> None:
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client, \
            PostgresSink(shared_postgres.url(), table="douyin_async_staging") as sink:
        async for result in client.iter_videos([SEED_ID]):
            await sink.write(result)
    assert shared_postgres.psql("SELECT item_id FROM douyin_async_staging").split() == [SEED_ID]


_KILLED_AFTER_WRITING = """
import asyncio, os, signal, sys
from douyin_async import BatchResult, DouyinClient
from douyin_async.sinks import PostgresSink, SQLiteSink

async def main(key, secret, base_url, out, spool, *wanted):
    sink = PostgresSink(out, table="spooled", spool_dir=spool) if out.startswith("postgresql:") else SQLiteSink(out)
    async with DouyinClient(key, secret, base_url=base_url, rate_limit=None, on_event=sink.on_event) as client:
        await sink.open()
        sink.watch(client)

        async def slow_database(*args):  # nothing gets committed before the kill
            await asyncio.Event().wait()

        sink._commit = slow_database
        written, later = wanted[:-2], wanted[-2:]
        answers = [await client.item_get_video(item_id) for item_id in written]
        for item_id, answer in zip(written, answers):
            await sink.write(BatchResult(item_id, item_id, answer, None, 1, 0, billed=1))
        for item_id in later:  # paid for after the last result was written: the sink heard them start
            await client.item_get_video(item_id)
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.parametrize("kind", ["sqlite", "sqlite [named]", "postgres"])
async def test_what_a_killed_run_wrote_and_never_committed_is_stored_by_the_next_run(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run killed before any commit: the next sink stores its results from the spool, and its row
    tells what it paid for, the requests made after its last result included; the spool files are
    gone after. A file name with glob characters, and
    a PostgreSQL reached through another spelling of its URL, find their spool all the same."""
    spool = tmp_path / "spool"
    if kind.startswith("sqlite"):
        out = str(tmp_path / ("videos[1].sqlite" if "named" in kind else "videos.sqlite"))

        def query(sql: str) -> list[tuple[Any, ...]]:
            return rows(Path(out), sql.format(table="videos", runs="runs"))

        def reopened() -> SQLiteSink | PostgresSink:
            return SQLiteSink(out)
    else:
        server: PostgresServer = request.getfixturevalue("shared_postgres")
        out = server.url()

        def query(sql: str) -> list[tuple[Any, ...]]:
            text = server.psql(sql.format(table="spooled", runs="spooled_runs")).strip()
            return [tuple(int(v) if v.isdigit() else v for v in line.split("|")) for line in text.splitlines()]

        def reopened() -> SQLiteSink | PostgresSink:  # the port from PGPORT: the same server
            monkeypatch.setenv("PGPORT", str(server.port))
            return PostgresSink("postgresql://postgres@127.0.0.1/postgres", table="spooled", spool_dir=spool)
    wanted = [SEED_ID, *ids(5)]
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator:
        found = [i for i in wanted if emulator.expected_item(i) is not None]
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", _KILLED_AFTER_WRITING, KEY, SECRET,
                                                     emulator.base_url, out, str(spool), *found)
        assert await asyncio.wait_for(child.wait(), 60) == -9
        assert emulator.stats.charged == len(found)
    written = len(found) - 2
    assert query("SELECT count(*) FROM {table}") == [(0,)]  # nothing was committed
    async with reopened() as sink:
        assert sink.replayed == written
        assert sink.unfinished == [(1, 2)]  # the two asked after the last result are asked again
    assert sorted(str(row[0]) for row in query("SELECT item_id FROM {table}")) == sorted(found[:-2])
    # billed + in_flight: the emulator's bill, to the call.
    assert query("SELECT status, requests, billed, in_flight, fetched FROM {runs} ORDER BY run_id")[0] == \
        ("killed", written, written, 2, written)
    leftover = list(spool.iterdir()) if spool.exists() else []
    assert leftover == [] and not [path for path in tmp_path.iterdir() if "-spool." in path.name]


_READ_WHILE_WRITING = """
import asyncio, os, sys
from douyin_async import BatchResult, DouyinClient
from douyin_async.sinks import SQLiteSink

async def main(key, secret, base_url, out, first, second):
    async with DouyinClient(key, secret, base_url=base_url, rate_limit=None) as client:
        sink = SQLiteSink(out)
        await sink.open()
        for item_id in (first, second):
            await sink.write(BatchResult(item_id, item_id, await client.item_get_video(item_id), None, 1, 0, billed=1))
            await sink.flush()
            if item_id == first:
                assert [done async for done in sink.done_ids()] == [first]  # read while the sink holds it
                print("read", flush=True)
                sys.stdin.readline()  # meanwhile another process opens the file, and closes it
        os._exit(0)  # killed: no close

asyncio.run(main(*sys.argv[1:]))
"""


async def test_reading_a_sqlite_sink_while_it_writes_loses_none_of_its_later_commits(tmp_path: Path) -> None:
    """Reading the tables through the open sink (a rerun's reload, the downloads left to retry) must
    not drop the process's locks on the file: another process's connection would take itself for
    the last one when it closes, and remove the write-ahead log holding the sink's next commits."""
    out = tmp_path / "videos.sqlite"
    first, second = SEED_ID, ids(1)[0]
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _READ_WHILE_WRITING, KEY, SECRET, emulator.base_url, str(out), first, second,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert child.stdin is not None and child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 60) == b"read\n"
        reader = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
            "db.execute('SELECT count(*) FROM videos').fetchall(); db.close()", str(out))
        assert await asyncio.wait_for(reader.wait(), 60) == 0
        child.stdin.write(b"go\n")
        assert await asyncio.wait_for(child.wait(), 60) == 0
    assert sorted(row[0] for row in rows(out, "SELECT item_id FROM videos")) == sorted([first, second])


_SPOOL_CANNOT_GROW = """
import asyncio, os, resource, signal, sys
from douyin_async import BatchResult, DouyinClient
from douyin_async.sinks import SQLiteSink, StorageError
from douyin_async.sinks._spool import FIRST_SIZE

async def main(key, secret, base_url, out, *wanted):
    async with DouyinClient(key, secret, base_url=base_url, rate_limit=None) as client:
        answers = [await client.item_get_video(item_id) for item_id in wanted]
        sink = SQLiteSink(out)
        await sink.open()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (FIRST_SIZE + 4096, FIRST_SIZE + 4096))

        async def slow_database(*args):  # nothing is committed: every result stays in the spool
            await asyncio.Event().wait()

        sink._commit = slow_database
        written = 0
        try:
            for item_id, answer in zip(wanted, answers):
                await sink.write(BatchResult(item_id, item_id, answer, None, 1, 0, billed=1))
                written += 1
        except StorageError as exc:
            print(written, exc, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE")
async def test_a_spool_that_cannot_grow_stops_the_writes_and_the_next_run_stores_what_it_kept(tmp_path: Path) -> None:
    """A spool file takes its room on the disk before it is written (a map written past the disk's
    room would kill the process): when it cannot grow, ``write`` raises ``StorageError`` naming its
    directory, and every result written before is stored by the next sink."""
    out = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator:
        wanted = [i for i in ids(200) if emulator.expected_item(i) is not None][:60]  # more than the first size holds
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", _SPOOL_CANNOT_GROW, KEY, SECRET,
                                                     emulator.base_url, str(out), *wanted,
                                                     stdout=asyncio.subprocess.PIPE)
        stdout, _ = await asyncio.wait_for(child.communicate(), 60)
    written, _, message = stdout.decode().strip().partition(" ")
    assert 0 < int(written) < len(wanted), stdout
    assert message == f"{out}: cannot keep results in {tmp_path} until they are committed: File too large"
    async with SQLiteSink(out) as sink:
        assert sink.replayed == int(written)
    assert sorted(row[0] for row in rows(out, "SELECT item_id FROM videos")) == sorted(wanted[:int(written)])
    assert not [path for path in tmp_path.iterdir() if "-spool." in path.name]


@pytest.mark.parametrize("system", ["linux", "macos"])
def test_a_spool_grows_past_its_first_size_and_gives_back_every_line_in_order(
    tmp_path: Path, system: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lines past the first size make the file grow (its blocks taken first: with posix_fallocate,
    or where there is none, as on macOS, with zeros written); a dead process's files give back every
    line, in order, and the requests it had started; a cleared file gives back none of its old lines."""
    if system == "macos":
        monkeypatch.delattr(os, "posix_fallocate", raising=False)
    spool = Spool(tmp_path, "videos")
    spool.open()
    rows = [("x" * 3000, n) for n in range(60)]  # about three times the first size
    for n, row in enumerate(rows[:10]):
        spool.append(SpoolLine(0, 7, (n,), f"k{n}", "fetch", True, row))
    spool.clear(spool.switch())  # committed: those ten are gone
    for n, row in enumerate(rows[10:], 10):
        spool.append(SpoolLine(0, 7, (n,), f"k{n}", "fetch", True, row))
    spool.started(7, 61)
    first, second = spool.paths()
    assert first.stat().st_blocks * 512 >= FIRST_SIZE and second.stat().st_size > FIRST_SIZE
    spool._lock.close()  # type: ignore[union-attr]  # the process dies: its lock goes, its files stay
    left = Leftovers(tmp_path, "videos")
    assert [line.key for line in left.lines] == [f"k{n}" for n in range(10, 60)]
    assert [tuple(line.row) for line in left.lines] == [tuple(row) for row in rows[10:]]  # type: ignore[arg-type]
    assert left.started == {7: 61}
    left.remove()
    assert not list(tmp_path.iterdir())


async def test_a_spool_left_by_a_killed_run_of_the_line_format_is_replayed(tmp_path: Path) -> None:
    """Before the spool was mapped, its files were lines of JSON, a request started a line of kind
    ``sent``: what a killed run of that version left is stored by the next sink, and counted."""
    path = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, client_for(emulator) as client:
        answer = await client.item_get_video(SEED_ID)
        async with SQLiteSink(path):  # run 1, whose spool is below: it "died" before its commit
            pass
        db = sqlite3.connect(path)
        with db:
            db.execute("UPDATE runs SET status = 'running'")
        db.close()
        row = video_row(SEED_ID, answer, 1, 1, iso_utc(time.time()), 1)
        encode = msgspec.json.encode
        lines = [encode([0, 1, [1], "", "sent", False, None]),
                 encode([1, 1, [1, 1, 0, 0, 0, 0, 0, 1, 0], SEED_ID, "fetch", True, list(row)]),
                 encode([2, 1, [2], "", "sent", False, None])]  # a request after the last result
        (tmp_path / "videos.sqlite-spool.videos.999999-0.0").write_bytes(b"\n".join(lines) + b"\n")
        (tmp_path / "videos.sqlite-spool.videos.999999-0.1").write_bytes(b"")
        async with SQLiteSink(path) as sink:
            assert sink.replayed == 1
            assert sink.unfinished == [(1, 1)]  # the request after the last result may have been billed
    assert rows(path, "SELECT item_id FROM videos") == [(SEED_ID,)]
    assert not [p for p in tmp_path.iterdir() if "-spool." in p.name]


def test_a_time_as_sqlite_keeps_it_is_the_datetime_text_to_the_millisecond() -> None:
    """The second's text is formatted once; the milliseconds round as ``datetime`` does (to the
    microsecond first, half to even), at the edges of a second too."""
    now = time.time()
    times = [now + n * 0.000_123_7 for n in range(20_000)] + [1700000000.123, 1700000000.9999998, 0.0, 1e9,
                                                              1700000000.0005, 1700000000.9995]
    for seconds in times:
        assert iso_utc(seconds) == datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


async def test_a_spool_directory_that_cannot_be_made_stops_the_open_and_shows_no_password(
    shared_postgres: PostgresServer, tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    sink = PostgresSink(shared_postgres.url(password=PASSWORD), table="no_spool", spool_dir=blocker / "spool")
    with pytest.raises(StorageError, match=r"cannot keep results in .* until they are committed") as caught:
        await sink.open()
    assert PASSWORD not in str(caught.value) + repr(caught.value)
    assert shared_postgres.psql("SELECT status FROM no_spool_runs").split() == ["failed"]


async def test_a_run_that_ends_well_leaves_no_spool_even_after_requests_it_never_wrote(tmp_path: Path) -> None:
    path = tmp_path / "videos.sqlite"
    async with Emulator(fast=True, keys={KEY: SECRET}) as emulator, SQLiteSink(path) as sink, \
            client_for(emulator, on_event=sink.on_event) as client:
        sink.watch(client)
        async for result in client.iter_videos([SEED_ID]):
            await sink.write(result)
        await sink.flush()
        await client.item_get_video(ids(1)[0])  # noted in the spool as it went, never written
    assert sorted(os.listdir(tmp_path)) in (["videos.sqlite"], ["videos.sqlite", "videos.sqlite-shm",
                                                                 "videos.sqlite-wal"])
    assert rows(path, "SELECT status, requests, in_flight FROM runs") == [("done", 2, 0)]
