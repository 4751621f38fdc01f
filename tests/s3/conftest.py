"""S3 fixtures shared by the receiver tests: moto's server on loopback and a fresh bucket per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3.support import Bucket, moto_s3, use_fake_aws_credentials


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    use_fake_aws_credentials(monkeypatch)
    return Bucket.create(s3_endpoint)
