"""Look at the built site in a real browser: screenshots of key pages, and checks that they render.

Serves the built site (``mkdocs build``) on 127.0.0.1 and opens it in headless Chromium (Debian's
``chromium`` package) through Playwright: every page must load with no failed request and no
console error, its search index must be built and answer a query, and the API reference must
hold the public names, show each public class's signature (``DouyinClient(key: ... = None, ...``)
and show every ``>>>`` example as code, never as text. Screenshots go to the output directory
(``api-DouyinClient.png`` is the client's heading and signature).

Needs ``pip install -e '.[docs]'`` (Playwright) and a Chromium (Debian: ``apt-get install chromium``);
``tests/test_docs_site.py`` runs it, and skips when either is missing.

    mkdocs build --strict -d site && python docs/_tools/screenshots.py site shots/
"""

from __future__ import annotations

import functools
import http.server
import importlib
import inspect
import json
import shutil
import sys
import threading
from enum import Enum
from pathlib import Path
from typing import Protocol

from playwright.sync_api import Page, sync_playwright

PUBLIC_MODULES = ("douyin_async", "douyin_async.redis", "douyin_async.emulator")
CLIENT_SIGNATURE = ("DouyinClient(", "key: str | None = None", "secret: str | None = None", "base_url:",
                    "rate_limit: float | None =", "max_concurrency: int | None =", "timeout: float = 30.0")
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
        problems += api_problems(page)
        page.evaluate("document.getElementById('douyin_async.DouyinClient').scrollIntoView(); window.scrollBy(0, -64)")
        page.screenshot(path=str(shots / "api-DouyinClient.png"))
        browser.close()
    server.shutdown()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(PAGES) + 2} screenshots in {shots}; search hits for 4008: {hits}; problems: {len(problems)}")
    return 1 if problems else 0


def public_classes() -> list[str]:
    """The API reference's ids of the public classes that are constructed (every one but a Protocol
    or an Enum)."""
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.isclass(value) and not issubclass(value, Enum) and Protocol not in value.__mro__[1:]:
                names.append(f"{module_name}.{name}")
    return names


def api_problems(page: Page) -> list[str]:
    """Each public class shows its signature with its parameters, and no ``>>>`` is left as text."""
    problems = []
    signatures: dict[str, str | None] = page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll(".doc-class > .doc-heading")].map(h => {
            const signature = h.parentElement.querySelector(":scope > .doc-signature");
            return [h.id, signature ? signature.innerText : null];
        }))""")
    for name in public_classes():
        if name not in signatures:
            problems.append(f"api: {name} missing")
            continue
        signature = " ".join((signatures[name] or "").split())
        if not signature.startswith(name.rsplit(".", 1)[1] + "("):
            problems.append(f"api: {name} shows no signature ({signature[:60]!r})")
    client = " ".join((signatures.get("douyin_async.DouyinClient") or "").split())
    problems += [f"api: DouyinClient's signature lacks {part!r}" for part in CLIENT_SIGNATURE if part not in client]
    as_text: list[str] = page.evaluate("""() => {
        const found = [];
        const walker = document.createTreeWalker(document.querySelector("article"), NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
            const node = walker.currentNode;
            if (node.textContent.includes(">>>") && !node.parentElement.closest("pre, code")) {
                found.push(node.textContent.trim().slice(0, 80));
            }
        }
        return found;
    }""")
    problems += [f"api: '>>>' left as text: {text!r}" for text in as_text]
    quotes = page.locator("article .doc blockquote").count()
    if quotes:
        problems.append(f"api: {quotes} blockquotes in docstrings (a '>>>' example read as Markdown)")
    return problems


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
