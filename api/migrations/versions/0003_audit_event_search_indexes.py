"""indexes serving audit event search filters, full text search and retention

Revision ID: 0003
Revises: 0002

Each filterable column gets (account_id, <column>, created_at DESC, id DESC): an equality
filter then reads the newest matching rows in listing order and stops after one page, and the
date range of a search bounds the scan (and prunes partitions).  Resource type and id share one
index ((type, id) together is the usual question); the id alone has its own.  Full text search
uses a trigram GIN index over one expression, which ``api.audit.query.SEARCH_TEXT`` repeats
verbatim (PostgreSQL matches expression indexes textually).

Indexes on a partitioned table are created on every partition, and new partitions inherit them.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FILTER_INDEXES = {
    "audit_events_account_action": "action",
    "audit_events_account_actor": "actor",
    "audit_events_account_actor_source": "actor_source",
    "audit_events_account_event_type": "event_type",
    "audit_events_account_affected": "affected_resource_type, affected_resource_id",
    "audit_events_account_affected_id": "affected_resource_id",
    "audit_events_account_related": "related_resource_type, related_resource_id",
    "audit_events_account_related_id": "related_resource_id",
    "audit_events_account_remote_ip": "remote_ip",
}

SEARCH_TEXT = (
    "lower(action || ' ' || actor || ' ' || coalesce(affected_resource_id, '') || ' '"
    " || coalesce(related_resource_id, '') || ' ' || data::text)"
)


def upgrade() -> None:
    for name, columns in FILTER_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON audit_events (account_id, {columns}, created_at DESC, id DESC)")
    op.execute(f"CREATE INDEX audit_events_search_text ON audit_events USING gin (({SEARCH_TEXT}) gin_trgm_ops)")
    # Retention deletes an account's deliveries by event time (0002 has this index) and, when a
    # partition is dropped, every account's deliveries before a day: that needs the time alone.
    op.execute("CREATE INDEX webhook_deliveries_event_time ON webhook_deliveries (event_created_at)")


def downgrade() -> None:
    op.execute("DROP INDEX webhook_deliveries_event_time")
    op.execute("DROP INDEX audit_events_search_text")
    for name in FILTER_INDEXES:
        op.execute(f"DROP INDEX {name}")
