"""Write the error-code tables of docs/errors.md and docs/errors.zh.md from ``douyin_async.errors.CODES``.

The code's table is the single source of truth; this writes it into both pages between their
``<!-- codes:begin -->`` and ``<!-- codes:end -->`` markers. ``--check`` fails instead of writing
when a page is out of date (the test suite runs it).

    python docs/_tools/gen_errors.py [--check]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from douyin_async.errors import CODES, CodeInfo

DOCS = Path(__file__).resolve().parents[1]
MARKERS = re.compile(r"(<!-- codes:begin -->\n).*?(<!-- codes:end -->)", re.S)


ACTIONS = {
    "en": {"0000": "returns the response",
           "4008": "the throttle slows down (fewer in flight, or a lower rate), then retries",
           "4009": "retried after `backoff_max`",
           "5000": "raised; retried only with `RetryOptions(retry_unknown_errors=True)`",
           "fatal": "raised; stops a batch at once (fatal for the key)",
           "retried": "retried with backoff", "raised": "raised; not retried"},
    "zh": {"0000": "返回响应",
           "4008": "限流器降速（减少在途请求或降低速率）后重试",
           "4009": "等待 `backoff_max` 后重试",
           "5000": "抛出异常；仅在 `RetryOptions(retry_unknown_errors=True)` 时重试",
           "fatal": "抛出异常；立即停止批量任务（对该 key 致命）",
           "retried": "退避后自动重试", "raised": "抛出异常；不重试"},
}
"""What the client does with each code, in each language: special codes, then by the table's flags."""


def _action(info: CodeInfo, language: str) -> str:
    words = ACTIONS[language]
    if info.code in words:
        return words[info.code]
    return words["fatal" if info.fatal else "retried" if info.retryable else "raised"]


def english_table() -> str:
    rows = ["| code | gateway message | class | what the client does | billed | fatal for the key |",
            "|---|---|---|---|---|---|"]
    for info in CODES.values():
        name = f"`{info.error.__name__}`" if info.error else "(none: success)"
        rows.append(f"| {info.code} | {info.message} ({info.reason}) | {name} | {_action(info, 'en')} | "
                    f"{'yes' if info.charged else 'no'} | {'yes' if info.fatal else 'no'} |")
    return "\n".join(rows) + "\n"


def chinese_table() -> str:
    rows = ["| 错误码 | 网关说明 | 异常类 | 客户端的处理 | 是否计费 | 对 key 致命 |", "|---|---|---|---|---|---|"]
    for info in CODES.values():
        name = f"`{info.error.__name__}`" if info.error else "（无：成功）"
        rows.append(f"| {info.code} | {info.reason} | {name} | {_action(info, 'zh')} | "
                    f"{'是' if info.charged else '否'} | {'是' if info.fatal else '否'} |")
    return "\n".join(rows) + "\n"


PAGES = {"errors.md": english_table, "errors.zh.md": chinese_table}


def main(argv: list[str]) -> int:
    stale = []
    for name, table in PAGES.items():
        page = DOCS / name
        text = page.read_text(encoding="utf-8")
        if not MARKERS.search(text):
            print(f"{page}: no <!-- codes:begin --> ... <!-- codes:end --> markers", file=sys.stderr)
            return 1
        updated = MARKERS.sub(lambda match: match[1] + table() + match[2], text)  # noqa: B023
        if updated != text:
            stale.append(name)
            if "--check" not in argv:
                page.write_text(updated, encoding="utf-8")
    if stale and "--check" in argv:
        print(f"out of date: {', '.join(stale)}; run python docs/_tools/gen_errors.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
