"""Typed domain errors and the GraphQL error code each one carries to the client."""

from __future__ import annotations

from typing import ClassVar


class AppError(Exception):
    """An expected failure: its message is safe to show and its code goes to ``extensions.code``."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, object]:
        """What the client gets in ``extensions`` beside ``code`` (a retry hint)."""
        return {}


class BadInput(AppError):
    code = "BAD_USER_INPUT"


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"


class TooManyFailedLogins(Unauthenticated):
    """Logins refused unchecked for a while: this address failed too often (for this key)."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"unauthorized: too many failed logins; retry in {retry_after_seconds} seconds")
        self.retry_after_seconds = retry_after_seconds

    @property
    def extensions(self) -> dict[str, object]:
        return {"retryAfterSeconds": self.retry_after_seconds}


class Forbidden(AppError):
    code = "FORBIDDEN"


class NotFound(AppError):
    code = "NOT_FOUND"


class Conflict(AppError):
    code = "CONFLICT"


class WebhookVerificationFailed(AppError):
    code = "WEBHOOK_VERIFICATION_FAILED"


class ServiceUnavailable(AppError):
    """A backing server (PostgreSQL, Redis) cannot be reached; the client may retry."""

    code = "SERVICE_UNAVAILABLE"


class InvalidRequest(AppError):
    """A document that does not parse or validate against the schema (graphql-core's own errors)."""

    code = "GRAPHQL_VALIDATION_FAILED"


class PayloadTooLarge(AppError):
    """A request body over the size limit, refused before it is parsed."""

    code = "PAYLOAD_TOO_LARGE"
