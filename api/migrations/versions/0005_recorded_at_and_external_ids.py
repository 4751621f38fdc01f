"""When each event was recorded, and the client ids that make ingestion idempotent

Revision ID: 0005
Revises: 0004

``recorded_at`` is the service's clock when the event was written, beside the ``created_at``
the event claims (an ingested event may claim any time).  Rows written before this revision keep
NULL: adding a column without a rewrite keeps the migration instant on a large table, and readers
take ``created_at`` for them (for the service's own events the two are the same instant).  The
service writes the value itself, the instant an ingested body carries as ``context.recordedAt``;
the default serves only writers other than the service.

``audit_event_external_ids`` holds the optional id a client gives an ingested event, unique per
account.  A unique index on the partitioned events table would have to include the partition key
(the claimed time), so a retried event claiming another time could slip past it; the side table
has the account and the external id as its whole key.  Its two time indexes serve retention,
which deletes a claim with its event: per account (with the event's id), and before a whole
expired partition is dropped.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE audit_events ADD COLUMN recorded_at timestamptz")
    op.execute("ALTER TABLE audit_events ALTER COLUMN recorded_at SET DEFAULT now()")
    op.execute("CREATE INDEX audit_events_account_recorded ON audit_events (account_id, recorded_at)")
    op.execute(
        """
        CREATE TABLE audit_event_external_ids (
            account_id varchar(26) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            external_id text NOT NULL,
            event_id varchar(26) NOT NULL,
            event_created_at timestamptz NOT NULL,
            PRIMARY KEY (account_id, external_id)
        )
        """
    )
    op.execute(
        "CREATE INDEX audit_event_external_ids_account_time ON audit_event_external_ids (account_id, event_created_at)"
    )
    op.execute("CREATE INDEX audit_event_external_ids_time ON audit_event_external_ids (event_created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE audit_event_external_ids")
    op.execute("DROP INDEX audit_events_account_recorded")
    op.execute("ALTER TABLE audit_events DROP COLUMN recorded_at")
