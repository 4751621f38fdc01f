"""The requests of ``bench.read``: each case as ours, PostGraphile and the floor ask it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from api.audit.search import created_at_of
from bench.search import ENTRY_FIELDS, SUGGESTIONS

# spacectl's `audittrail list` (tests/test_spacelift_clients.py), with the page size as a variable.
SPACECTL_LIST = (
    "query($input:SearchInput!){searchAuditTrailEntries(input: $input){edges{node{id,action,"
    "actor{run{id,stackId},username},affectedResource{resourceId,resourceType},body,eventType,"
    "relatedResource{resourceId,resourceType},createdAt,updatedAt}},pageInfo{endCursor,hasNextPage,hasPreviousPage}}}"
)
# The same columns from PostGraphile's view (it has no nested actor or resource objects; the
# column ``id`` is ``rowId``, PostGraphile's ``id`` being its global node id).
PGL_PAGE_FIELDS = (
    "rowId action actor runId runStackId affectedResourceId affectedResourceType body eventType "
    "relatedResourceId relatedResourceType createdAt"
)
PGL_LIST = f"""query($account: String!, $first: Int!, $since: Datetime, $action: String) {{
  allEntries(first: $first, orderBy: [CREATED_AT_DESC, ROW_ID_DESC],
             condition: {{accountId: $account, action: $action, createdSince: $since}}) {{
    edges {{ node {{ {PGL_PAGE_FIELDS} }} }} pageInfo {{ endCursor hasNextPage hasPreviousPage }} }} }}"""
PGL_ENTRY = """query($account: String!, $id: String!) {
  allEntries(first: 1, condition: {accountId: $account, rowId: $id}) { nodes {
    rowId action eventType actor runId runStackId affectedResourceType affectedResourceId relatedResourceType
    relatedResourceId body data context remoteIp createdAt } } }"""
PGL_SUGGESTIONS = "query($account: String!, $since: Datetime!) { actionSuggestions(account: $account, since: $since) }"
FLOOR_COLUMNS = (
    "id, action, actor, run_id, run_stack_id, affected_resource_id, affected_resource_type, body, event_type, "
    "related_resource_id, related_resource_type, created_at"
)
FLOOR_ALL_COLUMNS = f"{FLOOR_COLUMNS}, data, context, remote_ip"
NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"
ENTRY = f"query($id: ID!) {{ auditTrailEntry(id: $id) {{ {ENTRY_FIELDS} }} }}"


@dataclass
class Figures:
    """What one system did for one case."""

    latencies_ms: list[float] = field(default_factory=list)
    lean_latencies_ms: list[float] = field(default_factory=list)
    """One at a time through ``bench.lean_http``, for cases with a p50 goal in ms (``Case.goal_p50_ms``)."""
    warming_ms: list[float] = field(default_factory=list)
    """The first requests of the case, left out of the latencies: the server meets its statement then."""
    requests: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    postgres_cpu_seconds: float = 0.0
    """PostgreSQL's query processes over the throughput runs: the server's statements' cost."""
    client_cpu_seconds: float = 0.0
    """The bench's own process (the 8 clients) over the throughput runs: it shares the two cores."""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        return self.per_request_ms(self.cpu_seconds)

    @property
    def postgres_cpu_ms_per_request(self) -> float:
        return self.per_request_ms(self.postgres_cpu_seconds)

    @property
    def client_cpu_ms_per_request(self) -> float:
        return self.per_request_ms(self.client_cpu_seconds)

    def per_request_ms(self, seconds: float) -> float:
        return 1000 * seconds / self.requests if self.requests else float("nan")


@dataclass
class Case:
    """One request, as each system asks it; ``ids_of`` reads the page's ids to check all agree."""

    name: str
    ours: dict[str, Any]
    postgraphile: dict[str, Any] | None
    floor: dict[str, Any]
    ids_of: Callable[[str, dict[str, Any]], list[str]] | None = None
    goal_p50_ms: float | None = None
    races_postgraphile: bool = True
    """Whether ours must beat PostGraphile here (p50, p95, req/s).  Not for ``{ viewer { id } }``: its goal is
    in ms, and PostGraphile, which has no viewer, answers ``{ __typename }`` for it: not the same query."""
    figures: dict[str, Figures] = field(
        default_factory=lambda: {system: Figures() for system in ("ours", "PostGraphile", "floor")}
    )

    def body_for(self, system: str) -> dict[str, Any] | None:
        return {"ours": self.ours, "PostGraphile": self.postgraphile, "floor": self.floor}[system]


