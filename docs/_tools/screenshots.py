"""Look at the built site in a real browser: screenshots of key pages, and checks that they render.

Serves the built site (``mkdocs build``) on 127.0.0.1 and opens it in headless Chromium (Debian's
``chromium`` package) through Playwright: every page must load with no failed request and no
console error, its search index must be built and answer a query, and the API reference must
hold the public names. Screenshots go to the output directory.

    mkdocs build --strict -d site && python docs/_tools/screenshots.py site shots/
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

PAGES = {"home": "", "errors": "errors/", "errors-zh": "errors.zh/", "api": "api/",
         "retries": "retries-and-throttling/"}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the request log would drown the report
        pass


def main(site: Path, shots: Path) -> int:
    shots.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    problems: list[str] = []
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    if len(index.get("docs", [])) < 50:
        problems.append(f"search index holds {len(index.get('docs', []))} entries")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
        page.on("response", lambda response: response.status >= 400 and problems.append(
            f"HTTP {response.status}: {response.url}"))
        page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
        for name, path in PAGES.items():
            page.goto(origin + path, wait_until="networkidle")
            if not page.locator("article h1").count():
                problems.append(f"{name}: no heading rendered")
            page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
        page.goto(origin, wait_until="networkidle")
        page.keyboard.press("/")  # Material's search shortcut
        page.keyboard.type("4008")
        page.wait_for_timeout(1500)
        hits = page.locator(".md-search-result__item").count()
        if not hits:
            problems.append("search for 4008 found nothing")
        page.screenshot(path=str(shots / "search.png"))
        page.goto(origin + "api/", wait_until="networkidle")
        for name in ("douyin_async.DouyinClient", "douyin_async.redis.RedisThrottle", "douyin_async.NotFoundError"):
            if not page.locator(f"[id='{name}']").count():
                problems.append(f"api: {name} missing")
        browser.close()
    server.shutdown()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(PAGES) + 1} screenshots in {shots}; search hits for 4008: {hits}; problems: {len(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
