"""Every code of the contract's table, end to end over HTTP: class, retries, attempts, charged."""

from __future__ import annotations

import pytest

from douyin_async import errors
from douyin_async.emulator import Emulator

from .conftest import ClientFactory, SleepRecorder

ERROR_CODES = sorted(code for code in errors.CODES if code != errors.SUCCESS)

EXPECTED_CLASS = {
    "2000": errors.NotFoundError,
    "4000": errors.ServerError,
    "4001": errors.ServerError,
    "4002": errors.ServerError,
    "4003": errors.InvalidParamError,
    "4004": errors.AuthError,
    "4005": errors.AuthError,
    "4006": errors.AccountDisabledError,
    "4007": errors.AccountDisabledError,
    "4008": errors.RateLimitError,
    "4009": errors.MaintenanceError,
    "4010": errors.ConfigurationError,
    "4012": errors.AccountDisabledError,
    "4013": errors.QuotaExceededError,
    "4014": errors.InvalidParamError,
    "4015": errors.InvalidParamError,
    "4016": errors.InsufficientBalanceError,
    "4017": errors.ServerError,
    "5000": errors.ApiError,
}
RETRIED = {"4000", "4001", "4002", "4008", "4009", "4017"}
# 4010 too: the base URL or path is wrong, and every id would get the same answer.
FATAL = {"4004", "4005", "4006", "4007", "4010", "4012", "4013", "4016"}
CHARGED = {"0000", "2000"}


def test_table_covers_every_contract_code() -> None:
    assert set(errors.CODES) == {"0000", *EXPECTED_CLASS}
    for code, info in errors.CODES.items():
        assert info.retryable == (code in RETRIED), code
        assert info.fatal == (code in FATAL), code
        assert info.charged == (code in CHARGED), code


@pytest.mark.parametrize("code", ERROR_CODES)
async def test_code_maps_to_class_attempts_and_charge(
    code: str, emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    item_id = "1234567890"
    emulator.script(item_id, [code] * 30)
    async with make_client(max_retries=2, retry={"rate_limit_retries": 3}) as client:
        with pytest.raises(errors.ApiError) as caught:
            await client.item_get_video(item_id)
    error = caught.value
    assert type(error) is EXPECTED_CLASS[code]
    assert error.code == code
    assert error.charged == (code in CHARGED)
    assert error.fatal == (code in FATAL)
    assert error.request_id
    expected_attempts = 1 + (3 if code == "4008" else 2 if code in RETRIED else 0)
    assert error.attempts == expected_attempts
    assert emulator.stats.requests == expected_attempts
    assert len(sleeps.delays) == expected_attempts - 1
    assert str(expected_attempts) in str(error) or expected_attempts == 1


async def test_retried_code_then_success_returns_item(
    emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    emulator.script("1234567890", ["4000", "4001", "4017"])
    async with make_client(max_retries=3) as client:
        response = await client.item_get_video("1234567890")
    assert response.item.num_iid == "1234567890"
    assert response.attempts == 4
    assert len(sleeps.delays) == 3


async def test_unknown_code_retried_only_when_configured(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    emulator.script("1234567890", ["5000", "5000"])
    async with make_client(retry={"retry_unknown_errors": True}, max_retries=3) as client:
        response = await client.item_get_video("1234567890")
    assert response.attempts == 3


def test_normalize_code_accepts_numbers_and_short_forms() -> None:
    assert errors.normalize_code(0) == "0000"
    assert errors.normalize_code("0") == "0000"
    assert errors.normalize_code(2000) == "2000"
    assert errors.normalize_code("4008") == "4008"


def test_unlisted_code_is_a_plain_api_error() -> None:
    error = errors.error_for_code("4242", reason="new")
    assert type(error) is errors.ApiError
    assert not error.retryable and not error.fatal and not error.charged