def page_ids(system: str, answer: dict[str, Any]) -> list[str]:
    if system == "ours":
        return [edge["node"]["id"] for edge in answer["data"]["searchAuditTrailEntries"]["edges"]]
    if system == "PostGraphile":
        return [edge["node"]["rowId"] for edge in answer["data"]["allEntries"]["edges"]]
    return [row["id"] for row in answer["data"]]


def read_cases(account_id: str, entry_id: str, now: datetime) -> list[Case]:
    week_start = int((now - timedelta(days=7)).timestamp())
    since = datetime.fromtimestamp(week_start, now.tzinfo).isoformat()
    seven_days = {"field": "createdAt", "constraint": {"timeInRange": {"start": week_start}}}
    action = {"field": "action", "constraint": {"stringMatches": ["stack.update"]}}
    entry_at = created_at_of(entry_id)
    assert entry_at is not None

    def page(name: str, first: int, *, filtered: bool) -> Case:
        predicates = {"predicates": [action, seven_days]} if filtered else {}
        pgl_filter = {"action": "stack.update", "since": since} if filtered else {}
        floor_filter = " AND action = {1} AND created_at >= {2}::timestamptz" if filtered else ""
        return Case(
            name,
            {"query": SPACECTL_LIST, "variables": {"input": {"first": first, **predicates}}},
            {"query": PGL_LIST, "variables": {"account": account_id, "first": first, **pgl_filter}},
            {
                "sql": f"SELECT {FLOOR_COLUMNS} FROM audit_events WHERE account_id = {{0}}{floor_filter} "
                f"{NEWEST_FIRST} LIMIT {first + 1}",
                "values": [account_id, "stack.update", since] if filtered else [account_id],
            },
            ids_of=lambda system, answer: page_ids(system, answer)[:first],
        )

    return [
        page("page of 50", 50, filtered=False),
        page("action + 7 days", 50, filtered=True),
        page("first: 10", 10, filtered=False),
        Case(
            "auditTrailEntry(id)",
            {"query": ENTRY, "variables": {"id": entry_id}},
            {"query": PGL_ENTRY, "variables": {"account": account_id, "id": entry_id}},
            {
                "sql": f"SELECT {FLOOR_ALL_COLUMNS} FROM audit_events WHERE account_id = {{0}} AND id = {{1}}"
                " AND created_at BETWEEN {2}::timestamptz - interval '1 ms' AND {2}::timestamptz + interval '1 ms'",
                "values": [account_id, entry_id, entry_at.isoformat()],
            },
        ),
        Case(
            "suggestions (action, 7 days)",
            {"query": SUGGESTIONS, "variables": {"input": {"field": "action", "predicates": [seven_days]}}},
            {"query": PGL_SUGGESTIONS, "variables": {"account": account_id, "since": since}},
            {
                # Our statement's form: the total is the sum of the field's groups (``counts_total``).
                "sql": "WITH groups AS (SELECT CAST(action AS TEXT) AS value, count(*) AS count FROM audit_events"
                " WHERE account_id = {0} AND created_at >= {1}::timestamptz GROUP BY action)"
                " SELECT -1 AS position, NULL AS value, CAST(coalesce(sum(count), 0) AS BIGINT) AS count FROM groups"
                " UNION ALL (SELECT 0, value, count FROM groups WHERE value IS NOT NULL"
                " ORDER BY count DESC, value LIMIT 50)",
                "values": [account_id, since],
            },
        ),
        Case(
            "{ viewer { id } }",
            {"query": "{ viewer { id } }", "variables": {}},
            {"query": "{ __typename }", "variables": {}},
            {"sql": "SELECT id FROM api_keys WHERE account_id = {0} LIMIT 1", "values": [account_id]},
            goal_p50_ms=1.5,
            races_postgraphile=False,
        ),
    ]
