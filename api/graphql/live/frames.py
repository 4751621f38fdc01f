"""Shared ``next`` frames: an event's payload executed and encoded once per selection, not per subscriber.

strawberry sends each subscription result through its own stream: graphql-core executes the
selection on the entry, the extensions run their hooks, the message is encoded, for every event
and every subscriber (about 1 ms of CPU each; 50 subscribers at 500 events/s is 25 s a second).
Subscribers of one account that sent the same document and variables want the same bytes: the
first to take an event executes it exactly as graphql-core's per-event step does (the
subscription's own executor, ``build_per_event_executor``, our executor class) and keeps the
encoded payload; the others splice it into their own frame.  The result is sent only when it
matches what strawberry would send: no errors, the view's orjson encoding.  Anything else goes
the plain way (the resolver yields the entry), so a result with errors still gets its codes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

import orjson
from graphql import DocumentNode, ExecutionResult, GraphQLResolveInfo
from graphql.execution import Executor

from api.graphql.audit.types import AuditTrailEntry
from api.graphql.compiled_completion import CompiledCompletionContext
from api.observability import count_live_entry_sent
from api.observability.metrics import LiveSendPath


@dataclass(frozen=True)
class Selection:
    """What one subscription asked for; subscribers with equal selections get equal payloads.

    No role or token is part of it: ``AuditTrailEntry``'s fields are the event's plain data, the
    same for every reader of the account.  A field whose value depended on the subscriber would
    have to add what it depends on here.
    """

    account_id: str
    query: str
    variables_json: bytes
    operation_name: str | None


@dataclass(frozen=True)
class Outlet:
    """The websocket operation a subscription writes its frames to, set by the transport for the
    operation's task (``outlet``): the resolver cannot otherwise learn its operation id."""

    operation_id: str
    query: str
    variables: Mapping[str, object] | None
    operation_name: str | None
    encode_json: Callable[[object], str | bytes]
    send_text: Callable[[str], Awaitable[None]]
    is_completed: Callable[[], bool]


outlet: ContextVar[Outlet | None] = ContextVar("live_outlet", default=None)


class SharedPayloads:
    """The encoded ``{"data": ...}`` of recent (event, selection) pairs, at most ``size`` of them."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._payloads: OrderedDict[tuple[str, Selection], bytes] = OrderedDict()

    def get(self, event_id: str, selection: Selection) -> bytes | None:
        return self._payloads.get((event_id, selection))

    def put(self, event_id: str, selection: Selection, payload: bytes) -> None:
        self._payloads[(event_id, selection)] = payload
        if len(self._payloads) > self._size:
            self._payloads.popitem(last=False)


_shared = SharedPayloads(2048)


class FrameWriter:
    """One subscription's direct path: renders (or reuses) an entry's payload and sends its frame."""

    def __init__(self, target: Outlet, info: GraphQLResolveInfo[Any], account_id: str) -> None:
        self._target = target
        self._info = info
        variables_json = orjson.dumps(target.variables or {}, option=orjson.OPT_SORT_KEYS)
        self._selection = Selection(account_id, target.query, variables_json, target.operation_name)
        self._frame_start = b'{"id":' + orjson.dumps(target.operation_id) + b',"type":"next","payload":'
        self._executor: Executor[Any] | None = None

    async def send(self, entry: AuditTrailEntry) -> bool:
        """Send ``entry``'s frame; False when it must go the plain way (the resolver yields it)."""
        payload = _shared.get(entry.id, self._selection)
        how: LiveSendPath = "shared"
        if payload is None:
            payload = await self._render(entry)
            if payload is None:
                return False
            _shared.put(entry.id, self._selection, payload)
            how = "executed"
        if not self._target.is_completed():
            await self._target.send_text((self._frame_start + payload + b"}").decode())
            count_live_entry_sent(how)
        return True

    async def _render(self, entry: AuditTrailEntry) -> bytes | None:
        result = self._executor_for_events().build_per_event_executor(entry).execute_operation(False)
        if isawaitable(result):
            result = await result
        if not isinstance(result, ExecutionResult) or result.errors:
            return None
        encoded = self._target.encode_json({"data": result.data})
        # The view falls back to the standard encoder (other separators) for what orjson refuses.
        return encoded if isinstance(encoded, bytes) else None

    def _executor_for_events(self) -> Executor[Any]:
        if self._executor is None:
            info = self._info
            document = DocumentNode(definitions=(info.operation, *info.fragments.values()))
            # The executor class the schema runs every operation with, as graphql-core's own per-event step.
            built = CompiledCompletionContext.build(
                info.schema,
                document,
                context_value=info.context,
                raw_variable_values=dict(self._target.variables or {}),
                operation_name=self._target.operation_name,
            )
            if not isinstance(built, Executor):  # the subscription was built from these same values
                raise RuntimeError(f"the live subscription's document no longer builds: {built}")
            self._executor = built
        return self._executor
