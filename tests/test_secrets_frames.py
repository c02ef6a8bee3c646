"""No frame an error passes through holds the key or secret: tracebacks with locals stay clean.

Error trackers record the locals of every frame in a traceback (by their repr). For each way a
call can fail, every local of every frame in the error's traceback, and in the tracebacks of its
``__cause__`` and ``__context__`` chain, is repr'd and searched for the key and the secret.
"""

from __future__ import annotations

import copy
import pickle
import ssl
import subprocess
import traceback
from pathlib import Path

import pytest
from aiohttp import web

from douyin_async import DouyinClient, DouyinError, ResponseOptions, RetryOptions, TransportError
from douyin_async._secrets import Credentials
from douyin_async.emulator import Emulator
from douyin_async.errors import CODES

KEY = "K3Y-frames-5e1d"
SECRET = "S3CRET-frames-a9c7"
ITEM = "7092264344980868359"


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` and ``__context__``."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return seen


def frame_texts(exc: BaseException) -> list[str]:
    texts = []
    for error in chain(exc):
        texts += [repr(error), str(error), repr(vars(error)), "".join(traceback.format_exception(error))]
        for frame, _ in traceback.walk_tb(error.__traceback__):
            where = f"{frame.f_code.co_filename}:{frame.f_code.co_name}"
            texts += [f"{where} {name}={value!r}" for name, value in frame.f_locals.items()]
    return texts


def assert_clean(exc: BaseException) -> None:
    leaks = [text for text in frame_texts(exc) if KEY in text or SECRET in text]
    assert not leaks, leaks[0][:300]


OUTCOMES = [
    *sorted(set(CODES) - {"0000"}),
    "reset", "truncated", "timeout", "http502", "empty", "deep_json", "gzip_bomb", "endless",
    "redirect_other", "slow_body",
]


@pytest.mark.parametrize("outcome", OUTCOMES)
async def test_no_frame_of_any_error_holds_the_credentials(outcome: str) -> None:
    async with Emulator(fast=True, keys={KEY: SECRET}, timeout_delay=1.0) as emu, DouyinClient(
        KEY, SECRET, base_url=emu.base_url, max_retries=1, backoff_initial=0, backoff_max=0, timeout=0.3,
        retry=RetryOptions(rate_limit_retries=1), response=ResponseOptions(max_body_size=64 * 1024),
    ) as client:
        emu.script(ITEM, [outcome] * 4)
        with pytest.raises(DouyinError) as caught:
            await client.item_get_video(ITEM)
    assert caught.value.__traceback__ is not None
    assert_clean(caught.value)


async def test_connection_refused_and_bad_settings_hold_no_credentials() -> None:
    async with DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", max_retries=0) as client:
        with pytest.raises(TransportError) as refused:
            await client.item_get_video(ITEM)
    assert_clean(refused.value)
    for bad in ({"timeout": -1}, {"base_url": "ftp://x"}, {"max_retries": 1.5}):
        with pytest.raises(DouyinError) as caught:
            DouyinClient(KEY, SECRET, **bad)  # type: ignore[arg-type]
        assert_clean(caught.value)
    with pytest.raises(DouyinError) as missing:
        DouyinClient(KEY, "")
    assert_clean(missing.value)


def test_credentials_show_nothing_and_refuse_to_be_pickled() -> None:
    credentials = Credentials(KEY, SECRET)
    assert KEY not in repr(credentials) + str(credentials) and SECRET not in repr(credentials)
    assert not hasattr(credentials, "__dict__")
    for leak in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            leak(credentials)
    client = DouyinClient(KEY, SECRET)
    assert KEY not in repr(vars(client)) and SECRET not in repr(vars(client))


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        pytest.skip("openssl is needed to make a self-signed certificate")
    return cert, key


async def test_tls_is_verified_by_default(self_signed: tuple[Path, Path]) -> None:
    """A gateway with a certificate nobody signed is refused: the key and secret never reach it."""
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    heard: list[str] = []

    async def gateway(request: web.Request) -> web.Response:
        heard.append(request.query_string)
        return web.json_response({"error_code": "2000"})

    app = web.Application()
    app.router.add_get("/douyin/item_get_video/", gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    try:
        base_url = f"https://127.0.0.1:{runner.addresses[0][1]}/douyin"
        async with DouyinClient(KEY, SECRET, base_url=base_url, max_retries=0) as client:
            with pytest.raises(TransportError, match=r"(?i)certificate") as caught:
                await client.item_get_video(ITEM)
    finally:
        await runner.cleanup()
    assert heard == []  # the key and secret never reached it
    assert not caught.value.sent
    assert_clean(caught.value)
