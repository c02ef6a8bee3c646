"""The command line's grammar: commands, options, their defaults and their checks."""

from __future__ import annotations

import argparse

from .. import DEFAULT_BASE_URL, ENV_BASE_URL, ENV_KEY, ENV_SECRET, MEDIA_KINDS, __version__
from ..emulator import add_emulator_options
from . import _checks as checks

EPILOG = (
    f"Credentials come from {ENV_KEY} and {ENV_SECRET}. Exit codes: 0 every input's video is in OUT, "
    "1 some ids failed (now, or for good on an earlier run), "
    "2 usage or input error, 3 stopped on a fatal account error or budget, 70 a bug of ours (-v shows it), "
    "130 interrupted (rerun the same command to resume)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = checks.Parser(
        prog="douyin-async", description="Fetch Douyin video details through the item_get_video gateway.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=checks.Parser)

    client = checks.Parser(add_help=False)
    group = client.add_argument_group("client")
    group.add_argument("--emulator", action="store_true",
                       help="start a local emulator and use it (offline; fake data)")
    group.add_argument("--base-url",
                       help=f"gateway base URL (default: {ENV_BASE_URL} if set, else {DEFAULT_BASE_URL})")
    group.add_argument("--key", help=f"API key (visible in shell history and ps: prefer {ENV_KEY})")
    group.add_argument("--secret", help=f"API secret (visible in shell history and ps: prefer {ENV_SECRET})")
    group.add_argument("--rate", type=checks.rate, default=5.0,
                       help="requests per second, 0 for no limit (default: %(default)s)")
    group.add_argument("--concurrency", type=checks.concurrency, default=5,
                       help="requests in flight, 0 for no limit (default: %(default)s)")
    group.add_argument("--retries", type=checks.retries, default=3, help="retries per id (default: %(default)s)")
    group.add_argument("--timeout", type=checks.seconds, default=30.0,
                       help="seconds per attempt (default: %(default)s)")
    group.add_argument("--redis", metavar="URL", type=checks.redis_url,
                       help="share the key's rate, cap in flight and what 4008 taught with every process "
                            "using this Redis (redis://host:6379/0; needs the redis extra)")
    group.add_argument("--no-cache", dest="cache", action="store_const", const=False, default=None,
                       help="ask the gateway for fresh data")
    group.add_argument("--lang", metavar="CODE",
                       help="translate text fields: a language code such as en, ru, ko or zh-CN")
    group.add_argument("--audit", metavar="FILE.jsonl",
                       help="append one JSON line per request sent (code, charge, request_id, timings), "
                            "to reconcile a run with the gateway's bill")
    group.add_argument("--otel", action="store_true",
                       help="export OpenTelemetry spans and metrics as the OTEL_* variables say "
                            "(needs the OpenTelemetry SDK and an exporter)")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="log retries and throttle changes; show the traceback of an internal error")

    parser.commands = commands.choices
    get = commands.add_parser("get", parents=[client], help="show one or more videos", epilog=EPILOG,
                              description="Show videos by id, URL, share text or short link.")
    get.add_argument("targets", nargs="+", metavar="ID_OR_URL")
    get.add_argument("--json", action="store_true", help="print each item as JSON (UTF-8), as the gateway sent it")

    batch = commands.add_parser(
        "batch", parents=[client], help="fetch many videos into a file (resumable; a rerun costs nothing)",
        epilog=EPILOG,
        description="Fetch every video of INPUT into OUT. Running it again fetches only what is left.")
    batch.add_argument("input", metavar="INPUT", help="text, .csv, .jsonl or .xlsx file, or - for stdin")
    batch.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="successes: OUT.jsonl (one JSON line each), OUT.csv (flat columns), OUT.xlsx "
                            "(the columns of csv, rebuilt from OUT.xlsx.csv at the end of each run), "
                            "OUT.sqlite/.db/.sqlite3 (tables of videos, failures and runs), OUT.parquet (typed "
                            "columns, rebuilt from OUT.parquet.sqlite) or postgresql://USER@HOST/DB (the tables "
                            "of sqlite, shared by many runs)")
    batch.add_argument("--errors", metavar="ERR.jsonl",
                       help="failures, one line per id (default: OUT's name with .failed.jsonl); a database "
                            "OUT keeps them in its failures table")
    batch.add_argument("--format", choices=["jsonl", "csv", "xlsx", "sqlite", "parquet"], type=str.lower,
                       help="format of OUT (default: from its extension; .csv, .xlsx, .parquet are theirs, "
                            ".sqlite, .db, .sqlite3 sqlite, anything else jsonl)")
    batch.add_argument("--table", metavar="NAME",
                       help="a database OUT's table of videos (default: videos); its failures and runs go "
                            "in NAME_failures and NAME_runs")
    batch.add_argument("--input-format", choices=["text", "csv", "jsonl", "xlsx"], type=str.lower,
                       help="format of INPUT (default: from its extension)")
    batch.add_argument("--column", help="CSV/xlsx column with the ids (default: detected)")
    batch.add_argument("--field", help="JSONL field with the ids (default: detected)")
    batch.add_argument("--max-billed", type=checks.positive_count, metavar="N",
                       help="stop before more than N billed or possibly billed calls")
    batch.add_argument("--max-charged", dest="max_billed", type=checks.positive_count, help=argparse.SUPPRESS)
    batch.add_argument("--price", type=checks.price, metavar="P",
                       help="price of one billed call: the progress and summary show the cost")
    batch.add_argument("--retry-failed", action="store_true",
                       help="fetch again the ids that failed for good before (not found, invalid)")
    batch.add_argument("--dry-run", action="store_true",
                       help="read INPUT and say what would be fetched and what it could cost; send nothing")
    shown = batch.add_mutually_exclusive_group()
    shown.add_argument("--progress", dest="bar", action="store_const", const=True, default=None,
                       help="force the progress bar (default: on a terminal)")
    shown.add_argument("--no-progress", dest="bar", action="store_const", const=False,
                       help="plain progress lines instead of a bar")
    batch.add_argument("--download", metavar="DIR", help="also download each video's media into DIR")
    _add_media_options(batch)

    download = commands.add_parser(
        "download", parents=[client], help="download videos, covers, music", epilog=EPILOG,
        description="Download media of videos given by id, URL or share text.")
    download.add_argument("targets", nargs="+", metavar="ID_OR_URL")
    _add_media_options(download)
    download.add_argument("-d", "--dir", required=True, metavar="DIR",
                          help="directory the files go into (created if missing)")
    download.add_argument("--retry-failed", action="store_true",
                          help="ask again for videos the gateway refused for good on an earlier run into DIR "
                               "(not found: each answer is billed)")

    emulator = commands.add_parser("emulator", help="run the local gateway emulator",
                                   description="Run the gateway emulator until Ctrl-C or SIGTERM (exit 0).")
    add_emulator_options(emulator)
    return parser


def _add_media_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("media")
    group.add_argument("--kinds", type=_kinds, default=("video",), metavar="MEDIA_KINDS",
                       help="comma-separated: video, cover, music (default: video)")
    group.add_argument("--watermark", action="store_true", help="the watermarked video stream (default: without)")
    group.add_argument("--overwrite", action="store_true", help="download again files that exist")


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in MEDIA_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"kinds are {', '.join(MEDIA_KINDS)}; not {', '.join(unknown) or 'empty'}")
    return kinds
