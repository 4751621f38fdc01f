"""remoteIP of ingested events: canonical, refused when it is no address, the same on every call (cached)."""

from __future__ import annotations

import pytest

from api.audit.ingest import IncomingEvent, IngestLimits, validate_event
from api.errors import BadInput
from api.models import EventType

LIMITS = IngestLimits(now_ms=1_700_000_000_000, retention_days=30)


def remote_ip_of(address: str) -> str | None:
    incoming = IncomingEvent(
        action="stack.create", actor="github::alice", event_type=EventType.CREATE, remote_ip=address
    )
    return validate_event(incoming, LIMITS, recorder="api_key::k").remote_ip


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 2001:DB8:0:0::1 ", "2001:db8::1"),
        ("fe80::1%" + "zone" * 20, "fe80::1%" + "zone" * 20),  # longer than what is cached
    ],
)
def test_addresses_are_stored_in_their_canonical_form_every_time(sent: str, stored: str) -> None:
    assert [remote_ip_of(sent) for _ in range(3)] == [stored] * 3


@pytest.mark.parametrize("sent", ["999.1.1.1", "localhost", "", "1.2.3.4" + " " * 100 + "x", "x" * 100_000])
def test_what_is_no_address_is_refused_every_time_without_echoing_it_whole(sent: str) -> None:
    for _ in range(2):
        with pytest.raises(BadInput, match="remoteIP must be an IPv4 or IPv6 address") as refused:
            remote_ip_of(sent)
        assert len(str(refused.value)) < 200
