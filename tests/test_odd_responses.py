"""Single odd responses shaped with aioresponses (unit level; the loopback server is the main seam).

aioresponses 0.7.9 cannot build responses on aiohttp 3.14+ (``ClientResponse.__init__() missing
... 'stream_writer'``), so this module is skipped there with that reason and runs in the CI leg
pinned to aiohttp 3.13.
"""

from __future__ import annotations

import re

import aiohttp
import pytest

from douyin_async import DouyinClient, HTTPStatusError, MalformedResponseError, RetryOptions, TransportError

AIOHTTP_VERSION = tuple(int(part) for part in aiohttp.__version__.split(".")[:2])
pytestmark = pytest.mark.skipif(
    AIOHTTP_VERSION >= (3, 14),
    reason=f"aioresponses cannot mock aiohttp {aiohttp.__version__} (missing stream_writer); "
    "covered by the CI run on aiohttp 3.13",
)

URL = re.compile(r"^https://gw\.example/douyin/item_get_video/.*$")
SECRET = "odd-secret-123"


async def noop_sleep(seconds: float) -> None:
    return None


def client() -> DouyinClient:
    return DouyinClient("odd-key", SECRET, base_url="https://gw.example/douyin", max_retries=1,
                        rate_limit=None, max_concurrency=None, retry=RetryOptions(sleep=noop_sleep))


async def test_json_body_with_wrong_content_type_is_still_decoded() -> None:
    from aioresponses import aioresponses

    body = '{"item": {"num_iid": "42"}, "error_code": 0, "execution_time": "0.1"}'
    with aioresponses() as mocked:
        mocked.get(URL, body=body, content_type="text/html")
        async with client() as c:
            assert (await c.item_get_video("42")).item.num_iid == "42"


async def test_error_envelope_on_a_500_uses_the_gateway_code() -> None:
    from aioresponses import aioresponses

    from douyin_async import ServerError

    body = '{"error_code": "4001", "reason": "网络错误", "request_id": "r1"}'
    with aioresponses() as mocked:
        mocked.get(URL, status=500, body=body, repeat=True)
        async with client() as c:
            with pytest.raises(ServerError) as caught:
                await c.item_get_video("42")
    assert caught.value.request_id == "r1" and caught.value.attempts == 2


async def test_404_html_is_not_retried_and_is_redacted() -> None:
    from aioresponses import aioresponses

    with aioresponses() as mocked:
        mocked.get(URL, status=404, body=f"<html>not here secret={SECRET}</html>", repeat=True)
        async with client() as c:
            with pytest.raises(HTTPStatusError) as caught:
                await c.item_get_video("42")
    assert caught.value.status == 404 and caught.value.attempts == 1
    assert SECRET not in str(caught.value)


async def test_client_error_raised_by_aiohttp_is_wrapped_without_its_url() -> None:
    from aioresponses import aioresponses

    with aioresponses() as mocked:
        mocked.get(URL, exception=aiohttp.ClientOSError(104, f"reset by peer secret={SECRET}"), repeat=True)
        async with client() as c:
            with pytest.raises(TransportError) as caught:
                await c.item_get_video("42")
    assert SECRET not in str(caught.value) and caught.value.__context__ is None


async def test_empty_200_body_is_malformed() -> None:
    from aioresponses import aioresponses

    with aioresponses() as mocked:
        mocked.get(URL, body="", repeat=True)
        async with client() as c:
            with pytest.raises(MalformedResponseError):
                await c.item_get_video("42")
