"""A search page's entries read straight from its rows by the compiled completion.

``_EventEntry`` (``types.py``) works out an entry's fields from its event.  A page of 50 made 50
edges, entries, actors and resources (and runs) only for the compiled completion to read them back
into the answer's dicts: about 100 µs of a filtered page's 1.5 ms of CPU in process, where one pass
from rows to dicts took half of that (timeit).  These tables say where each attribute of the entry
types is read from a row (``EventRow``) instead; the compiled completion writes those reads into
its function (``ReadsFrom``): the same values, without the objects.

They are a second definition of the entry's fields, kept beside the first on purpose: the
non-trivial ones (event type, recording time, the context's keys, milliseconds) are functions here
that ``_EventEntry`` calls too, and ``tests/test_compiled_entries.py`` holds every field of every
selection it generates (aliases, fragments, directives) to the plain executor's answers, on rows
of every shape.  A field added to the entry types and not here is answered through the entries as
before (a selection the table does not cover is not written from rows).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from api.audit.actors import RECORDED_BY, split_actor
from api.audit.external_ids import EXTERNAL_ID
from api.graphql.compiled_completion import ReadsFrom
from api.graphql.scalars import JSON
from api.models import EventType

EVENT_TYPES: dict[str, EventType] = {event_type.value: event_type for event_type in EventType}


class Recorded(Protocol):
    """What ``recorded_ms`` reads: a row, a stored event or a new one."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def recorded_at(self) -> datetime | None: ...


def event_type(value: str) -> EventType:
    """An event's type by a dict, not the enum's call (once an entry)."""
    return EVENT_TYPES.get(value) or EventType(value)


def epoch_ms(moment: datetime) -> float:
    """Milliseconds since the epoch, as the entry types answer their times."""
    return float(round(moment.timestamp() * 1000))


def recorded_ms(event: Recorded) -> float:
    """When the service recorded the event; rows older than migration 0005 have no recording time: they were
    recorded as created."""
    recorded_at, created_at = event.recorded_at, event.created_at
    return epoch_ms(created_at if recorded_at is None or recorded_at == created_at else recorded_at)


def context_text(context: object, key: str) -> str | None:
    """A key the service writes into an ingested event's ``context`` (ingestion refuses them from senders)."""
    value = context.get(key) if isinstance(context, dict) else None
    return value if isinstance(value, str) else None


_RUN = ReadsFrom({"id": ("{value}.run_id", None), "stack_id": ("{value}.run_stack_id", None)})
_ACTOR = ReadsFrom(
    {
        "username": ("{value}.actor", None),
        "source": ("_split_actor({value}.actor)[0]", None),
        "identity": ("_split_actor({value}.actor)[1]", None),
        "run": ("{value} if {value}.run_id and {value}.run_stack_id else None", _RUN),
    },
    {"_split_actor": split_actor},
)


def _resource_reads(kind: str) -> ReadsFrom:
    """The reads of the ``kind`` resource (affected or related), from the row's own columns."""
    return ReadsFrom(
        {
            "resource_type": (f"{{value}}.{kind}_resource_type", None),
            "resource_id": (f"{{value}}.{kind}_resource_id", None),
        }
    )


_ENTRY = ReadsFrom(
    {
        "id": ("{value}.id", None),
        "action": ("{value}.action", None),
        "event_type": ("_event_type({value}.event_type)", None),
        "run_state_change": ("{value}.run_state_change", None),
        "actor": ("{value}", _ACTOR),
        "affected_resource": ("{value} if {value}.affected_resource_type else None", _resource_reads("affected")),
        "related_resource": ("{value} if {value}.related_resource_type else None", _resource_reads("related")),
        "body": ("{value}.body", None),
        "data": ("_json({value}.data)", None),
        "context": ("_json({value}.context)", None),
        "remote_ip": ("{value}.remote_ip", None),
        "recorded_by": ("_context_text({value}.context, _recorded_by)", None),
        "external_id": ("_context_text({value}.context, _external_id)", None),
        "recorded_at": ("_recorded_ms({value})", None),
        # The same expression twice: read once (``_SourceWriter``).
        "created_at": ("int({value}.created_at.timestamp())", None),
        "updated_at": ("int({value}.created_at.timestamp())", None),
        "timestamp": ("_epoch_ms({value}.created_at)", None),
    },
    {
        "_event_type": event_type,
        "_json": JSON,
        "_context_text": context_text,
        "_recorded_by": RECORDED_BY,
        "_external_id": EXTERNAL_ID,
        "_recorded_ms": recorded_ms,
        "_epoch_ms": epoch_ms,
    },
)
_EDGE = ReadsFrom({"cursor": ("{top}.page.cursor({value})", None), "node": ("{value}", _ENTRY)})

PAGE_CONNECTION = ReadsFrom({"edges": ("{value}.page.events", _EDGE), "page_info": ("{value}.page_info", None)})
"""A search page's connection (``types._PageConnection``): its edges are its page's rows, each its own entry."""
