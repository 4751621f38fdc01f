"""Replays: re-deliveries of a time range of stored events to the account's webhook

Revision ID: 0008
Revises: 0007

A replay row keeps its range, its filters and how far it got (a keyset position), so the worker
cron that enqueues its batches can stop and resume anywhere.  Its deliveries are ordinary delivery
rows marked with ``replay_id``: the same claim, send, retry and log, and the progress is a count.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE webhook_replays (
            id varchar(26) PRIMARY KEY,
            account_id varchar(26) NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            webhook_id varchar(26) NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
            range_from timestamptz NOT NULL,
            range_to timestamptz NOT NULL,
            filters jsonb NOT NULL,
            status text NOT NULL DEFAULT 'RUNNING',
            total int NOT NULL,
            enqueued int NOT NULL DEFAULT 0,
            after_created_at timestamptz,
            after_id varchar(26),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            CONSTRAINT webhook_replays_status_known CHECK (status IN ('RUNNING', 'FINISHED', 'CANCELLED')),
            CONSTRAINT webhook_replays_range CHECK (range_from <= range_to)
        )
        """
    )
    # One replay at a time per account, even when two start concurrently.
    op.execute(
        "CREATE UNIQUE INDEX webhook_replays_one_running ON webhook_replays (account_id) WHERE status = 'RUNNING'"
    )
    op.execute("CREATE INDEX webhook_replays_account ON webhook_replays (account_id, created_at DESC)")
    op.execute("ALTER TABLE webhook_deliveries ADD COLUMN replay_id varchar(26)")
    # A replay's progress (delivered, in flight) and its cancellation read its deliveries.
    op.execute(
        "CREATE INDEX webhook_deliveries_replay ON webhook_deliveries (replay_id, status) WHERE replay_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE webhook_deliveries DROP COLUMN replay_id")
    op.execute("DROP TABLE webhook_replays")
