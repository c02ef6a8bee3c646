"""Fast local servers for the client benchmarks: faster than any client, so the client is measured.

nginx (from Debian's ``nginx-light``) when it is installed, else an aiohttp server in its own
process. Both answer every request with the seed's success envelope, with ``num_iid`` set to the
request's ``item_id`` so that any id decodes as a valid answer. Both listen on 127.0.0.1 only and
are stopped when the context exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from douyin_async.emulator import SEED_ITEM, SEED_SUCCESS

PLACEHOLDER = "__ITEM_ID__"


def envelope_template() -> str:
    """The seed's success envelope (compact JSON) with the id replaced by a placeholder."""
    envelope = {**SEED_SUCCESS, "item": {**SEED_ITEM, "num_iid": PLACEHOLDER}}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Server:
    kind: str
    base_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start listening")


@contextlib.contextmanager
def fast_server(prefer_nginx: bool = True) -> Iterator[Server]:
    """nginx if it is installed (and preferred), else a separate aiohttp process."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if prefer_nginx and nginx:
        with _nginx(nginx) as server:
            yield server
    else:
        with _python_server() as server:
            yield server


@contextlib.contextmanager
def _nginx(binary: str) -> Iterator[Server]:
    port = free_port()
    body = envelope_template().replace("\\", "\\\\").replace("'", "\\'").replace(PLACEHOLDER, "$arg_item_id")
    with tempfile.TemporaryDirectory(prefix="douyin-bench-nginx-") as directory:
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(f"{directory}/{sub}", exist_ok=True)
        config = f"""
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""
        Path(directory, "nginx.conf").write_text(config, encoding="utf-8")
        process = subprocess.Popen([binary, "-p", directory, "-c", f"{directory}/nginx.conf"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_listening(port, process)
            yield Server("nginx", f"http://127.0.0.1:{port}/douyin")
        finally:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@contextlib.contextmanager
def _python_server() -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.servers", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, process)
        yield Server("aiohttp (separate process)", f"http://127.0.0.1:{port}/douyin")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _serve(port: int) -> None:
    """The fallback server's process: answers every GET with the templated envelope."""
    from aiohttp import web

    head, tail = (part.encode() for part in envelope_template().split(PLACEHOLDER))

    async def answer(request: web.Request) -> web.Response:
        item_id = request.query.get("item_id", "").encode()
        return web.Response(body=head + item_id + tail, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, handle_signals=True,
                **({"loop": loop_factory()} if loop_factory else {}))


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
