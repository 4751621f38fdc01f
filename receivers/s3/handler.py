"""The receiver as an AWS Lambda behind API Gateway: REST API (payload v1) and HTTP API (payload v2).

Handler name: ``receivers.s3.handler.lambda_handler``.  Imports nothing outside the standard
library and boto3, so the deployment zip is just the ``receivers/`` folder.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError

from receivers.s3.config import ConfigError, ReceiverConfig, load_config
from receivers.s3.receive import Rejection, accept_delivery
from receivers.s3.store import S3Store

log = logging.getLogger(__name__)

GatewayEvent = Mapping[str, object]
GatewayResponse = dict[str, object]


class LambdaReceiver:
    """Turns one API Gateway proxy event into one S3 object and an HTTP answer."""

    def __init__(self, config: ReceiverConfig, store: S3Store) -> None:
        if config.mode != "object":
            raise ConfigError(
                "AUDITTRAIL_S3_MODE must be object in Lambda, got ndjson: Lambda freezes an instance "
                "between invocations, so a buffered batch could wait indefinitely and be lost with it; "
                "run `python -m receivers.s3` for batches"
            )
        self._config = config
        self._store = store

    def handle(self, event: GatewayEvent) -> GatewayResponse:
        """Verify and store one delivery; 200 with the key, or the reason it was refused."""
        method = _request_method(event)
        if method is not None and method.upper() != "POST":
            return _reply(405, {"error": f"method must be POST, got {method}"})
        try:
            body_bytes = _request_body(event)
        except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
            return _reply(400, {"error": "body must be valid base64 when isBase64Encoded is true"})
        outcome = accept_delivery(self._config, body_bytes, _request_headers(event))
        if isinstance(outcome, Rejection):
            log.warning("rejected a delivery (%d): %s", outcome.status_code, outcome.message)
            return _reply(outcome.status_code, {"error": outcome.message})
        try:
            key = self._store.put_event(outcome)
        except (BotoCoreError, ClientError) as error:
            # 503 makes the sender retry later; the event is not lost.
            log.error("could not write event %s to S3: %s", outcome.event_id, error)
            return _reply(503, {"error": f"could not write to S3, retry later: {error}"})
        return _reply(200, {"stored": key})


@functools.cache
def default_receiver() -> LambdaReceiver:
    """The receiver configured from the environment, built once per Lambda instance."""
    config = load_config()
    return LambdaReceiver(config, S3Store.from_config(config))


def lambda_handler(event: GatewayEvent, context: object) -> GatewayResponse:
    """The Lambda entry point."""
    return default_receiver().handle(event)


def _request_method(event: GatewayEvent) -> str | None:
    method = event.get("httpMethod")  # REST API, payload v1
    if isinstance(method, str):
        return method
    request_context = event.get("requestContext")
    http = request_context.get("http") if isinstance(request_context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else None  # HTTP API, payload v2
    return method if isinstance(method, str) else None


def _request_headers(event: GatewayEvent) -> dict[str, str]:
    # v1 keeps the sender's spelling of header names, v2 lower-cases them; we compare lower-case.
    headers = event.get("headers")
    if not isinstance(headers, Mapping):
        return {}
    return {str(name).lower(): str(value) for name, value in headers.items() if value is not None}


def _request_body(event: GatewayEvent) -> bytes:
    body = event.get("body")
    if not isinstance(body, str):
        return b""
    if event.get("isBase64Encoded") is True:
        return base64.b64decode(body, validate=True)
    # API Gateway hands text bodies over as str; UTF-8 gives back the bytes that were sent.
    return body.encode()


def _reply(status_code: int, content: dict[str, str]) -> GatewayResponse:
    return {
        "statusCode": status_code,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(content),
        "isBase64Encoded": False,
    }


if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
    # Build during the Lambda init phase: a missing setting fails the cold start with its
    # message in the logs, and every invocation reuses the one S3 client.
    default_receiver()
