"""Every attempt of a delivery, kept: the delivery drawer's history; since when a webhook fails

Revision ID: 0006
Revises: 0005

A delivery row holds only its last attempt; debugging a receiver needs each one (GitHub's Recent
Deliveries and Svix's attempt view show them).  An attempt's row is written by the statement that
records the attempt, so the history and the delivery never disagree; it goes with its delivery
(retention, a deleted account) by the foreign key.  Request headers are stored with custom header
values redacted; the body is the event's, not copied.

``webhooks.failing_since`` is when the current run of failures began (NULL while healthy): a
webhook failing for ``AUDITTRAIL_WEBHOOK_AUTO_DISABLE_AFTER_SECONDS`` is disabled by the worker,
which sets ``auto_disabled_at`` (cleared when it is enabled again), as Svix does.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE webhook_delivery_attempts (
            delivery_id varchar(26) NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
            attempt int NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            status_code int,
            error text,
            latency_ms int NOT NULL,
            request_headers jsonb NOT NULL DEFAULT '{}',
            response_headers jsonb,
            response_snippet text,
            PRIMARY KEY (delivery_id, attempt)
        )
        """
    )
    op.execute("ALTER TABLE webhooks ADD COLUMN failing_since timestamptz, ADD COLUMN auto_disabled_at timestamptz")
    op.execute(
        "CREATE INDEX webhooks_failing ON webhooks (failing_since) WHERE enabled AND deleted_at IS NULL"
        " AND failing_since IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX webhooks_failing")
    op.execute("ALTER TABLE webhooks DROP COLUMN failing_since, DROP COLUMN auto_disabled_at")
    op.execute("DROP TABLE webhook_delivery_attempts")
