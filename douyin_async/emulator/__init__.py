"""A local gateway emulator: the ``item_get_video`` contract, limits, faults and media on 127.0.0.1."""

from ._config import EMULATOR_KEY, EMULATOR_SECRET, FAULTS, EmulatorConfig
from ._server import Emulator, EmulatorStats

__all__ = ["EMULATOR_KEY", "EMULATOR_SECRET", "FAULTS", "Emulator", "EmulatorConfig", "EmulatorStats"]
