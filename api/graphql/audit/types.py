"""GraphQL output types of the audit trail: entries, their connection, and search suggestions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import strawberry

from api.audit.actors import RECORDED_BY, split_actor
from api.audit.external_ids import EXTERNAL_ID
from api.audit.query import ORDERABLE_FIELDS, FieldKind
from api.audit.record import NewEvent
from api.audit.search import FieldValues, Page, StoredEvent, Suggestions
from api.graphql.audit.row_reads import PAGE_CONNECTION, context_text, event_type, recorded_ms
from api.graphql.pagination import PageInfo
from api.graphql.scalars import JSON
from api.models import AuditEvent, EventType

AuditTrailEventType = strawberry.enum(EventType, name="AuditTrailEventType")
SearchSuggestionsFieldType = strawberry.enum(FieldKind, name="SearchSuggestionsFieldType")


@strawberry.type
class AuditTrailActorRun:
    id: str
    stack_id: str


@strawberry.type
class AuditTrailActor:
    username: str = strawberry.field(description="The whole actor, `source::identity`.")
    source: str
    identity: str
    run: AuditTrailActorRun | None = strawberry.field(description="The run, for run state change events.")


@strawberry.type
class AuditTrailResource:
    resource_type: str
    resource_id: str | None


@strawberry.type
class AuditTrailEntry:
    id: strawberry.ID
    action: str
    event_type: AuditTrailEventType  # type: ignore[valid-type]  # strawberry enum wrapper
    run_state_change: bool = strawberry.field(description="A run's state changed (webhooks get it with includeRuns).")
    actor: AuditTrailActor
    affected_resource: AuditTrailResource | None
    related_resource: AuditTrailResource | None
    body: str = strawberry.field(description="The exact JSON payload a webhook receives for this event.")
    data: JSON
    context: JSON
    remote_ip: str | None = strawberry.field(name="remoteIP")
    recorded_by: str | None = strawberry.field(
        description="The key that recorded an event ingested from another service (`api::<key id>`, also"
        " `context.recordedBy` in the body); null for the service's own events."
    )
    recorded_at: float = strawberry.field(
        description="Milliseconds since the epoch: when the service recorded the event. An ingested event's"
        " `timestamp` is what its sender claims; this is the service's clock, also `context.recordedAt` in its body."
    )
    external_id: str | None = strawberry.field(
        description="The id the sender gave an ingested event (also `context.externalId` in the body), or null."
    )
    created_at: int = strawberry.field(description="Unix seconds.")
    updated_at: int = strawberry.field(description="Unix seconds; events never change, so equal to createdAt.")
    timestamp: float = strawberry.field(description="Milliseconds since the epoch.")

    @classmethod
    def from_event(cls, event: AuditEvent | NewEvent | StoredEvent) -> AuditTrailEntry:
        return _EventEntry(event)


class _WorkedOutOnRead:
    """Attributes a class works out when first read (``_later``: name to how), then keeps.  For entry
    and edge objects of which a page makes 50 and a client reads only some fields: ``__getattr__`` is
    called only for an attribute not set yet."""

    _later: ClassVar[dict[str, Callable[[Any], object]]] = {}

    def __getattr__(self, name: str) -> Any:
        work_out = type(self)._later.get(name)
        if work_out is None:
            raise AttributeError(name)
        value = work_out(self)
        setattr(self, name, value)
        return value


class _EventActor(_WorkedOutOnRead, AuditTrailActor):
    """An entry's actor.  ``source`` and ``identity`` are split from the username when first read:
    neither spacectl's page nor the console selects them, and splitting plus the keyword construction
    of the dataclass cost 0.8 µs an entry.  Not a GraphQL type of its own: the actor type's fields read it."""

    def __init__(self, username: str, run: AuditTrailActorRun | None) -> None:
        self.username = username
        self.run = run

    _later: ClassVar[dict[str, Callable[[Any], object]]] = {
        "source": lambda actor: split_actor(actor.username)[0],
        "identity": lambda actor: split_actor(actor.username)[1],
    }


class _EventResource(AuditTrailResource):
    """A resource of an entry, set positionally (a page makes up to 100; the dataclass's keyword
    ``__init__`` took half as long again).  Not a GraphQL type of its own."""

    def __init__(self, resource_type: str, resource_id: str | None) -> None:
        self.resource_type = resource_type
        self.resource_id = resource_id


def _resource(resource_type: str | None, resource_id: str | None) -> AuditTrailResource | None:
    return _EventResource(resource_type, resource_id) if resource_type else None


