"""What a batch has left to do: the plan read from the input before anything is sent, and the keys
it remembers of what it has seen (a few bytes each, never the inputs themselves)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import (
    InvalidParamError,
    find_short_link,
    parse_item_id,
)
from ._journal import failure_key
from ._keys import KeySet, code_of
from ._store import AnyJournal

LOOKAHEAD = 16
"""Short links resolved ahead of the client at once."""


@dataclass
class Plan:
    """What the input holds, against what the journal says is done: counts, no ids kept."""

    inputs: int = 0
    ids: int = 0
    """Distinct ids to fetch."""
    links: int = 0
    """Short links to resolve (free) and then fetch, unless their video turns out to be done."""
    invalid: int = 0
    """Inputs that hold no id: recorded as bad input, never sent."""
    done: int = 0
    """Inputs whose video OUT already has."""
    failed_before: int = 0
    """Inputs whose failure is recorded as permanent (``--retry-failed`` fetches them again)."""
    repeats: int = 0
    """Inputs that repeat an earlier one of this run."""

    @property
    def results(self) -> int:
        """Results the client will yield: every id and short link (bad input is recorded without it)."""
        return self.ids + self.links

    @property
    def skipped(self) -> int:
        return self.done + self.failed_before + self.repeats


class Planner:
    """Sorts each input: to fetch, to resolve, to record as invalid, or to skip (and why)."""

    def __init__(self, journal: AnyJournal, *, retry_failed: bool, short_link_hosts: Any) -> None:
        self._journal, self._retry_failed, self._hosts = journal, retry_failed, short_link_hosts
        self._seen = KeySet()
        self.plan = Plan()

    def sort(self, text: str) -> tuple[str, str]:
        """``(kind, value)``: kind is ``id``, ``link``, ``invalid`` or ``skip``."""
        self.plan.inputs += 1
        try:
            item_id = parse_item_id(text)
        except InvalidParamError:
            link = find_short_link(text, self._hosts)
            if link is not None:
                # a failed link is recorded under its input (the client's result has no id)
                if self._skip(f"link:{link}", failure_key(None, text)):
                    return "skip", link
                self.plan.links += 1
                return "link", link
            if self._skip(failure_key(None, text)):
                return "skip", text
            self.plan.invalid += 1
            return "invalid", text
        if self._skip(item_id):
            return "skip", item_id
        self.plan.ids += 1
        return "id", item_id

    def resolved(self, item_id: str) -> bool:
        """A short link led to ``item_id``: True to fetch it, False if it is done or repeated."""
        self.plan.links -= 1
        if self._skip(item_id):
            return False
        self.plan.ids += 1
        return True

    def _skip(self, key: str, recorded: str | None = None) -> bool:
        """Whether to skip ``key``; ``recorded`` is what the journal knows it by, if not by ``key``."""
        plan, journal = self.plan, self._journal
        code = code_of(key)  # once: hashing a key that is not an id costs more than a lookup
        known = code if recorded is None else code_of(recorded)
        if self._seen.has_code(code):
            plan.repeats += 1
        elif journal.done.has_code(known):
            plan.done += 1
        elif not self._retry_failed and journal.permanent.has_code(known):
            plan.failed_before += 1
        else:
            self._seen.add_code(code)
            return False
        return True


def plan_of(texts: Iterable[str], planner: Planner) -> Plan:
    for text in texts:
        planner.sort(text)
    return planner.plan


