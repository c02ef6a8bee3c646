"""A local gateway emulator: the ``item_get_video`` contract, limits, faults and media on 127.0.0.1."""

from ._catalog import SEED_ERROR, SEED_ITEM, SEED_SUCCESS
from ._cli import add_emulator_options, config_from_args, serve
from ._config import EMULATOR_KEY, EMULATOR_SECRET, FAULTS, EmulatorConfig
from ._server import Emulator
from ._stats import EmulatorStats

__all__ = [
    "EMULATOR_KEY",
    "EMULATOR_SECRET",
    "FAULTS",
    "SEED_ERROR",
    "SEED_ITEM",
    "SEED_SUCCESS",
    "Emulator",
    "EmulatorConfig",
    "EmulatorStats",
    "add_emulator_options",
    "config_from_args",
    "serve",
]
