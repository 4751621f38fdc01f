"""What tells a POST of one JSON document from every other request to ``/graphql``, before any view runs.

Nearly every request the API answers is such a POST: Spacelift's provider, spacectl and the console
send one JSON object with a query string.  strawberry's HTTP view asks the same questions of each
of them the general way: the content type parsed through ``email.message``, the body read through
starlette's stream, and the result checked against a runtime-checkable ``Protocol`` (an
``isinstance`` that walks the class with ``inspect.getattr_static``).  Answering without them took
a fifth off the CPU of ``{ viewer { id } }`` in process.  ``GraphQLApp`` answers these POSTs itself, through the
same hooks strawberry's view calls (context, ``execute_single`` with every limit and refusal,
``process_result``, ``create_response``); everything else, a batch, a body that is not an object, a
query that is not a string, another content type, goes to strawberry's view as before, with the
body it already read handed over again (``replaying``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope
from strawberry.http import GraphQLRequestData

JSON_MEDIA_TYPE = b"application/json"


def is_json_post(scope: Scope) -> bool:
    """An HTTP POST whose body is declared ``application/json`` (parameters such as a charset allowed).

    Spelled exactly so: strawberry's view refuses ``Application/JSON`` and takes any media type that
    contains ``application/json``; those stay its own to answer, as they were."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip() == JSON_MEDIA_TYPE)
    return False


async def whole_body(receive: Receive) -> bytes:
    """The request's body, as starlette's ``Request.body()`` reads it (a client gone midway raises
    ``ClientDisconnect`` as there)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` whole once, then waits on the connection as ``receive`` does
    (for the disconnect a streaming answer listens for)."""
    given = False

    async def receive_again() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


def one_request(decoded: Any) -> GraphQLRequestData | None:
    """The request a decoded body makes when it is one plain operation, as strawberry's
    ``parse_http_body`` would read it; None for anything its checks would refuse or treat apart
    (a batch, a missing or non-string query, variables or extensions that are not objects)."""
    if not isinstance(decoded, dict):
        return None
    query, variables, extensions = decoded.get("query"), decoded.get("variables"), decoded.get("extensions")
    if not isinstance(query, str) or not query:
        return None
    if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None):
        return None
    return GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=decoded.get("operationName"),
        extensions=extensions,
        protocol="http",
    )
