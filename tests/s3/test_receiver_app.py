"""The S3 reference receiver as a starlette app, against moto's S3 API server on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from receivers.s3.app import create_app
from receivers.s3.config import BatchSettings, ConfigError, ReceiverConfig, load_config
from receivers.s3.verify import sign
from tests.s3.support import (
    SECRET,
    Bucket,
    delivery_headers,
    event_body,
    loopback_socket,
    new_event_id,
)
from tests.support.polling import poll, wait_until


@asynccontextmanager
async def s3_receiver(config: ReceiverConfig) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, driven over HTTP by httpx; leaving runs its shutdown."""
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client


async def test_signed_event_is_written_byte_identical_under_account_and_date(bucket: Bucket) -> None:
    body = b'{"account": "acme",  "action": "stack.create", "note": "caf\xc3\xa9", "timestamp": 1674124447947}'
    event_id = new_event_id()
    async with s3_receiver(bucket.config(prefix="audit/prod")) as client:
        response = await client.post("/", content=body, headers=delivery_headers(body, event_id))
    key = f"audit/prod/account=acme/date=2023-01-19/1674124447947-{event_id}.json"
    assert response.status_code == 200
    assert response.json() == {"stored": key}
    assert bucket.objects() == {key: body}
    assert bucket.client.head_object(Bucket=bucket.name, Key=key)["ContentType"] == "application/json"


async def test_date_is_the_utc_day_of_the_timestamp(bucket: Bucket) -> None:
    # 2024-02-29T23:59:59.999Z: the last millisecond of a UTC day, whatever the local zone.
    body = event_body(timestamp_ms=1709251199999)
    event_id = new_event_id()
    async with s3_receiver(bucket.config()) as client:
        await client.post("/", content=body, headers=delivery_headers(body, event_id))
    assert bucket.object_keys() == [f"audittrail/account=acme/date=2024-02-29/1709251199999-{event_id}.json"]


async def test_bad_signature_is_401_and_nothing_is_written(bucket: Bucket) -> None:
    body = event_body()
    headers = delivery_headers(body, new_event_id(), secret="not-the-webhook-secret")
    async with s3_receiver(bucket.config()) as client:
        response = await client.post("/", content=body, headers=headers)
    assert response.status_code == 401
    assert "does not match" in response.json()["error"]
    assert bucket.object_keys() == []


async def test_signature_over_other_bytes_is_401(bucket: Bucket) -> None:
    body = event_body()
    headers = delivery_headers(body, new_event_id())
    async with s3_receiver(bucket.config()) as client:
        response = await client.post("/", content=body + b" ", headers=headers)
    assert response.status_code == 401
    assert bucket.object_keys() == []


async def test_missing_signature_is_401_and_nothing_is_written(bucket: Bucket) -> None:
    body = event_body()
    headers = {"Content-Type": "application/json", "X-Audit-Event-Id": new_event_id()}
    async with s3_receiver(bucket.config()) as client:
        response = await client.post("/", content=body, headers=headers)
    assert response.status_code == 401
    assert "X-Signature-256: sha256=" in response.json()["error"]
    assert bucket.object_keys() == []


async def test_signed_body_that_is_not_json_is_400(bucket: Bucket) -> None:
    body = b"account=acme&timestamp=1674124447947"
    async with s3_receiver(bucket.config()) as client:
        response = await client.post("/", content=body, headers=delivery_headers(body, new_event_id()))
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]
    assert bucket.object_keys() == []


