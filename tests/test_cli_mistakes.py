"""Every user mistake ends in one line naming what to fix, exit 2, no traceback and no file created."""

from __future__ import annotations

import os
import sqlite3
import sys
import zipfile
from pathlib import Path

import pytest

from douyin_async import cli
from douyin_async.cli._inputs import MAX_XLSX_UNPACKED

from .conftest import SEED_ID

EMU = ["--emulator"]
CREDS = ["--key", "k", "--secret", "s"]

MISTAKES: list[tuple[str, list[str], str]] = [
    ("no credentials", ["batch", "ids.txt", "-o", "out.jsonl"], "set DOUYIN_API_KEY and DOUYIN_API_SECRET"),
    ("key without secret", ["batch", "ids.txt", "-o", "out.jsonl", "--key", "k"], "no API secret"),
    ("secret without key", ["get", SEED_ID, "--secret", "s"], "no API key"),
    ("rate infinite", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--rate", "inf"], "--rate: 'inf' is not a finite"),
    ("rate nan", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--rate", "nan"], "--rate: 'nan' is not a finite"),
    ("rate negative", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--rate", "-1"], "--rate: -1 is out of range"),
    ("rate tiny", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--rate", "0.0001"], "or 0 for no limit"),
    ("rate not a number", ["get", SEED_ID, *EMU, "--rate", "fast"], "--rate: 'fast' is not a number"),
    ("concurrency negative", ["get", SEED_ID, *EMU, "--concurrency", "-3"], "--concurrency: -3 is out of range"),
    ("concurrency fraction", ["get", SEED_ID, *EMU, "--concurrency", "1.5"], "--concurrency: '1.5' is not a whole"),
    ("retries negative", ["get", SEED_ID, *EMU, "--retries", "-1"], "--retries: -1 is out of range"),
    ("retries huge", ["get", SEED_ID, *EMU, "--retries", "1000"], "from 0 to 20"),
    ("timeout zero", ["get", SEED_ID, *EMU, "--timeout", "0"], "--timeout: 0 is out of range"),
    ("timeout infinite", ["get", SEED_ID, *EMU, "--timeout", "inf"], "--timeout: 'inf' is not a finite"),
    ("base url not a url", ["get", SEED_ID, *CREDS, "--base-url", "gateway"], "--base-url 'gateway' is not allowed"),
    ("base url with a query", ["get", SEED_ID, *CREDS, "--base-url", "http://h/douyin?x=1"], "--base-url"),
    ("language code", ["get", SEED_ID, *EMU, "--lang", "english!"], "--lang 'english!' is not allowed"),
    ("out in a missing directory", ["batch", "ids.txt", "-o", "nodir/out.jsonl", *EMU],
     "-o nodir/out.jsonl: directory nodir does not exist"),
    ("out is a directory", ["batch", "ids.txt", "-o", "adir", *EMU], "-o adir: is a directory"),
    ("errors in a missing directory", ["batch", "ids.txt", "-o", "out.jsonl", "--errors", "nodir/e.jsonl", *EMU],
     "--errors nodir/e.jsonl: directory nodir does not exist"),
    ("errors is a directory", ["batch", "ids.txt", "-o", "out.jsonl", "--errors", "adir", *EMU],
     "--errors adir: is a directory"),
    ("errors is out", ["batch", "ids.txt", "-o", "out.jsonl", "--errors", "out.jsonl", *EMU], "the same file as -o"),
    ("out is the input", ["batch", "ids.txt", "-o", "ids.txt", *EMU], "the same file as INPUT"),
    ("input missing", ["batch", "missing.txt", "-o", "out.jsonl", *EMU], "INPUT missing.txt: no such file"),
    ("input is a directory", ["batch", "adir", "-o", "out.jsonl", *EMU], "INPUT adir: is a directory"),
    ("column on a jsonl file", ["batch", "ids.jsonl", "-o", "out.jsonl", "--column", "id", *EMU],
     "--column needs a CSV or .xlsx INPUT"),
    ("column and field", ["batch", "ids.csv", "-o", "out.jsonl", "--column", "id", "--field", "id", *EMU],
     "--column and --field cannot be used together"),
    ("field on a csv file", ["batch", "ids.csv", "-o", "out.jsonl", "--field", "id", *EMU], "--field needs a JSONL"),
    ("no such column", ["batch", "ids.csv", "-o", "out.jsonl", "--column", "nope", *EMU], "no column 'nope'"),
    ("jsonl line not json", ["batch", "bad.jsonl", "-o", "out.jsonl", *EMU], "line 2 is not JSON"),
    ("jsonl without the field", ["batch", "ids.jsonl", "-o", "out.jsonl", "--field", "nope", *EMU],
     "has no field 'nope'"),
    ("line too long", ["batch", "long.txt", "-o", "out.jsonl", *EMU], "line 1 is longer than"),
    ("csv cell too long", ["batch", "wide.csv", "-o", "out.jsonl", *EMU], "CSV line 2: field larger than"),
    ("xlsx not a workbook", ["batch", "corrupt.xlsx", "-o", "out.jsonl", *EMU], "as an .xlsx workbook"),
    ("xlsx zip bomb", ["batch", "bomb.xlsx", "-o", "out.jsonl", *EMU], "over the 256 MiB limit"),
    ("max charged zero", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--max-billed", "0"],
     "--max-billed: 0 is out of range"),
    ("price negative", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--price", "-1"], "--price: -1 is out of range"),
    ("price nan", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--price", "nan"], "--price: 'nan' is not a finite"),
    ("dry run on stdin", ["batch", "-", "-o", "out.jsonl", *EMU, "--dry-run"], "--dry-run needs an input file"),
    ("output format unknown", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--format", "xml"], "--format: invalid"),
    ("input format unknown", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--input-format", "doc"],
     "--input-format: invalid"),
    ("download dir is a file", ["download", SEED_ID, "-d", "afile", *EMU], "-d afile: is a file"),
    ("batch download dir is a file", ["batch", "ids.txt", "-o", "out.jsonl", "--download", "afile", *EMU],
     "--download afile: is a file"),
    ("media kind unknown", ["download", SEED_ID, "-d", "media", "--kinds", "subtitles", *EMU], "--kinds"),
    ("target without an id", ["get", "not an id", *EMU], "'not an id' is not a video id"),
    ("download target without an id", ["download", "hello", "-d", "media", *EMU], "'hello' is not a video id"),
    ("emulator port out of range", ["emulator", "--port", "99999"], "--port: 99999 is out of range"),
    ("emulator negative rate", ["emulator", "--rate-limit", "-5"], "--rate-limit: -5 is out of range"),
    ("emulator unknown fault", ["emulator", "--fault", "meteor=0.1"], "unknown faults ['meteor']"),
    ("emulator zero concurrency", ["emulator", "--concurrency", "0"], "--concurrency: 0 is out of range"),
    ("errors is the input", ["batch", "ids.txt", "-o", "out.jsonl", "--errors", "ids.txt", *EMU],
     "--errors ids.txt: the same file as INPUT"),
    ("errors is someone else's file", ["batch", "ids.txt", "-o", "out.jsonl", "--errors", "notes.txt", *EMU],
     "--errors notes.txt: not an errors file of douyin-async"),
    ("out is someone else's file", ["batch", "ids.txt", "-o", "notes.txt", *EMU],
     "-o notes.txt: holds something other than douyin-async results"),
    ("out holds another format", ["batch", "ids.txt", "-o", "old.jsonl", "--format", "csv", *EMU],
     "-o old.jsonl: holds jsonl results already; drop --format csv"),
    ("out is stdout", ["batch", "ids.txt", "-o", "-", *EMU], "-o -: OUT must be a file"),
    ("xlsx out without its journal", ["batch", "ids.txt", "-o", "theirs.xlsx", *EMU],
     "-o theirs.xlsx: exists and is no workbook of douyin-async results"),
    ("xlsx journal is someone else's file", ["batch", "ids.txt", "-o", "notes.xlsx", *EMU],
     "-o notes.xlsx: notes.xlsx.csv, where its results go first, holds something else"),
    ("errors is the xlsx out", ["batch", "ids.txt", "-o", "new.xlsx", "--errors", "new.xlsx", *EMU],
     "--errors new.xlsx: the same file as -o"),
    ("format xlsx on another extension", ["batch", "ids.txt", "-o", "out.jsonl", "--format", "xlsx", *EMU],
     "--format xlsx: OUT must end in .xlsx"),
    ("format csv on an xlsx out", ["batch", "ids.txt", "-o", "new.xlsx", "--format", "csv", *EMU],
     "-o new.xlsx: an .xlsx OUT is a workbook; drop --format csv"),
    ("input is binary", ["batch", "binary.txt", "-o", "out.jsonl", *EMU], "looks like a binary file"),
    ("download dir inside a file", ["download", SEED_ID, "-d", "afile/sub", *EMU],
     "-d afile/sub: afile is a file, so no directory can be made inside it"),
    ("price absurd", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--price", "1e308"], "--price: 1e308 is out of range"),
    ("rate absurd", ["get", SEED_ID, *EMU, "--rate", "1e308"], "--rate: 1e308 is out of range"),
    ("progress both ways", ["batch", "ids.txt", "-o", "out.jsonl", *EMU, "--progress", "--no-progress"],
     "not allowed with argument"),
    ("redis not a url", ["get", SEED_ID, *EMU, "--redis", "localhost:6379"], "--redis: localhost:6379: not a Redis URL"),
    ("unknown command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("unknown option of a command", ["get", SEED_ID, *EMU, "--bogus"],
     "douyin-async get: unrecognized arguments: --bogus (see douyin-async get --help)"),
    ("unknown option before the command", ["--bogus", "get", SEED_ID], "douyin-async: unrecognized arguments"),
    ("missing output", ["batch", "ids.txt", *EMU], "the following arguments are required: -o/--output"),
    ("audit is out", ["batch", "ids.txt", "-o", "out.jsonl", "--audit", "out.jsonl", *EMU],
     "--audit out.jsonl: the same file as -o"),
    ("audit is the input", ["batch", "ids.txt", "-o", "out.jsonl", "--audit", "ids.txt", *EMU],
     "--audit ids.txt: the same file as INPUT"),
    ("audit is the errors file", ["batch", "ids.txt", "-o", "out.jsonl", "--audit", "out.failed.jsonl", *EMU],
     "--audit out.failed.jsonl: the same file as --errors"),
    ("audit is the xlsx out", ["batch", "ids.txt", "-o", "new.xlsx", "--audit", "new.xlsx", *EMU],
     "--audit new.xlsx: the same file as -o"),
    ("audit is a directory", ["get", SEED_ID, *EMU, "--audit", "adir"], "--audit adir: is a directory"),
    ("audit in a missing directory", ["download", SEED_ID, "-d", "media", *EMU, "--audit", "nodir/a.jsonl"],
     "--audit nodir/a.jsonl: directory nodir does not exist"),
    ("sqlite out of another program", ["batch", "ids.txt", "-o", "theirs.sqlite", *EMU],
     "-o theirs.sqlite: a SQLite database of another program; give another file"),
    ("sqlite dry run on another program's", ["batch", "ids.txt", "-o", "theirs.db", *EMU, "--dry-run"],
     "-o theirs.db: a SQLite database of another program"),
    ("sqlite out with other columns", ["batch", "ids.txt", "-o", "altered.sqlite", *EMU],
     "-o altered.sqlite: its table videos has other columns than douyin-async's"),
    ("db out that is text", ["batch", "ids.txt", "-o", "notes.db", *EMU],
     "-o notes.db: holds something other than douyin-async results"),
    ("errors beside a database out", ["batch", "ids.txt", "-o", "new.sqlite", "--errors", "e.jsonl", *EMU],
     "--errors e.jsonl: a database OUT keeps its failures in its own table; drop --errors"),
    ("table for a file out", ["batch", "ids.txt", "-o", "out.jsonl", "--table", "mine", *EMU],
     "--table is for a database OUT"),
    ("table name not plain", ["batch", "ids.txt", "-o", "new.sqlite", "--table", "Videos; drop", *EMU],
     "--table 'Videos; drop': give a name of lowercase letters"),
    ("table name a word of SQL", ["batch", "ids.txt", "-o", "new.sqlite", "--table", "order", *EMU],
     "--table 'order': a word of SQL, which a database would not take as a table's name"),
    ("parquet out without its journal", ["batch", "ids.txt", "-o", "theirs.parquet", *EMU],
     "-o theirs.parquet: exists and is no Parquet file of douyin-async results"),
    ("format parquet on another extension", ["batch", "ids.txt", "-o", "out.jsonl", "--format", "parquet", *EMU],
     "--format parquet: OUT must end in .parquet"),
    ("postgres out with --errors", ["batch", "ids.txt", "-o", "postgresql://me:hunter2@127.0.0.1:9/db",
                                    "--errors", "e.jsonl", *EMU],
     "--errors e.jsonl: a database OUT keeps its failures in its own table"),
    ("postgres out with --format", ["batch", "ids.txt", "-o", "postgresql://me:hunter2@127.0.0.1:9/db",
                                    "--format", "csv", *EMU],
     "--format csv: -o postgresql://***@127.0.0.1:9/db is a PostgreSQL database; drop --format"),
    ("postgres out unreachable", ["batch", "ids.txt", "-o", "postgresql://me:hunter2@127.0.0.1:9/db", *EMU],
     "-o postgresql://***@127.0.0.1:9/db: cannot connect"),
    ("postgres out with a key password unreachable",
     ["batch", "ids.txt", "-o", "postgresql://me@127.0.0.1:9/db?sslpassword=hunter2", *EMU],
     "-o postgresql://***@127.0.0.1:9/db?sslpassword=***: cannot connect"),
    ("postgres url that cannot be read", ["batch", "ids.txt", "-o", "postgresql://me:hunter2@[::1:5432/db", *EMU],
     "-o postgresql://***@[::1:5432/db: give a PostgreSQL URL"),
    ("sqlite out of another program with a view only", ["batch", "ids.txt", "-o", "view.sqlite", *EMU],
     "-o view.sqlite: a SQLite database of another program"),
    ("otel exporter missing", ["batch", "ids.txt", "-o", "out.jsonl", "--download", "media", *EMU, "--otel"],
     "no traces exporter named 'nosuchexporter'"),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOUYIN_API_KEY", raising=False)
    monkeypatch.delenv("DOUYIN_API_SECRET", raising=False)
    (tmp_path / "ids.txt").write_text(f"{SEED_ID}\n")
    (tmp_path / "ids.csv").write_text(f"id\n{SEED_ID}\n")
    (tmp_path / "ids.jsonl").write_text(f'{{"id": "{SEED_ID}"}}\n')
    (tmp_path / "bad.jsonl").write_text(f'{{"id": "{SEED_ID}"}}\n{{not json\n')
    (tmp_path / "long.txt").write_text("7" * (2 << 20) + "\n")
    (tmp_path / "wide.csv").write_text(f"id,note\n{SEED_ID},{'x' * 100_000}\n")
    (tmp_path / "corrupt.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "old.jsonl").write_text(f'{{"input":"{SEED_ID}","item_id":"{SEED_ID}","item":{{}}}}\n')
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "theirs.xlsx").write_bytes(b"PK\x03\x04 someone's workbook")
    (tmp_path / "notes.xlsx.csv").write_text("my notes\n")
    (tmp_path / "theirs.parquet").write_bytes(b"PAR1 someone's table PAR1")
    (tmp_path / "notes.db").write_text("my notes\n")
    for name, schema in (("theirs.sqlite", "CREATE TABLE notes (body TEXT)"), ("theirs.db", "CREATE TABLE t (x)"),
                         ("altered.sqlite", "PRAGMA application_id = 1146700115; CREATE TABLE videos (x TEXT)"),
                         ("view.sqlite", "CREATE VIEW v AS SELECT 1")):
        database = sqlite3.connect(tmp_path / name)
        database.executescript(schema)
        database.close()
    return tmp_path


def _zip_bomb(path: Path) -> None:
    """A small file that unpacks past the limit: zeros compress about a thousand times."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
        chunk = b"\0" * (1 << 20)
        for _ in range((MAX_XLSX_UNPACKED >> 20) + 1):
            sheet.write(chunk)


@pytest.mark.parametrize(("args", "message"), [case[1:] for case in MISTAKES], ids=[case[0] for case in MISTAKES])
def test_a_mistake_is_one_clear_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    if "--otel" in args:
        pytest.importorskip("opentelemetry.sdk")
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "nosuchexporter")
    if "bomb.xlsx" in args:
        _zip_bomb(workdir / "bomb.xlsx")
    before = set(os.listdir(workdir))
    try:
        code = cli.main(args)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert captured.out == ""
    assert set(os.listdir(workdir)) == before  # nothing created, not even an empty OUT
    assert "hunter2" not in captured.err


@pytest.mark.parametrize("args", [["batch", "ids.txt", "-o", "out.jsonl", "--download", "media"], ["get", SEED_ID],
                                  ["download", SEED_ID, "-d", "media"]], ids=["batch", "get", "download"])
def test_otel_without_the_sdk_says_what_to_install_before_creating_anything(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    for name in ["opentelemetry.sdk", *(name for name in sys.modules if name.startswith("opentelemetry.sdk."))]:
        monkeypatch.setitem(sys.modules, name, None)  # what an environment without the SDK imports
    before = set(os.listdir(workdir))
    assert cli.main([*args, *EMU, "--otel"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"douyin-async {args[0]}: --otel needs the OpenTelemetry SDK and an exporter: "
                                    "pip install 'douyin-async[otel]' opentelemetry-sdk opentelemetry-exporter-otlp")
    assert captured.out == ""
    assert set(os.listdir(workdir)) == before


def test_the_table_covers_at_least_thirty_mistakes() -> None:
    assert len(MISTAKES) >= 30


def test_a_bug_of_ours_is_exit_70_with_a_short_message_and_the_traceback_only_with_v(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(args: object) -> int:
        raise RuntimeError("unexpected state near secret-xyz")

    monkeypatch.setitem(cli.COMMANDS, "get", broken)
    assert cli.main(["get", SEED_ID, "--key", "key-abc", "--secret", "secret-xyz"]) == 70
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: unexpected state near ***)" in err
    assert "Traceback" not in err and "secret-xyz" not in err
    assert cli.main(["get", SEED_ID, "--key", "key-abc", "--secret", "secret-xyz", "-v"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "secret-xyz" not in err
