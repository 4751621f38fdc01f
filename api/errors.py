"""Typed domain errors and the GraphQL error code each one carries to the client."""

from __future__ import annotations

from typing import ClassVar


class AppError(Exception):
    """An expected failure: its message is safe to show and its code goes to ``extensions.code``."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(AppError):
    code = "BAD_USER_INPUT"


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"


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
