"""The S3 receiver as a Lambda behind API Gateway: REST API (v1) and HTTP API (v2) proxy events."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from receivers.s3 import handler
from receivers.s3.config import BatchSettings, ConfigError
from receivers.s3.handler import LambdaReceiver, lambda_handler
from receivers.s3.store import S3Store
from tests.s3.support import (
    SECRET,
    TIMESTAMP_MS,
    Bucket,
    delivery_headers,
    event_body,
    new_event_id,
)


@pytest.fixture
def lambda_receiver(bucket: Bucket) -> LambdaReceiver:
    config = bucket.config()
    return LambdaReceiver(config, S3Store.from_config(config))


EventBuilder = Callable[[bytes, dict[str, str]], dict[str, object]]


def rest_api_event(body: bytes, headers: dict[str, str], *, method: str = "POST") -> dict[str, object]:
    """A REST API (payload format 1.0) proxy event: header names as the sender spelled them, text body."""
    return {
        "resource": "/",
        "path": "/",
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"httpMethod": method, "path": "/prod/", "stage": "prod", "requestId": "c6af9ac6"},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def http_api_event(body: bytes, headers: dict[str, str], *, method: str = "POST") -> dict[str, object]:
    """An HTTP API (payload format 2.0) event: lower-case header names, base64 body."""
    return {
        "version": "2.0",
        "routeKey": "POST /",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": "JKJaXmPLvHcESHA=",
            "stage": "$default",
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def test_rest_api_event_is_written_byte_identical(bucket: Bucket, lambda_receiver: LambdaReceiver) -> None:
    body = event_body()
    event_id = new_event_id()
    response = lambda_receiver.handle(rest_api_event(body, delivery_headers(body, event_id)))
    key = f"audittrail/account=acme/date=2023-01-19/{TIMESTAMP_MS}-{event_id}.json"
    assert response["statusCode"] == 200
    assert json.loads(str(response["body"])) == {"stored": key}
    assert bucket.objects() == {key: body}


def test_http_api_event_with_base64_body_is_written_byte_identical(
    bucket: Bucket, lambda_receiver: LambdaReceiver
) -> None:
    body = event_body()
    event_id = new_event_id()
    response = lambda_receiver.handle(http_api_event(body, delivery_headers(body, event_id)))
    assert response["statusCode"] == 200
    assert bucket.objects() == {f"audittrail/account=acme/date=2023-01-19/{TIMESTAMP_MS}-{event_id}.json": body}


@pytest.mark.parametrize("make_event", [rest_api_event, http_api_event])
def test_bad_signature_is_401_and_nothing_is_written(
    bucket: Bucket, lambda_receiver: LambdaReceiver, make_event: EventBuilder
) -> None:
    body = event_body()
    headers = delivery_headers(body, new_event_id(), secret="not-the-webhook-secret")
    assert lambda_receiver.handle(make_event(body, headers))["statusCode"] == 401
    assert bucket.object_keys() == []


def test_missing_signature_is_401(bucket: Bucket, lambda_receiver: LambdaReceiver) -> None:
    body = event_body()
    response = lambda_receiver.handle(http_api_event(body, {"X-Audit-Event-Id": new_event_id()}))
    assert response["statusCode"] == 401
    assert bucket.object_keys() == []


def test_non_json_body_is_400(bucket: Bucket, lambda_receiver: LambdaReceiver) -> None:
    body = b"<event/>"
    response = lambda_receiver.handle(rest_api_event(body, delivery_headers(body, new_event_id())))
    assert response["statusCode"] == 400
    assert bucket.object_keys() == []


def test_body_marked_base64_that_is_not_is_400(bucket: Bucket, lambda_receiver: LambdaReceiver) -> None:
    body = event_body()
    event = {**http_api_event(body, delivery_headers(body, new_event_id())), "body": "not base64!"}
    assert lambda_receiver.handle(event)["statusCode"] == 400
    assert bucket.object_keys() == []


def test_other_methods_are_405(bucket: Bucket, lambda_receiver: LambdaReceiver) -> None:
    body = event_body()
    headers = delivery_headers(body, new_event_id())
    assert lambda_receiver.handle(rest_api_event(body, headers, method="GET"))["statusCode"] == 405
    assert lambda_receiver.handle(http_api_event(body, headers, method="PUT"))["statusCode"] == 405
    assert bucket.object_keys() == []


def test_redelivery_overwrites_the_same_object(bucket: Bucket, lambda_receiver: LambdaReceiver) -> None:
    body = event_body()
    event_id = new_event_id()
    first = lambda_receiver.handle(rest_api_event(body, delivery_headers(body, event_id)))
    again = lambda_receiver.handle(http_api_event(body, delivery_headers(body, event_id)))
    assert first["body"] == again["body"]
    assert len(bucket.object_keys()) == 1


def test_lambda_handler_reads_its_configuration_from_the_environment(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITTRAIL_S3_BUCKET", bucket.name)
    monkeypatch.setenv("AUDITTRAIL_S3_SECRET", SECRET)
    monkeypatch.setenv("AUDITTRAIL_S3_ENDPOINT_URL", bucket.endpoint_url)
    monkeypatch.setenv("AUDITTRAIL_S3_PREFIX", "lambda")
    handler.default_receiver.cache_clear()
    body = event_body()
    event_id = new_event_id()
    try:
        response = lambda_handler(http_api_event(body, delivery_headers(body, event_id)), object())
    finally:
        handler.default_receiver.cache_clear()
    assert response["statusCode"] == 200
    assert bucket.objects() == {f"lambda/account=acme/date=2023-01-19/{TIMESTAMP_MS}-{event_id}.json": body}


def test_lambda_refuses_batch_mode(bucket: Bucket) -> None:
    config = bucket.config(mode="ndjson", batch=BatchSettings())
    with pytest.raises(ConfigError, match="AUDITTRAIL_S3_MODE must be object in Lambda"):
        LambdaReceiver(config, S3Store.from_config(config))
