"""Live tail: a notification on channel ``audit_events_added`` for every committed insert of events

Revision ID: 0010
Revises: 0009

A statement-level trigger, so one INSERT of 1,000 events (ingestion's single statement) costs a
handful of notifications, not a thousand: each names one account and up to 250 event ids
(``<account id> <id>,<id>,...``, under PostgreSQL's 8,000-byte payload limit).  NOTIFY is
transactional: listeners hear it only once the transaction commits, and never for a rollback.
Every writer of events goes through it, the service's own events and the worker's included.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_events_notify_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- 250 ids of 26 characters and a comma, plus the account id: about 6,800 bytes.
            PERFORM pg_notify('audit_events_added', account_id || ' ' || string_agg(id, ',' ORDER BY id))
            FROM (
                SELECT account_id, id,
                       (row_number() OVER (PARTITION BY account_id ORDER BY id) - 1) / 250 AS chunk
                FROM added_events
            ) AS numbered
            GROUP BY account_id, chunk;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_events_notify_added
        AFTER INSERT ON audit_events
        REFERENCING NEW TABLE AS added_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_notify_added()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_events_notify_added ON audit_events")
    op.execute("DROP FUNCTION audit_events_notify_added()")