@pytest.mark.parametrize(
    ("body", "event_id", "complaint"),
    [
        (b"[1, 2]", "01EVENT", "JSON object"),
        (event_body(), "", "X-Audit-Event-Id"),
        (event_body(), "../../escape", "X-Audit-Event-Id"),
        (event_body(account="../Other"), "01EVENT", "'account'"),
        (b'{"account": "acme"}', "01EVENT", "'timestamp'"),
        (b'{"account": "acme", "timestamp": "yesterday"}', "01EVENT", "'timestamp'"),
        (b'{"account": "acme", "timestamp": 1e30}', "01EVENT", "'timestamp'"),
    ],
)
async def test_signed_event_without_what_the_key_needs_is_400(
    bucket: Bucket, body: bytes, event_id: str, complaint: str
) -> None:
    headers = delivery_headers(body, event_id)
    async with s3_receiver(bucket.config()) as client:
        response = await client.post("/", content=body, headers=headers)
    assert response.status_code == 400
    assert complaint in response.json()["error"]
    assert bucket.object_keys() == []


async def test_sha1_signature_alone_is_401_unless_the_fallback_is_configured(bucket: Bucket) -> None:
    body = event_body()
    headers = {"X-Signature": sign(SECRET, body, "sha1"), "X-Audit-Event-Id": new_event_id()}
    async with s3_receiver(bucket.config()) as client:
        response = await client.post("/", content=body, headers=headers)
    assert response.status_code == 401
    assert bucket.object_keys() == []


async def test_sha1_signature_alone_is_accepted_when_the_fallback_is_configured(bucket: Bucket) -> None:
    body = event_body()
    headers = {"X-Signature": sign(SECRET, body, "sha1"), "X-Audit-Event-Id": new_event_id()}
    async with s3_receiver(bucket.config(allow_sha1=True)) as client:
        response = await client.post("/", content=body, headers=headers)
    assert response.status_code == 200
    assert list(bucket.objects().values()) == [body]


async def test_wrong_sha256_is_not_rescued_by_a_valid_sha1(bucket: Bucket) -> None:
    body = event_body()
    headers = {
        "X-Signature-256": sign("not-the-webhook-secret", body, "sha256"),
        "X-Signature": sign(SECRET, body, "sha1"),
        "X-Audit-Event-Id": new_event_id(),
    }
    async with s3_receiver(bucket.config(allow_sha1=True)) as client:
        response = await client.post("/", content=body, headers=headers)
    assert response.status_code == 401
    assert bucket.object_keys() == []


async def test_redelivery_overwrites_the_same_object(bucket: Bucket) -> None:
    body = event_body()
    event_id = new_event_id()
    async with s3_receiver(bucket.config()) as client:
        first = await client.post("/", content=body, headers=delivery_headers(body, event_id))
        again = await client.post(
            "/", content=body, headers={**delivery_headers(body, event_id), "X-Audit-Attempt": "2"}
        )
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert bucket.objects() == {first.json()["stored"]: body}


async def test_body_over_the_limit_is_413(bucket: Bucket) -> None:
    body = event_body(action="x" * 2000)
    async with s3_receiver(bucket.config(max_body_bytes=1000)) as client:
        response = await client.post("/", content=body, headers=delivery_headers(body, new_event_id()))
    assert response.status_code == 413
    assert bucket.object_keys() == []


async def test_failed_write_is_503_so_the_sender_retries(bucket: Bucket) -> None:
    body = event_body()
    async with s3_receiver(bucket.config(bucket="no-such-bucket-here")) as client:
        response = await client.post("/", content=body, headers=delivery_headers(body, new_event_id()))
    assert response.status_code == 503
    assert "retry later" in response.json()["error"]


async def test_batch_is_one_ndjson_object_once_max_events_arrive(bucket: Bucket) -> None:
    bodies = {new_event_id(): event_body(action=f"stack.update.{n}") for n in range(3)}
    async with s3_receiver(bucket.config(mode="ndjson", batch=BatchSettings(max_events=3, max_seconds=3600))) as client:
        responses = await asyncio.gather(
            *(
                client.post("/", content=body, headers=delivery_headers(body, event_id))
                for event_id, body in bodies.items()
            )
        )
    assert [response.status_code for response in responses] == [200, 200, 200]
    [key] = bucket.object_keys()
    assert {response.json()["stored"] for response in responses} == {key}
    assert key.startswith("audittrail/account=acme/date=2023-01-19/batch-1674124447947-")
    assert key.endswith(".ndjson")
    ndjson = bucket.read(key)
    lines = ndjson.splitlines()
    assert len(lines) == 3
    assert {json.loads(line)["eventId"]: json.loads(line)["body"] for line in lines} == {
        event_id: json.loads(body) for event_id, body in bodies.items()
    }
    for event_id, body in bodies.items():
        assert b'{"eventId":"' + event_id.encode() + b'","body":' + body + b"}\n" in ndjson


