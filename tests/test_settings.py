"""Every invalid setting fails at construction, naming the value and what is allowed."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from douyin_async import (
    DouyinClient,
    InvalidSettingError,
    LocalThrottle,
    MediaOptions,
    MockTransport,
    Response,
    RetryOptions,
    ShortLinkOptions,
)

CREDENTIALS = {"key": "k", "secret": "s"}


def answer(request: object) -> Response:
    return Response.json({})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "timeout=0 is not allowed: a finite number >= 0.001"),
        ({"timeout": float("nan")}, "timeout=nan"),
        ({"max_retries": -1}, "max_retries=-1 is not allowed: a whole number >= 0"),
        ({"max_retries": 1.5}, "max_retries=1.5"),
        ({"backoff_initial": -0.1}, "backoff_initial=-0.1"),
        ({"backoff_initial": 5, "backoff_max": 1}, r"backoff_max=1 is not allowed: .* >= backoff_initial \(5\)"),
        ({"backoff_max": float("inf")}, "backoff_max=inf"),
        ({"rate_limit": 0}, "rate_limit=0"),
        ({"rate_limit": 1e-310}, "rate_limit=1e-310"),
        ({"rate_limit": float("nan")}, "rate_limit=nan"),
        ({"key": 123}, "key='\\*\\*\\*' is not allowed: a str"),
        ({"lang": ["cn"]}, "lang="),
        ({"base_url": "http://[::1"}, "base_url="),
        ({"base_url": "https://gw/douyin#frag"}, "base_url="),
        ({"base_url": "https://gw/douyin?"}, "base_url="),
        ({"base_url": "https://gw/douyin?key=K1&secret=S1"}, "base_url="),
        ({"throttle": object()}, "a Throttle"),
        ({"transport": object()}, "a Transport"),
        ({"retry": "x"}, "a RetryOptions or None"),
        ({"session": "x"}, "an aiohttp.ClientSession"),
        ({"max_concurrency": 0}, "max_concurrency=0 is not allowed: a whole number >= 1 or None"),
        ({"base_url": "ftp://gw/douyin"}, "base_url='ftp://gw/douyin'"),
        ({"base_url": "https://gw/douyin?x=1"}, "and no query"),
        ({"base_url": "http://127.0.0.1:99999/douyin"}, "a valid port"),
        ({"lang": "deutsch"}, "lang='deutsch' is not allowed: a language code"),
        ({"throttle": LocalThrottle(10, 2), "rate_limit": 10}, "a throttle brings its own limits"),
        ({"transport": MockTransport(answer), "session": "placeholder"}, "a transport or a session"),
    ],
)
async def test_client_settings(options: dict[str, Any], message: str) -> None:
    if options.get("session") == "placeholder":
        options["session"] = aiohttp.ClientSession()
    try:
        with pytest.raises(InvalidSettingError, match=message) as caught:
            DouyinClient(**{**CREDENTIALS, **options})
        assert isinstance(caught.value, ValueError)
        assert "K1" not in str(caught.value) and "S1" not in str(caught.value)
    finally:
        if isinstance(options.get("session"), aiohttp.ClientSession):
            await options["session"].close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RetryOptions(rate_limit_retries=-1), "rate_limit_retries=-1"),
        (lambda: MediaOptions(concurrency=0), "media concurrency=0"),
        (lambda: MediaOptions(read_timeout=-1), "media read_timeout=-1"),
        (lambda: ShortLinkOptions(hosts="v.douyin.com"), "a collection of host names"),
        (lambda: ShortLinkOptions(max_hops=0), "short link max_hops=0"),
        (lambda: ShortLinkOptions(timeout=0), "short link timeout=0"),
    ],
)
def test_option_groups(make: Any, message: str) -> None:
    with pytest.raises(InvalidSettingError, match=message):
        make()


def test_missing_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOUYIN_API_KEY", raising=False)
    monkeypatch.delenv("DOUYIN_API_SECRET", raising=False)
    with pytest.raises(InvalidSettingError, match="DOUYIN_API_KEY and DOUYIN_API_SECRET"):
        DouyinClient()


def test_a_given_throttle_is_used_as_is() -> None:
    throttle = LocalThrottle(7, 3)
    client = DouyinClient(**CREDENTIALS, throttle=throttle)
    assert (client.limits.rate_ceiling, client.limits.concurrency_ceiling) == (7, 3)
    assert "rate_limit=7, max_concurrency=3" in repr(client)


def test_the_environment_names_the_gateway_when_the_code_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from douyin_async import DouyinClient

    monkeypatch.setenv("DOUYIN_API_BASE_URL", "http://127.0.0.1:8765/douyin")
    assert DouyinClient("k", "s").base_url == "http://127.0.0.1:8765/douyin"
    assert DouyinClient("k", "s", base_url="http://mirror.example/douyin").base_url == "http://mirror.example/douyin"
    monkeypatch.setenv("DOUYIN_API_BASE_URL", "not a url")
    with pytest.raises(ValueError, match="base_url"):
        DouyinClient("k", "s")


def test_the_default_base_url_given_explicitly_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from douyin_async import DEFAULT_BASE_URL, DouyinClient
    from douyin_async.cli._parser import build_parser
    from douyin_async.cli._session import client_options

    monkeypatch.setenv("DOUYIN_API_BASE_URL", "http://127.0.0.1:8765/douyin")
    assert DouyinClient("k", "s", base_url=DEFAULT_BASE_URL).base_url == DEFAULT_BASE_URL
    assert DouyinClient("k", "s", base_url=[DEFAULT_BASE_URL]).base_url == DEFAULT_BASE_URL
    assert DouyinClient("k", "s", base_url=None).base_url == "http://127.0.0.1:8765/douyin"
    # The command line: no --base-url leaves the choice to the environment; one given wins.
    for argv, expected in ((["get", "1"], "http://127.0.0.1:8765/douyin"),
                           (["get", "1", "--base-url", DEFAULT_BASE_URL], DEFAULT_BASE_URL)):
        options = client_options(build_parser().parse_args(argv))
        assert DouyinClient("k", "s", **options).base_url == expected
    monkeypatch.delenv("DOUYIN_API_BASE_URL")
    assert DouyinClient("k", "s").base_url == DEFAULT_BASE_URL
