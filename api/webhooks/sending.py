"""Send one attempt of one delivery and decide what follows: shared by verify-on-save and the worker."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx
from cryptography.fernet import InvalidToken

from api.errors import BadInput
from api.models import DeliveryStatus
from api.webhooks.signing import sign_delivery
from api.webhooks.validation import UnresolvableHost, check_endpoint_is_public, parse_endpoint

RESPONSE_SNIPPET_BYTES = 1024
MAX_ERROR_LENGTH = 500
RETRYABLE_STATUS_CODES = frozenset({408, 429})
JITTER = 0.2
"""Each scheduled delay is stretched or shrunk by up to 20 % so retries of a burst spread out."""


@dataclass(frozen=True)
class ClaimedAttempt:
    """One attempt of a delivery, claimed: everything needed to send it, secrets still encrypted."""

    delivery_id: str
    webhook_id: str
    event_id: str
    attempt: int
    endpoint: str
    secret_encrypted: str | None
    custom_headers_encrypted: str | None
    retry_on_failure: bool
    body: str | None
    """None when the event is gone (retention) and there is nothing left to send."""


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None
    latency_ms: int
    response_snippet: str | None
    error: str | None
    retry_after_seconds: float | None = None
    is_retryable_error: bool = True
    """For a failure without a status code: False when trying again cannot help (refused endpoint)."""

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def is_retryable(self) -> bool:
        """Connection errors, timeouts, 408, 429 and 5xx may pass later; other 4xx will not."""
        if self.status_code is None:
            return self.is_retryable_error
        return self.status_code in RETRYABLE_STATUS_CODES or self.status_code >= 500

    def describe(self) -> str:
        """For a human: ``HTTP 500`` or the error."""
        return f"HTTP {self.status_code}" if self.status_code is not None else (self.error or "no response")


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


async def send_attempt(
    http: httpx.AsyncClient,
    claimed: ClaimedAttempt,
    *,
    service_secret_key: str,
    timeout_seconds: float,
    private_allowed: bool,
) -> AttemptOutcome:
    """Sign and POST the stored body bytes; never raises for anything the endpoint does."""
    if claimed.body is None:
        return AttemptOutcome(None, 0, None, "the event no longer exists (retention)", is_retryable_error=False)
    if not private_allowed:
        # Checked again at send time: DNS may have changed since the webhook was saved.
        try:
            await check_endpoint_is_public(parse_endpoint(claimed.endpoint))
        except UnresolvableHost as unresolved:
            return AttemptOutcome(None, 0, None, unresolved.message)  # DNS may answer next time
        except BadInput as refused:
            return AttemptOutcome(None, 0, None, refused.message, is_retryable_error=False)
    try:
        request = sign_delivery(
            service_secret_key=service_secret_key,
            secret_encrypted=claimed.secret_encrypted,
            custom_headers_encrypted=claimed.custom_headers_encrypted,
            body_bytes=claimed.body.encode(),
            event_id=claimed.event_id,
            delivery_id=claimed.delivery_id,
            attempt=claimed.attempt,
            timestamp=int(time.time()),
        )
    except InvalidToken:
        return AttemptOutcome(
            None,
            0,
            None,
            "the webhook's secret cannot be decrypted: was AUDITTRAIL_SECRET_KEY changed? Set the webhook again",
            is_retryable_error=False,
        )
    started = time.perf_counter()

    def elapsed_ms() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        # httpx's timeout is per phase; the outer one bounds the whole exchange (a trickling response).
        async with asyncio.timeout(timeout_seconds):
            async with http.stream(
                "POST",
                claimed.endpoint,
                content=request.body_bytes,
                headers=request.headers,
                timeout=timeout_seconds,
                follow_redirects=False,
            ) as response:
                # A receiver that echoes request headers would put the custom header values in the log.
                snippet = _redact(await _read_snippet(response), request.custom_header_values)
        return AttemptOutcome(
            status_code=response.status_code,
            latency_ms=elapsed_ms(),
            response_snippet=snippet,
            error=None,
            retry_after_seconds=parse_retry_after(response.headers.get("retry-after")),
        )
    except (TimeoutError, httpx.TimeoutException):
        return AttemptOutcome(None, elapsed_ms(), None, f"timed out after {timeout_seconds:g} s")
    except httpx.HTTPError as error:
        # The secret never leaves the signer, only its HMACs; header values could appear in an error.
        message = _redact(str(error) or type(error).__name__, request.custom_header_values)[:MAX_ERROR_LENGTH]
        return AttemptOutcome(None, elapsed_ms(), None, f"{type(error).__name__}: {message}")


async def _read_snippet(response: httpx.Response) -> str:
    """The first KiB of the response, read no further (a receiver may answer with anything)."""
    collected = b""
    async for chunk in response.aiter_bytes():
        collected += chunk
        if len(collected) >= RESPONSE_SNIPPET_BYTES:
            break
    return collected[:RESPONSE_SNIPPET_BYTES].decode("utf-8", errors="replace")


@dataclass(frozen=True)
class NextStep:
    status: Literal[DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]
    retry_in_seconds: float | None = None


def plan_next_step(
    outcome: AttemptOutcome,
    *,
    attempt: int,
    retry_on_failure: bool,
    retry_schedule_seconds: list[float],
    retry_after_cap_seconds: float,
) -> NextStep:
    """Delivered, failed for good, or pending again after the scheduled (or asked-for) delay."""
    if outcome.is_success:
        return NextStep(DeliveryStatus.DELIVERED)
    if not retry_on_failure or not outcome.is_retryable or attempt > len(retry_schedule_seconds):
        return NextStep(DeliveryStatus.FAILED)
    if outcome.retry_after_seconds is not None and outcome.status_code in (429, 503):
        # The receiver said when; believe it, within reason.
        return NextStep(DeliveryStatus.PENDING, min(outcome.retry_after_seconds, retry_after_cap_seconds))
    scheduled = retry_schedule_seconds[attempt - 1]
    return NextStep(DeliveryStatus.PENDING, scheduled * random.uniform(1 - JITTER, 1 + JITTER))
