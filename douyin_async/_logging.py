"""``DOUYIN_ASYNC_LOG=debug|info|warning``: a handler on the ``douyin_async`` logger, set from the
environment when the package is imported, as the SDKs people know do it.

Only our logger is touched (aiohttp's stay as the application set them), and nothing we log holds a
URL with credentials: attempts are logged by their fields, the host without its query.
"""

from __future__ import annotations

import logging
import os

ENV_LOG = "DOUYIN_ASYNC_LOG"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def configure_from_env() -> None:
    """Add one stderr handler at the level ``DOUYIN_ASYNC_LOG`` names (once; unknown values are ignored)."""
    level = _LEVELS.get(os.environ.get(ENV_LOG, "").strip().lower())
    logger = logging.getLogger("douyin_async")
    if level is None or any(getattr(h, "douyin_async_env", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.douyin_async_env = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