class _EventEntry(_WorkedOutOnRead, AuditTrailEntry):
    """The entry of a stored or new event.  Run for every entry of every page (50 a page), so the
    fields a page rarely selects are worked out when first read (``_later``): ``data`` and ``context``
    (a row decodes its JSON only then), ``recordedBy``, ``externalId`` and ``recordedAt``.  spacectl's
    page selects none of them.  ``body`` too: a page whose selection reads none of the three
    columns leaves them out of its statement (``entry_columns``), so nothing may read them eagerly;
    a row that holds its body gives it at once (a lazy read raises and catches an ``AttributeError``
    first, the costliest line of a page's completion in py-spy).
    Not a GraphQL type of its own: the entry type's fields read it."""

    def __init__(self, event: AuditEvent | NewEvent | StoredEvent) -> None:
        run = (
            AuditTrailActorRun(id=event.run_id, stack_id=event.run_stack_id)
            if event.run_id and event.run_stack_id
            else None
        )
        created = event.created_at.timestamp()  # each time read once, each enum by a dict
        self._event = event
        self.id = event.id  # type: ignore[assignment]  # strawberry.ID is a NewType: calling it returns the str
        self.action = event.action
        self.event_type = event_type(event.event_type)
        self.run_state_change = event.run_state_change
        self.actor = _EventActor(event.actor, run)
        self.affected_resource = _resource(event.affected_resource_type, event.affected_resource_id)
        self.related_resource = _resource(event.related_resource_type, event.related_resource_id)
        self.remote_ip = event.remote_ip
        self.created_at = self.updated_at = int(created)
        self.timestamp = float(round(created * 1000))
        body = getattr(event, "body_text", None)  # a row's column; None when its statement left it out
        if body is not None:
            self.body = body  # set here when read: worked out on read, it cost 2-4 µs an entry

    _later: ClassVar[dict[str, Callable[[Any], object]]] = {
        "body": lambda entry: entry._event.body,
        "data": lambda entry: JSON(entry._event.data),
        "context": lambda entry: JSON(entry._event.context),
        "recorded_by": lambda entry: context_text(entry._event.context, RECORDED_BY),
        "external_id": lambda entry: context_text(entry._event.context, EXTERNAL_ID),
        "recorded_at": lambda entry: recorded_ms(entry._event),
    }


@strawberry.type
class AuditTrailEntryEdge:
    cursor: str
    node: AuditTrailEntry


class _PageEdge(_WorkedOutOnRead, AuditTrailEntryEdge):
    """An edge of a search page, whose cursor is encoded only when read (about 3 µs an edge, and
    spacectl selects no edge cursor).  Not a GraphQL type of its own: the edge type's fields read it."""

    def __init__(self, page: Page, event: StoredEvent) -> None:
        self.node = _EventEntry(event)
        self._page = page
        self._event = event

    _later: ClassVar[dict[str, Callable[[Any], object]]] = {"cursor": lambda edge: edge._page.cursor(edge._event)}


@strawberry.type
class AuditTrailEntryConnection:
    edges: list[AuditTrailEntryEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page) -> AuditTrailEntryConnection:
        return _PageConnection(page)


class _PageConnection(_WorkedOutOnRead, AuditTrailEntryConnection):
    """A search page's connection.  The compiled completion reads its entries from the page's rows
    (``__compiled_reads__``, ``row_reads.py``), so its edges and their entries are made only when read
    (graphql-core's path: a selection the compiled completion does not take).  Not a GraphQL type of
    its own: the connection type's fields read it."""

    __compiled_reads__ = PAGE_CONNECTION

    def __init__(self, page: Page) -> None:
        self.page = page
        self.page_info = PageInfo(
            end_cursor=page.end_cursor,
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
        )

    _later: ClassVar[dict[str, Callable[[Any], object]]] = {
        "edges": lambda connection: [_PageEdge(connection.page, event) for event in connection.page.events]
    }


@strawberry.type
class SearchSuggestionsPossibleValues:
    """Parallel lists: ``counts[i]`` events have ``values[i]``; most frequent first, at most 50."""

    values: list[str]
    counts: list[int]


@strawberry.type
class SearchSuggestionsPossibleValuesBoolean:
    """Parallel lists: ``counts[i]`` events have ``values[i]``."""

    values: list[bool]
    counts: list[int]


@strawberry.type
class SearchSuggestionsField:
    name: str
    type: SearchSuggestionsFieldType  # type: ignore[valid-type]  # strawberry enum wrapper
    filterable: bool
    orderable: bool
    possible_values_string: SearchSuggestionsPossibleValues | None = strawberry.field(
        description="Values of a STRING field, with counts under the other predicates."
    )
    possible_values_enum: SearchSuggestionsPossibleValues | None = strawberry.field(
        description="Values of an ENUM field, with counts under the other predicates."
    )
    possible_values_boolean: SearchSuggestionsPossibleValuesBoolean | None = strawberry.field(
        description="Values of a BOOLEAN field, with counts under the other predicates."
    )

    @classmethod
    def from_values(cls, field: FieldValues) -> SearchSuggestionsField:
        values = SearchSuggestionsPossibleValues(values=field.values, counts=field.counts)
        return cls(
            name=field.name,
            type=field.kind,
            filterable=True,
            orderable=field.name in ORDERABLE_FIELDS,
            possible_values_string=values if field.kind is FieldKind.STRING else None,
            possible_values_enum=values if field.kind is FieldKind.ENUM else None,
            possible_values_boolean=SearchSuggestionsPossibleValuesBoolean(
                values=[value == "true" for value in field.values], counts=field.counts
            )
            if field.kind is FieldKind.BOOLEAN
            else None,
        )


@strawberry.type(
    description="How many entries match all filters, and per field its values with counts under the other filters."
)
class SearchSuggestionsOutput:
    """The filter sidebar: how many entries match everything, and per field its values with counts.

    A field's counts leave out that field's own predicates (and honour all the others), so the
    sidebar keeps showing the alternatives to what is selected.  TIME fields list no values.
    """

    filtered_count: int
    fields: list[SearchSuggestionsField]

    @classmethod
    def from_suggestions(cls, suggestions: Suggestions) -> SearchSuggestionsOutput:
        return cls(
            filtered_count=suggestions.filtered_count,
            fields=[SearchSuggestionsField.from_values(f) for f in suggestions.fields],
        )
