"""The key and secret never reach a message, a traceback, a log record, a repr or the output."""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest

from douyin_async import DouyinClient, DouyinError, RetryOptions
from douyin_async.emulator import Emulator

KEY = "K3Y-must-not-leak-91bc"
SECRET = "S3CRET-must-not-leak-7f3a"


def chain_text(exc: BaseException) -> str:
    """Everything a logger or an error tracker could print of ``exc`` and its chain."""
    parts = ["".join(traceback.format_exception(exc)), repr(exc), str(exc)]
    seen: BaseException | None = exc
    while seen is not None:
        parts += [repr(seen), str(seen), repr(vars(seen)) if hasattr(seen, "__dict__") else ""]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


async def test_secret_appears_nowhere(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with Emulator(fast=True, keys={KEY: SECRET}, seed=7) as emu:
        for item_id, outcome in enumerate(
            ["http502", "reset", "truncated", "4000", "4008", "2000", "5000", "timeout"], start=1000
        ):
            emu.script(str(item_id), [outcome] * 4)
        emu.config.timeout_delay = 1.0
        async with DouyinClient(
            KEY, SECRET, base_url=emu.base_url, max_retries=1, backoff_initial=0, backoff_max=0,
            timeout=0.3, retry=RetryOptions(rate_limit_retries=1),
        ) as client:
            texts.append(repr(client))
            for item_id in range(1000, 1008):
                with pytest.raises(DouyinError) as caught:
                    await client.item_get_video(str(item_id))
                texts.append(chain_text(caught.value))
            with pytest.raises(DouyinError) as caught:
                await client.item_get_video("1&key=" + KEY)
            texts.append(chain_text(caught.value))
        wrong = Emulator(keys={KEY: "other"})
        async with wrong, DouyinClient(KEY, SECRET, base_url=wrong.base_url) as client:
            with pytest.raises(DouyinError) as caught:
                await client.item_get_video("1")
            texts.append(chain_text(caught.value))
    async with DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", max_retries=0) as client:
        with pytest.raises(DouyinError) as caught:
            await client.item_get_video("1")
        texts.append(chain_text(caught.value))
    with pytest.raises(DouyinError) as caught:  # an impossible port fails at construction
        DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:99999/douyin")
    texts.append(chain_text(caught.value))
    out, err = capsys.readouterr()
    texts += [out, err, caplog.text]
    texts += [repr(record.args) + record.getMessage() for record in caplog.records]
    everything = "\n".join(texts)
    assert "retrying 1000 after" in caplog.text  # the retry log ran, so it was checked
    assert "Payload" in everything and "nginx" in everything  # the failures were real
    assert KEY not in everything
    assert SECRET not in everything


def test_redactor_masks_query_and_literals() -> None:
    from douyin_async import Redactor

    redact = Redactor([KEY, SECRET])
    url = f"http://h/douyin/item_get_video/?key={KEY}&secret={SECRET}&item_id=1"
    assert redact(url) == "http://h/douyin/item_get_video/?key=***&secret=***&item_id=1"
    assert redact(f"oops {SECRET} and {KEY}") == "oops *** and ***"
    assert SECRET not in redact.excerpt(f"<html>{SECRET}</html>".encode())


async def test_repr_hides_credentials() -> None:
    client = DouyinClient(KEY, SECRET)
    assert KEY not in repr(client) and SECRET not in repr(client)
    assert KEY not in str(vars(client).get("_redact", ""))
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    "envelope",
    [
        {"error_code": "4005", "reason": f"invalid key {KEY}", "request_id": SECRET},
        {"error_code": f"9{KEY}", "reason": "?"},
        {"error_code": "0000", "item": {"num_iid": f"{SECRET}1"}, "request_id": f"r-{KEY}"},
    ],
)
async def test_text_from_the_gateway_is_redacted(envelope: dict[str, object]) -> None:
    """The gateway may echo the key (a reason, a request id, an item): it never reaches a message."""
    from douyin_async import MockTransport, Response

    transport = MockTransport(lambda request: Response.json(envelope))
    async with DouyinClient(KEY, SECRET, base_url="https://gw.example/douyin", transport=transport,
                            max_retries=0) as client:
        with pytest.raises(DouyinError) as caught:
            await client.item_get_video("1")
    # raw_item keeps the billed item exactly as sent (data, not a message), so it is left out.
    fields = {name: value for name, value in vars(caught.value).items() if name != "raw_item"}
    text = "".join(traceback.format_exception(caught.value)) + repr(caught.value) + repr(fields)
    assert KEY not in text and SECRET not in text


async def test_a_redirect_from_the_gateway_is_not_followed_with_the_credentials() -> None:
    """A 302 to another host that keeps the query would hand it the key and secret: never followed."""
    from aiohttp import web

    async with Emulator(fast=True, keys={KEY: SECRET}) as other:
        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"{other.base_url}/item_get_video/?{request.query_string}")

        app = web.Application()
        app.router.add_get("/douyin/item_get_video/", redirect)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/douyin"
            async with DouyinClient(KEY, SECRET, base_url=base_url, max_retries=1) as client:
                with pytest.raises(DouyinError) as caught:
                    await client.item_get_video("7092264344980868359")
        finally:
            await runner.cleanup()
        assert other.stats.requests == 0  # the other host never heard of us
    assert "302" in str(caught.value) and not caught.value.retryable
    assert KEY not in chain_text(caught.value) and SECRET not in chain_text(caught.value)
