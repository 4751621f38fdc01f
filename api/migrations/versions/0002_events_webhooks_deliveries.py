"""audit events (partitioned by day), webhooks and deliveries

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        """
        CREATE TABLE audit_events (
            id varchar(26) NOT NULL,
            created_at timestamptz NOT NULL,
            account_id varchar(26) NOT NULL,
            action text NOT NULL,
            actor text NOT NULL,
            actor_source text NOT NULL,
            event_type text NOT NULL DEFAULT 'AUDIT',
            affected_resource_type text,
            affected_resource_id text,
            related_resource_type text,
            related_resource_id text,
            run_id text,
            run_stack_id text,
            context jsonb NOT NULL DEFAULT '{}',
            data jsonb NOT NULL DEFAULT '{}',
            remote_ip text,
            recorded_by varchar(26),
            body text NOT NULL,
            PRIMARY KEY (id, created_at)
        ) PARTITION BY RANGE (created_at)
        """
    )
    op.execute("CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT")
    # The listing order of every search: newest first within one account.
    op.execute("CREATE INDEX audit_events_account_time ON audit_events (account_id, created_at DESC, id DESC)")
    # Daily partitions, created ahead by the worker's cron.  A day whose rows already sit in the
    # default partition is skipped (creating it would fail); those rows stay findable there.
    op.execute(
        """
        CREATE FUNCTION audit_events_ensure_partitions(first_day date, day_count int)
        RETURNS int LANGUAGE plpgsql AS $$
        DECLARE
            day date;
            created int := 0;
            partition_name text;
        BEGIN
            FOR i IN 0 .. day_count - 1 LOOP
                day := first_day + i;
                partition_name := 'audit_events_p' || to_char(day, 'YYYYMMDD');
                CONTINUE WHEN to_regclass(partition_name) IS NOT NULL;
                CONTINUE WHEN EXISTS (
                    SELECT 1 FROM audit_events_default
                    WHERE created_at >= day AND created_at < day + 1
                );
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                    partition_name, day::timestamptz, (day + 1)::timestamptz
                );
                created := created + 1;
            END LOOP;
            RETURN created;
        END $$
        """
    )
    op.execute("SET TIME ZONE 'UTC'")
    op.execute("SELECT audit_events_ensure_partitions(current_date - 31, 39)")

    op.execute(
        """
        CREATE TABLE webhooks (
            id varchar(26) PRIMARY KEY,
            account_id varchar(26) NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            enabled boolean NOT NULL,
            endpoint text NOT NULL,
            include_runs boolean NOT NULL DEFAULT false,
            retry_on_failure boolean NOT NULL DEFAULT true,
            secret_encrypted text NOT NULL,
            secret_sha text NOT NULL,
            custom_headers_encrypted text,
            custom_header_names jsonb NOT NULL DEFAULT '[]',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            last_delivery_at timestamptz,
            last_success_at timestamptz,
            consecutive_failures int NOT NULL DEFAULT 0
        )
        """
    )
    # One live webhook per account; deleted ones stay for their final payload.
    op.execute("CREATE UNIQUE INDEX webhooks_one_live_per_account ON webhooks (account_id) WHERE deleted_at IS NULL")

    op.execute(
        """
        CREATE TABLE webhook_deliveries (
            id varchar(26) PRIMARY KEY,
            account_id varchar(26) NOT NULL,
            webhook_id varchar(26) NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
            event_id varchar(26) NOT NULL,
            event_created_at timestamptz NOT NULL,
            action text NOT NULL,
            status text NOT NULL DEFAULT 'PENDING',
            attempts int NOT NULL DEFAULT 0,
            next_attempt_at timestamptz,
            last_status_code int,
            last_error text,
            last_latency_ms int,
            response_snippet text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            delivered_at timestamptz,
            CONSTRAINT webhook_deliveries_status_known CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED'))
        )
        """
    )
    # The sweeper's question: which pending deliveries are due?
    op.execute("CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING'")
    # The delivery log of one webhook, newest first.
    op.execute("CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at DESC, id DESC)")
    # Retention removes deliveries together with their events.
    op.execute("CREATE INDEX webhook_deliveries_event ON webhook_deliveries (account_id, event_created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE webhook_deliveries")
    op.execute("DROP TABLE webhooks")
    op.execute("DROP FUNCTION audit_events_ensure_partitions(date, int)")
    op.execute("DROP TABLE audit_events")
