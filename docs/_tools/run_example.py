"""Run one documentation example read from stdin, as a reader would paste it into ``python -m asyncio``.

Top-level ``await``, ``async with`` and ``async for`` are allowed, as in the asyncio REPL, so an
example can show the two lines that matter without an ``async def main`` around them.
"""

from __future__ import annotations

import ast
import asyncio
import sys


def main() -> None:
    source = sys.stdin.read()
    code = compile(source, sys.argv[1] if len(sys.argv) > 1 else "<example>", "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, object] = {"__name__": "__main__"}
    result = eval(code, namespace)  # the documentation's own examples, run as written
    if asyncio.iscoroutine(result):
        asyncio.run(result)


if __name__ == "__main__":
    main()