async def test_batch_is_written_after_max_seconds(bucket: Bucket) -> None:
    body = event_body()
    async with s3_receiver(
        bucket.config(mode="ndjson", batch=BatchSettings(max_events=100, max_seconds=0.2, ack="buffered"))
    ) as client:
        response = await client.post("/", content=body, headers=delivery_headers(body, new_event_id()))
        assert response.status_code == 202
        await poll(lambda: len(bucket.object_keys()) == 1, timeout=10, what="the batch to be written")


async def test_flushed_ack_answers_only_once_the_batch_is_in_s3(bucket: Bucket) -> None:
    body = event_body()
    config = bucket.config(mode="ndjson", batch=BatchSettings(max_events=100, max_seconds=0.2, ack="flushed"))
    async with s3_receiver(config) as client:
        response = await client.post("/", content=body, headers=delivery_headers(body, new_event_id()))
        assert response.status_code == 200
        assert bucket.object_keys() == [response.json()["stored"]]


async def test_pretty_printed_body_stays_one_ndjson_line(bucket: Bucket) -> None:
    body = json.dumps(json.loads(event_body()), indent=2, ensure_ascii=False).encode()
    event_id = new_event_id()
    config = bucket.config(mode="ndjson", batch=BatchSettings(max_events=1))
    async with s3_receiver(config) as client:
        response = await client.post("/", content=body, headers=delivery_headers(body, event_id))
    [line] = bucket.read(response.json()["stored"]).splitlines()
    assert json.loads(line) == {"eventId": event_id, "body": json.loads(body)}


async def test_buffered_batch_is_written_on_shutdown(bucket: Bucket) -> None:
    bodies = [event_body(action=f"stack.delete.{n}") for n in range(2)]
    async with s3_receiver(
        bucket.config(mode="ndjson", batch=BatchSettings(max_events=100, max_seconds=3600, ack="buffered"))
    ) as client:
        for body in bodies:
            response = await client.post("/", content=body, headers=delivery_headers(body, new_event_id()))
            assert response.status_code == 202
        assert bucket.object_keys() == []
    [ndjson] = bucket.objects().values()
    assert [json.loads(line)["body"] for line in ndjson.splitlines()] == [json.loads(body) for body in bodies]


async def test_batches_are_split_by_account_and_day(bucket: Bucket) -> None:
    bodies = [
        event_body(account="acme", timestamp_ms=1674124447947),
        event_body(account="acme", timestamp_ms=1674124447947 + 86_400_000),
        event_body(account="globex", timestamp_ms=1674124447947),
    ]
    async with s3_receiver(
        bucket.config(mode="ndjson", batch=BatchSettings(max_events=100, max_seconds=3600, ack="buffered"))
    ) as client:
        for body in bodies:
            await client.post("/", content=body, headers=delivery_headers(body, new_event_id()))
    prefixes = sorted(key.rsplit("/", 1)[0] for key in bucket.object_keys())
    assert prefixes == [
        "audittrail/account=acme/date=2023-01-19",
        "audittrail/account=acme/date=2023-01-20",
        "audittrail/account=globex/date=2023-01-19",
    ]


