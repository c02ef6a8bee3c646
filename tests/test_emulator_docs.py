"""docs/emulator.md lists every knob of the emulator, with its default and its flag."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from douyin_async.emulator import EmulatorConfig, add_emulator_options

DOC = (Path(__file__).resolve().parents[1] / "docs" / "emulator.md").read_text(encoding="utf-8")


def row(name: str) -> list[str]:
    rows = [line for line in DOC.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"docs/emulator.md has no single row for {name}"
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(EmulatorConfig)])
def test_every_config_field_has_a_row_with_its_default(field: str) -> None:
    _, default, flag, meaning = row(field)
    value = getattr(EmulatorConfig(), field)
    shown = default.strip("`").split("`")[0]
    if isinstance(value, dict) and value:
        assert shown == str(value).replace("'", '"')
    else:
        assert shown == repr(value), f"{field}: documented {default}, is {value!r}"
    assert flag.startswith("`--") and meaning


def test_every_flag_is_documented() -> None:
    parser = argparse.ArgumentParser()
    add_emulator_options(parser)
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", parser.format_help()))
    documented = set(re.findall(r"`(--[a-z-]+)", DOC))
    assert flags - {"--help"} <= documented
