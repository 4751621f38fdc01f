"""Every attempt of a delivery, kept: the delivery drawer's history

Revision ID: 0006
Revises: 0005

A delivery row holds only its last attempt; debugging a receiver needs each one (GitHub's Recent
Deliveries and Svix's attempt view show them).  An attempt's row is written by the statement that
records the attempt, so the history and the delivery never disagree; it goes with its delivery
(retention, a deleted account) by the foreign key.  Request headers are stored with custom header
values redacted; the body is the event's, not copied.
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


def downgrade() -> None:
    op.execute("DROP TABLE webhook_delivery_attempts")
