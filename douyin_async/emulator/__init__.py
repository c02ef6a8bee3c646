"""A local gateway emulator: the ``item_get_video`` contract, limits, faults and media on 127.0.0.1."""

from ._config import FAULTS, EmulatorConfig
from ._server import Emulator, EmulatorStats

__all__ = ["FAULTS", "Emulator", "EmulatorConfig", "EmulatorStats"]
