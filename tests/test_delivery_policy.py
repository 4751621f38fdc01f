"""The retry rules and the pieces they read, as plain functions."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from cryptography.fernet import InvalidToken

from api.models import DeliveryStatus
from api.webhooks.addresses import is_public_address
from api.webhooks.crypto import decrypt_headers, decrypt_text, encrypt_headers, encrypt_text
from api.webhooks.retry_policy import AttemptOutcome, RetryPolicy, parse_retry_after
from api.webhooks.signing import check_signatures, sign_delivery

SCHEDULE = (5.0, 30.0, 120.0)
POLICY = RetryPolicy(schedule_seconds=SCHEDULE, retry_after_cap_seconds=3600)


def outcome(status_code: int | None, retry_after: float | None = None) -> AttemptOutcome:
    if status_code is None:
        return AttemptOutcome(latency_ms=10, error="ConnectError")
    return AttemptOutcome(status_code=status_code, latency_ms=10, retry_after_seconds=retry_after)


def plan(
    result: AttemptOutcome, attempt: int = 1, retry_on_failure: bool = True
) -> tuple[DeliveryStatus, float | None]:
    step = POLICY.next_step(result, attempt=attempt, retry_on_failure=retry_on_failure)
    return step.status, step.retry_in_seconds


def test_2xx_is_delivered() -> None:
    assert plan(outcome(204)) == (DeliveryStatus.DELIVERED, None)


def test_retryable_failures_follow_the_schedule_with_jitter() -> None:
    for code in (None, 408, 429, 500, 503):
        status, delay = plan(outcome(code), attempt=2)
        assert status == DeliveryStatus.PENDING and delay is not None
        assert 30 * 0.8 <= delay <= 30 * 1.2


def test_other_4xx_exhausted_schedule_and_no_retry_setting_fail() -> None:
    assert plan(outcome(400))[0] == DeliveryStatus.FAILED
    assert plan(outcome(404))[0] == DeliveryStatus.FAILED
    assert plan(outcome(500), attempt=len(SCHEDULE) + 1)[0] == DeliveryStatus.FAILED
    assert plan(outcome(500), retry_on_failure=False)[0] == DeliveryStatus.FAILED


def test_retry_after_lengthens_the_schedule_within_the_cap() -> None:
    assert plan(outcome(429, retry_after=90)) == (DeliveryStatus.PENDING, 90)
    assert plan(outcome(429, retry_after=99_999)) == (DeliveryStatus.PENDING, 3600)


def test_retry_after_never_makes_a_retry_sooner_than_the_schedule() -> None:
    """'Retry-After: 0' (or a date in the past) would otherwise burn every retry in a moment."""
    for asked in (0.0, 1.0):
        for attempt, scheduled in enumerate(SCHEDULE, start=1):
            status, delay = plan(outcome(503, retry_after=asked), attempt=attempt)
            assert status == DeliveryStatus.PENDING and delay is not None
            assert delay >= scheduled * 0.8


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("120") == 120
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= (parse_retry_after(in_a_minute) or 0) <= 61
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_public_and_private_addresses() -> None:
    assert is_public_address(ipaddress.ip_address("93.184.216.34"))
    assert is_public_address(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    for private in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fe80::1", "::ffff:10.0.0.1", "224.0.0.1"):
        assert not is_public_address(ipaddress.ip_address(private)), private


def test_ipv6_forms_are_judged_by_the_ipv4_address_they_carry() -> None:
    carrying_public = ["2002:808:808::", "64:ff9b::808:808", "2001:0:4136:e378:8000:63bf:f7f7:f7f7", "::8.8.8.8"]
    for address in carrying_public:
        assert is_public_address(ipaddress.ip_address(address)), address
    carrying_private = [
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b:1::808:808",  # local-use NAT64: never public
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (inverted)
        "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # Teredo, server 10.0.0.1
        "::ffff:169.254.169.254",
        "::10.0.0.1",  # IPv4-compatible
        "::",
    ]
    for address in carrying_private:
        assert not is_public_address(ipaddress.ip_address(address)), address


def test_secrets_round_trip_through_encryption_and_are_not_stored_plain() -> None:
    sealed = encrypt_text("service-key", "webhook-secret")
    assert "webhook-secret" not in sealed and decrypt_text("service-key", sealed) == "webhook-secret"
    headers = [("X-Token", "abc"), ("X-Other", "d e f")]
    assert decrypt_headers("service-key", encrypt_headers("service-key", headers)) == headers


def test_a_decryption_kept_in_memory_still_needs_the_service_key_that_sealed_it() -> None:
    sealed = encrypt_text("service-key", "webhook-secret")
    headers = [("X-Token", "abc")]
    sealed_headers = encrypt_headers("service-key", headers)
    assert decrypt_text("service-key", sealed) == "webhook-secret"
    first = decrypt_headers("service-key", sealed_headers)
    first.append(("X-Added", "by a caller"))

    with pytest.raises(InvalidToken):
        decrypt_text("another-service-key", sealed)
    with pytest.raises(InvalidToken):
        decrypt_headers("another-service-key", sealed_headers)
    assert decrypt_headers("service-key", sealed_headers) == headers  # each caller gets its own list


def test_a_receiver_verifies_what_the_signer_signed() -> None:
    signed = sign_delivery(
        service_secret_key="service-key",
        secret_encrypted=encrypt_text("service-key", "s"),
        custom_headers_encrypted=None,
        body_bytes=b'{"a":1}',
        event_id="e",
        delivery_id="d",
        attempt=1,
        timestamp=1700000000,
    )
    lowered = {name.lower(): value for name, value in signed.headers.items()}
    assert check_signatures(secret="s", body_bytes=b'{"a":1}', headers=lowered).all_ok
    assert not check_signatures(secret="s", body_bytes=b'{"a":2}', headers=lowered).all_ok
    assert not check_signatures(secret="t", body_bytes=b'{"a":1}', headers=lowered).all_ok
