"""Shared by the S3 receiver tests: a real S3 API (moto's server on loopback), signing, a real HTTP server.

Holds no tests itself; the name keeps it among the files of the S3 receiver tests.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import uvicorn
from moto.server import ThreadedMotoServer
from starlette.types import ASGIApp

from receivers.s3.config import ReceiverConfig
from receivers.s3.verify import sign
from tests.support.polling import wait_until

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SECRET = "whsec-test-0123456789"
# 2023-01-19T10:34:07.947Z, the timestamp of the sample payload in docs/design.md.
TIMESTAMP_MS = 1674124447947


def use_fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials moto accepts, and nothing read from the developer's own AWS set-up."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 API server on 127.0.0.1 and a free port; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class Bucket:
    """A bucket of its own for one test, read back through the plain S3 API."""

    client: S3Client
    name: str
    endpoint_url: str

    @classmethod
    def create(cls, endpoint_url: str) -> Bucket:
        client = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
        name = f"audit-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        return cls(client, name, endpoint_url)

    def config(self, **overrides: Any) -> ReceiverConfig:
        """A receiver configuration writing to this bucket."""
        base = ReceiverConfig(bucket=self.name, secret=SECRET, endpoint_url=self.endpoint_url, region="us-east-1")
        return dataclasses.replace(base, **overrides)

    def object_keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def objects(self) -> dict[str, bytes]:
        return {key: self.read(key) for key in self.object_keys()}


def event_body(account: str = "acme", timestamp_ms: int = TIMESTAMP_MS, action: str = "stack.create") -> bytes:
    """A payload in the documented shape (docs/design.md), compact UTF-8 JSON as the service sends it."""
    payload = {
        "account": account,
        "action": action,
        "actor": "api::01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "context": {"mutation": "stackCreate"},
        "data": {"args": {"Name": "prod-ümlaut"}},
        "remoteIP": "203.0.113.7",
        "timestamp": timestamp_ms,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def new_event_id() -> str:
    return uuid.uuid4().hex.upper()[:26]


def delivery_headers(body_bytes: bytes, event_id: str, *, secret: str = SECRET, sha1: bool = True) -> dict[str, str]:
    """The headers the worker sends (docs/design.md, "Webhook payload"), signed with ``secret``."""
    headers = {
        "Content-Type": "application/json",
        "X-Signature-256": sign(secret, body_bytes, "sha256"),
        "X-Audit-Event-Id": event_id,
        "X-Audit-Delivery-Id": new_event_id(),
        "X-Audit-Attempt": "1",
    }
    if sha1:
        headers["X-Signature"] = sign(secret, body_bytes, "sha1")
    return headers


def loopback_socket() -> socket.socket:
    """A listening-ready socket bound to 127.0.0.1 on a port the OS picked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread (its lifespan included); yields the base URL."""
    sock = loopback_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
