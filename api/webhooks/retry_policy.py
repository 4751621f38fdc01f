"""What follows an attempt: delivered, failed for good, or tried again after the schedule's (or the
receiver's ``Retry-After``) delay."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

from api.models import DeliveryStatus
from api.settings import Settings

RETRYABLE_STATUS_CODES = frozenset({408, 429})
# Only these answers mean "come back later"; a Retry-After on anything else is not an invitation.
RETRY_AFTER_STATUS_CODES = frozenset({429, 503})
JITTER = 0.2
"""Each scheduled delay is stretched or shrunk by up to 20 % so retries of a burst spread out."""


@dataclass(frozen=True, kw_only=True)
class AttemptOutcome:
    """What the endpoint did with one attempt: a status code, or an error when there was no answer."""

    status_code: int | None = None
    latency_ms: int = 0
    response_snippet: str | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    is_retryable_error: bool = True
    """For a failure without a status code: False when trying again cannot help (refused endpoint)."""
    request_headers: dict[str, str] = field(default_factory=dict)
    """The headers sent, custom header values redacted; empty when nothing was sent."""
    response_headers: dict[str, str] | None = None
    """The endpoint's answer's headers (storable, bounded, redacted); None without an answer."""

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


@dataclass(frozen=True, kw_only=True)
class NextStep:
    status: Literal[DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]
    retry_in_seconds: float | None = None
    """Set only for PENDING: how long until the next attempt."""


DELIVERED = NextStep(status=DeliveryStatus.DELIVERED)
FAILED = NextStep(status=DeliveryStatus.FAILED)


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


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """When a failed attempt is tried again: built once per process from the settings."""

    schedule_seconds: tuple[float, ...]
    """The delay before each retry: the first retry waits ``schedule_seconds[0]``; past the end, FAILED."""
    retry_after_cap_seconds: float
    """The longest ``Retry-After`` believed."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """``AUDITTRAIL_RETRY_SCHEDULE_SECONDS`` and ``AUDITTRAIL_RETRY_AFTER_CAP_SECONDS``."""
        return cls(
            schedule_seconds=tuple(settings.retry_schedule_seconds),
            retry_after_cap_seconds=settings.retry_after_cap_seconds,
        )

    def max_attempts(self, *, retry_on_failure: bool) -> int:
        """Attempts a delivery gets in all: the first, and one per schedule step when it retries."""
        return len(self.schedule_seconds) + 1 if retry_on_failure else 1

    def next_step(self, outcome: AttemptOutcome, *, attempt: int, retry_on_failure: bool) -> NextStep:
        """Delivered, failed for good, or pending again after the scheduled (or asked-for) delay."""
        if outcome.is_success:
            return DELIVERED
        if not retry_on_failure or not outcome.is_retryable or attempt > len(self.schedule_seconds):
            return FAILED
        scheduled = self.schedule_seconds[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)
        if outcome.retry_after_seconds is not None and outcome.status_code in RETRY_AFTER_STATUS_CODES:
            # The receiver said when: believed when it asks for longer, up to the cap.  Never sooner than
            # the schedule: "Retry-After: 0" or a date in the past would burn every retry at once.
            asked = min(outcome.retry_after_seconds, self.retry_after_cap_seconds)
            return NextStep(status=DeliveryStatus.PENDING, retry_in_seconds=max(scheduled, asked))
        return NextStep(status=DeliveryStatus.PENDING, retry_in_seconds=scheduled)
