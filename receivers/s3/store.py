"""S3 keys and writes.  One object per event, or one NDJSON object per batch."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from receivers.s3.config import ReceiverConfig
from receivers.s3.receive import ReceivedEvent

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

JSON_CONTENT_TYPE = "application/json"
NDJSON_CONTENT_TYPE = "application/x-ndjson"


def partition_prefix(prefix: str, account: str, date: str) -> str:
    """``prefix/account=<account>/date=<YYYY-MM-DD>/``: Hive-style, so Athena and Glue read it as columns."""
    head = f"{prefix}/" if prefix else ""
    return f"{head}account={account}/date={date}/"


def event_key(prefix: str, event: ReceivedEvent) -> str:
    """The key depends only on the event, so a redelivery overwrites instead of duplicating."""
    return f"{partition_prefix(prefix, event.account, event.date)}{event.timestamp_ms}-{event.event_id}.json"


def batch_key(prefix: str, first_event: ReceivedEvent) -> str:
    """A batch key never repeats: batches overlap in content after redeliveries, so none may overwrite another."""
    partition = partition_prefix(prefix, first_event.account, first_event.date)
    return f"{partition}batch-{first_event.timestamp_ms}-{secrets.token_hex(8)}.ndjson"


def ndjson_line(event: ReceivedEvent) -> bytes:
    """``{"eventId":"…","body":<body bytes as received>}`` and a newline.

    The body is spliced in unchanged, so it stays byte-identical inside the line.  NDJSON
    allows no raw newline in a line; a body with one (only possible as whitespace between
    JSON tokens) is re-serialized compactly, which keeps its meaning but not its bytes.
    """
    body_bytes = event.body_bytes
    if b"\n" in body_bytes or b"\r" in body_bytes:
        body_bytes = json.dumps(json.loads(body_bytes), ensure_ascii=False, separators=(",", ":")).encode()
    return b'{"eventId":"' + event.event_id.encode() + b'","body":' + body_bytes + b"}\n"


@dataclass(frozen=True)
class S3Store:
    """Writes to one bucket.  boto3 clients are thread-safe, so one store serves every request."""

    client: S3Client
    bucket: str
    prefix: str

    @classmethod
    def from_config(cls, config: ReceiverConfig) -> S3Store:
        """A client for the configured region and endpoint (an S3-compatible store when set)."""
        client = boto3.client(
            "s3",
            region_name=config.region,
            endpoint_url=config.endpoint_url,
            config=Config(retries={"mode": "standard"}, max_pool_connections=32),
        )
        return cls(client, config.bucket, config.prefix)

    def put_event(self, event: ReceivedEvent) -> str:
        """Write one event as its own object; returns the key."""
        key = event_key(self.prefix, event)
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=event.body_bytes,
            ContentType=JSON_CONTENT_TYPE,
            Metadata={"audit-event-id": event.event_id},
        )
        return key

    def put_batch(self, events: Sequence[ReceivedEvent]) -> str:
        """Write events of one account and day as one NDJSON object; returns the key."""
        key = batch_key(self.prefix, events[0])
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=b"".join(ndjson_line(event) for event in events),
            ContentType=NDJSON_CONTENT_TYPE,
        )
        return key
