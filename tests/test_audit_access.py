"""Who may read and write the audit trail, and that one account never sees another's entries."""

from __future__ import annotations

from api.models import Role
from tests.helpers import Api
from tests.test_audit_support import SEARCH, draft, seed

RECORD = (
    'mutation { auditTrailRecordEvents(events: [{action: "stack.create", actor: "github::a", eventType: CREATE}])'
    " { id } }"
)
SUGGEST = (
    'query { searchAuditTrailEntriesSuggestions(input: {field: "action"}) {'
    " filteredCount fields { possibleValuesString { values counts } } } }"
)
ENTRY = "query($id: ID!) { auditTrailEntry(id: $id) { id action } }"


async def test_reader_can_search_but_not_mutate(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    searched = await api.gql(SEARCH, {"input": {}}, token=reader.jwt)
    suggested = await api.gql(SUGGEST, token=reader.jwt)
    recorded = await api.gql(RECORD, token=reader.jwt)
    retention = await api.gql("mutation { auditTrailSetRetention(days: 7) { retentionDays } }", token=reader.jwt)
    assert searched.ok()["searchAuditTrailEntries"]["edges"]
    assert suggested.ok()["searchAuditTrailEntriesSuggestions"]["filteredCount"] >= 1
    assert recorded.codes == retention.codes == ["FORBIDDEN"]
    assert "needs an SERVICE or ADMIN key; this key is READER" in recorded.errors[0]["message"]


async def test_service_can_ingest_but_not_search(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    [recorded] = (await api.gql(RECORD, token=service.jwt)).ok()["auditTrailRecordEvents"]
    searched = await api.gql(SEARCH, {"input": {}}, token=service.jwt)
    suggested = await api.gql(SUGGEST, token=service.jwt)
    entry = await api.gql(ENTRY, {"id": recorded["id"]}, token=service.jwt)
    assert searched.codes == suggested.codes == entry.codes == ["FORBIDDEN"]


async def test_admin_can_ingest_and_search(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    assert (await api.gql(RECORD, token=admin.jwt)).ok()["auditTrailRecordEvents"]
    assert (await api.gql(SEARCH, {"input": {}}, token=admin.jwt)).ok()["searchAuditTrailEntries"]["edges"]


async def test_an_account_never_sees_another_accounts_entries(api: Api) -> None:
    acme = await api.key("acme", Role.READER)
    globex = await api.key("globex", Role.READER)
    [globex_event] = await seed(api.db, globex.account_id, [draft("secret.plan", "github::mallory")], "globex")

    found = (await api.gql(SEARCH, {"input": {"fullTextSearch": "secret.plan"}}, token=acme.jwt)).ok()
    everything = (await api.gql(SEARCH, {"input": {"first": 500}}, token=acme.jwt)).ok()
    entry = (await api.gql(ENTRY, {"id": globex_event}, token=acme.jwt)).ok()
    suggested = (await api.gql(SUGGEST, token=acme.jwt)).ok()["searchAuditTrailEntriesSuggestions"]
    own_entry = (await api.gql(ENTRY, {"id": globex_event}, token=globex.jwt)).ok()

    assert found["searchAuditTrailEntries"]["edges"] == []
    assert globex_event not in {e["node"]["id"] for e in everything["searchAuditTrailEntries"]["edges"]}
    assert entry["auditTrailEntry"] is None
    assert "secret.plan" not in suggested["fields"][0]["possibleValuesString"]["values"]
    assert suggested["filteredCount"] == 1  # acme's own login only
    assert own_entry["auditTrailEntry"] == {"id": globex_event, "action": "secret.plan"}