async def test_failed_batch_write_is_503_for_every_delivery_in_it(bucket: Bucket) -> None:
    config = bucket.config(
        bucket="no-such-bucket-here", mode="ndjson", batch=BatchSettings(max_events=2, max_seconds=3600)
    )
    bodies = [event_body(action=f"a.{n}") for n in range(2)]
    async with s3_receiver(config) as client:
        responses = await asyncio.gather(
            *(client.post("/", content=body, headers=delivery_headers(body, new_event_id())) for body in bodies)
        )
    assert [response.status_code for response in responses] == [503, 503]


def test_missing_bucket_and_secret_are_reported_together() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"AUDITTRAIL_S3_PREFIX": "audit"})
    assert "AUDITTRAIL_S3_BUCKET is required" in str(raised.value)
    assert "AUDITTRAIL_S3_SECRET is required" in str(raised.value)


def test_invalid_values_say_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(
            {
                "AUDITTRAIL_S3_BUCKET": "b",
                "AUDITTRAIL_S3_SECRET": "s",
                "AUDITTRAIL_S3_MODE": "parquet",
                "AUDITTRAIL_S3_ALLOW_SHA1": "maybe",
                "AUDITTRAIL_S3_BATCH_MAX_EVENTS": "0",
            }
        )
    message = str(raised.value)
    assert "AUDITTRAIL_S3_MODE must be object (one S3 object per event) or ndjson (batches), got 'parquet'" in message
    assert "AUDITTRAIL_S3_ALLOW_SHA1 must be true or false" in message
    assert "AUDITTRAIL_S3_BATCH_MAX_EVENTS must be a whole number of at least 1, got '0'" in message


def test_full_configuration_is_read_from_the_environment() -> None:
    config = load_config(
        {
            "AUDITTRAIL_S3_BUCKET": "audit-bucket",
            "AUDITTRAIL_S3_SECRET": "whsec",
            "AUDITTRAIL_S3_PREFIX": "/logs/audit/",
            "AUDITTRAIL_S3_REGION": "eu-west-1",
            "AUDITTRAIL_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AUDITTRAIL_S3_ALLOW_SHA1": "yes",
            "AUDITTRAIL_S3_MODE": "ndjson",
            "AUDITTRAIL_S3_BATCH_MAX_EVENTS": "50",
            "AUDITTRAIL_S3_BATCH_MAX_BYTES": "65536",
            "AUDITTRAIL_S3_BATCH_MAX_SECONDS": "2.5",
            "AUDITTRAIL_S3_BATCH_ACK": "buffered",
        }
    )
    assert config == ReceiverConfig(
        bucket="audit-bucket",
        secret="whsec",
        prefix="logs/audit",
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:9000",
        allow_sha1=True,
        mode="ndjson",
        batch=BatchSettings(max_events=50, max_bytes=65536, max_seconds=2.5, ack="buffered"),
    )
    assert "whsec" not in repr(config)


def test_command_exits_2_with_the_reason_when_bucket_is_missing() -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AUDITTRAIL_S3_")}
    result = subprocess.run(
        [sys.executable, "-m", "receivers.s3"], env=environment, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "AUDITTRAIL_S3_BUCKET is required" in result.stderr


def test_command_serves_the_receiver_over_http(bucket: Bucket) -> None:
    sock = loopback_socket()
    port = sock.getsockname()[1]
    sock.close()  # uvicorn binds the port itself; the OS will not hand it out again this quickly
    environment = {
        **os.environ,
        "AUDITTRAIL_S3_BUCKET": bucket.name,
        "AUDITTRAIL_S3_SECRET": SECRET,
        "AUDITTRAIL_S3_ENDPOINT_URL": bucket.endpoint_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "receivers.s3", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _is_healthy(base_url), timeout=30, what="the receiver to answer /healthz")
        body = event_body()
        response = httpx.post(base_url, content=body, headers=delivery_headers(body, new_event_id()))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert response.status_code == 200
    assert bucket.objects() == {response.json()["stored"]: body}


def _is_healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz").status_code == 200
    except httpx.TransportError:
        return False
