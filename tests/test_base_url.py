"""A token's audience is the base URL the request reached: kept per scheme, Host and server, it must
be exactly what starlette's ``request.url`` gives, whichever request came before."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from api.graphql.context import base_url


def scope(scheme: str, host: bytes | None, server: tuple[str, int] | None) -> dict[str, Any]:
    headers = [(b"user-agent", b"test")] + ([(b"host", host)] if host is not None else [])
    return {"type": "http", "scheme": scheme, "path": "/graphql", "query_string": b"", "headers": headers,
            "server": server, "root_path": ""}  # fmt: skip


def from_starlette(request: HTTPConnection) -> str:
    url = request.url
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    return f"{scheme}://{url.netloc}"


HOSTS = (b"audit.example", b"audit.example:8443", b"other.example", b"[::1]:8000", b"evil/x?y#z", b"a:notaport", b"")
SCOPES = [
    scope(scheme, host, server)
    for scheme in ("http", "https", "ws", "wss")
    for host in (*HOSTS, None)
    for server in (("10.0.0.1", 80), ("10.0.0.1", 443), ("::1", 8000), None)
]


def test_each_base_url_is_starlettes_whatever_came_before() -> None:
    expected = [from_starlette(HTTPConnection(each)) for each in SCOPES]
    assert len(set(expected)) > 10  # the cases differ, so a value kept for another key would show
    for _ in range(2):  # first made, then kept (the cache holds 64 of the 128: some are made again)
        assert [base_url(HTTPConnection(each)) for each in SCOPES] == expected
        assert [base_url(HTTPConnection(each)) for each in reversed(SCOPES)] == expected[::-1]


def test_a_server_address_given_as_a_list_is_read_as_starlette_reads_it() -> None:
    """The ASGI spec makes ``server`` an iterable: a list must neither fail as a key nor differ from a tuple."""
    listed = scope("http", None, ("10.0.0.7", 8080))
    listed["server"] = ["10.0.0.7", 8080]
    assert base_url(HTTPConnection(listed)) == from_starlette(HTTPConnection(listed)) == "http://10.0.0.7:8080"


def test_a_websocket_has_the_base_url_of_http() -> None:
    assert base_url(HTTPConnection(scope("wss", b"audit.example", None))) == "https://audit.example"
    assert base_url(HTTPConnection(scope("ws", b"audit.example:8000", None))) == "http://audit.example:8000"
