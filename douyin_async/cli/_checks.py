"""Everything the command line checks before it creates a file or sends a request.

Each mistake is one line that names the flag, says what was wrong and what to do, and exits 2.
Option values are checked as argparse parses them; paths and credentials right after; the
client's own settings by building a client (which sends nothing) and naming its complaint after
the flag the user typed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from .. import InvalidSettingError, Redactor

T = TypeVar("T", int, float)

MIN_RATE = 0.01
"""Requests per second below which a run would look hung (one request every 100 s)."""
MAX_CONCURRENCY = 1000
MAX_RETRIES = 20
MAX_TIMEOUT = 3600.0
MAX_RATE = 10_000.0
MAX_PRICE = 1_000_000.0

FLAG_OF_SETTING = {
    "rate_limit": "--rate", "max_concurrency": "--concurrency", "max_retries": "--retries",
    "timeout": "--timeout", "base_url": "--base-url", "lang": "--lang", "key": "--key", "secret": "--secret",
    "redis": "--redis", "table": "--table",
}


class UsageError(Exception):
    """A mistake in the command, its options, its files or its credentials: exit 2, no traceback."""


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (and a pointer to ``--help``), not a usage block."""

    commands: Mapping[str, argparse.ArgumentParser] = {}
    """The subcommands' parsers, by name: an option one of them does not know is its mistake."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        """As argparse's, but an unknown option is reported by the command it was given to."""
        words = list(sys.argv[1:] if args is None else args)
        parsed, extras = self.parse_known_args(words, namespace)
        if extras:
            command = getattr(parsed, "command", None) or ""
            given_to_it = command in words and extras[0] in words and words.index(command) < words.index(extras[0])
            (self.commands[command] if given_to_it else self).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number; {what}")
    return value


def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; {what}") from None


def _ranged(parse: Callable[[str, str], T], what: str, ok: Callable[[T], bool]) -> Callable[[str], T]:
    """An argparse type: ``parse`` the text, then refuse a value ``ok`` rejects, saying ``what`` is wanted."""
    def checked(text: str) -> T:
        value = parse(text, what)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text} is out of range; {what}")
        return value

    return checked


rate = _ranged(_number, f"give requests per second, from {MIN_RATE} to {MAX_RATE:g}, or 0 for no limit",
               lambda value: value == 0 or MIN_RATE <= value <= MAX_RATE)
concurrency = _ranged(_whole, f"give requests in flight, from 1 to {MAX_CONCURRENCY}, or 0 for no limit",
                      lambda value: 0 <= value <= MAX_CONCURRENCY)
retries = _ranged(_whole, f"give retries per id, from 0 to {MAX_RETRIES}", lambda value: 0 <= value <= MAX_RETRIES)
seconds = _ranged(_number, f"give seconds, more than 0 and at most {MAX_TIMEOUT:g}",
                  lambda value: 0 < value <= MAX_TIMEOUT)
positive_count = _ranged(_whole, "give a whole number from 1 up", lambda value: value >= 1)
price = _ranged(_number, f"give the price of one billed call, from 0 to {MAX_PRICE:g} (in your currency)",
                lambda value: 0 <= value <= MAX_PRICE and math.copysign(1, value) > 0)
port = _ranged(_whole, "give a TCP port from 1 to 65535, or 0 for any free port", lambda value: 0 <= value <= 65535)


_MASK_PARAMS = Redactor()


def shown(url: str) -> str:
    """A URL as the command line may echo it: all before its last ``@`` masked (a password may
    hold a space, ``/`` or ``@``), and credential parameters (``?password=``) masked."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        url = f"{scheme}://***@{rest.rpartition('@')[2]}"
    return _MASK_PARAMS(url)


def redis_url(text: str) -> str:
    """An argparse type: a Redis URL the redis client can connect to, echoed with its password masked."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (it raises for a port out of range)
    except ValueError:  # its words may quote the password: say what is wrong without them
        raise argparse.ArgumentTypeError(
            f"{shown(text)}: its host or port cannot be read; give redis://[:PASSWORD@]HOST:PORT/DB") from None
    if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
        raise argparse.ArgumentTypeError(
            f"{shown(text)}: not a Redis URL; give redis://[:PASSWORD@]HOST:PORT/DB, rediss://… or unix://PATH")
    return text


def fail(message: str) -> NoReturn:
    raise UsageError(message)


def readable_file(flag: str, path: str) -> None:
    """``path`` is a file this process can read (``-`` is standard input)."""
    if path == "-":
        return
    target = Path(path)
    if not target.exists():
        fail(f"{flag} {path}: no such file")
    if target.is_dir():
        fail(f"{flag} {path}: is a directory; give a file")
    if not os.access(target, os.R_OK):
        fail(f"{flag} {path}: not readable (permission denied)")


def writable_file(flag: str, path: str) -> Path:
    """``path`` is a file this process can append to, or create in an existing directory."""
    target = Path(path)
    if target.is_dir():
        fail(f"{flag} {path}: is a directory; give a file name, e.g. {target / 'videos.jsonl'}")
    parent = target.parent
    if not parent.is_dir():
        fail(f"{flag} {path}: directory {parent} does not exist; create it first")
    if target.exists():
        if not target.is_file():
            fail(f"{flag} {path}: not a regular file")
        if not os.access(target, os.W_OK):
            fail(f"{flag} {path}: not writable (permission denied)")
    elif not os.access(parent, os.W_OK | os.X_OK):
        fail(f"{flag} {path}: cannot create files in {parent} (permission denied)")
    return target


def directory(flag: str, path: str) -> Path:
    """``path`` is a directory, or one that can be made: never a file, whatever its name looks like."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        fail(f"{flag} {path}: is a file; give a directory (it is created if missing)")
    existing = next((p for p in (target, *target.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        fail(f"{flag} {path}: {existing} is a file, so no directory can be made inside it")
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"{flag} {path}: cannot write in {existing} (permission denied)")
    return target


def same_file(first: Path, second: Path) -> bool:
    return first.resolve() == second.resolve()


def credentials(args: argparse.Namespace, env_key: str, env_secret: str) -> None:
    """A key and a secret, from the flags or the environment (the emulator needs none)."""
    if args.emulator:
        return
    key = args.key if args.key is not None else os.environ.get(env_key)
    secret = args.secret if args.secret is not None else os.environ.get(env_secret)
    if not key and not secret:
        fail(f"no credentials: set {env_key} and {env_secret} (or --key and --secret), "
             "or add --emulator to try the offline emulator")
    if not key:
        fail(f"no API key: set {env_key} (or --key); the secret alone is not enough")
    if not secret:
        fail(f"no API secret: set {env_secret} (or --secret); the key alone is not enough")


def setting_message(error: InvalidSettingError) -> str:
    """The client's complaint about a setting, in the words of the flag that set it."""
    message = str(error)
    for name, flag in FLAG_OF_SETTING.items():
        if message.startswith(f"{name}="):
            return f"{flag} {message[len(name) + 1:]}"
    return message

