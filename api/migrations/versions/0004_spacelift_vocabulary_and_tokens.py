"""Spacelift's vocabulary: CREATE/UPDATE/DELETE event types, run state change as its own flag,
UPPER_SNAKE resource types; unsigned webhooks; retry off by default; revoked tokens

Revision ID: 0004
Revises: 0003

Events keep their stored body (the exact bytes a webhook received), so only columns the body
does not hold are rewritten: the event type, the new run flag and the resource types.  Actors
(``api_key::<id>`` before, ``api::<id>`` now) are in the body and stay as they were recorded.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EVENT_TYPES = ("CREATE", "UPDATE", "DELETE")


def upgrade() -> None:
    op.execute("ALTER TABLE audit_events ADD COLUMN run_state_change boolean NOT NULL DEFAULT false")
    op.execute(
        """
        UPDATE audit_events
        SET run_state_change = (event_type = 'RUN_STATE_CHANGE'),
            event_type = CASE
                WHEN event_type = 'RUN_STATE_CHANGE' THEN 'UPDATE'
                WHEN action LIKE '%.create' THEN 'CREATE'
                WHEN action LIKE '%.delete' THEN 'DELETE'
                ELSE 'UPDATE'
            END
        WHERE event_type NOT IN ('CREATE', 'UPDATE', 'DELETE')
        """
    )
    op.execute(
        """
        UPDATE audit_events
        SET affected_resource_type = upper(regexp_replace(affected_resource_type, '[^A-Za-z0-9_]', '_', 'g')),
            related_resource_type = upper(regexp_replace(related_resource_type, '[^A-Za-z0-9_]', '_', 'g'))
        WHERE affected_resource_type !~ '^[A-Z][A-Z0-9_]*$' OR related_resource_type !~ '^[A-Z][A-Z0-9_]*$'
        """
    )
    op.execute("ALTER TABLE audit_events ALTER COLUMN event_type DROP DEFAULT")
    allowed = ", ".join(f"'{value}'" for value in EVENT_TYPES)
    op.execute(f"ALTER TABLE audit_events ADD CONSTRAINT audit_events_event_type CHECK (event_type IN ({allowed}))")
    op.execute(
        "CREATE INDEX audit_events_account_run_state_change"
        " ON audit_events (account_id, run_state_change, created_at DESC, id DESC)"
    )

    op.execute("ALTER TABLE webhooks ALTER COLUMN retry_on_failure SET DEFAULT false")
    op.execute("ALTER TABLE webhooks ALTER COLUMN secret_encrypted DROP NOT NULL")
    op.execute("ALTER TABLE webhooks ALTER COLUMN secret_sha DROP NOT NULL")

    op.execute(
        """
        CREATE TABLE revoked_tokens (
            jti varchar(26) PRIMARY KEY,
            key_id varchar(26) NOT NULL REFERENCES api_keys (id),
            revoked_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE revoked_tokens")
    op.execute("UPDATE webhooks SET secret_encrypted = '', secret_sha = '' WHERE secret_encrypted IS NULL")
    op.execute("ALTER TABLE webhooks ALTER COLUMN secret_sha SET NOT NULL")
    op.execute("ALTER TABLE webhooks ALTER COLUMN secret_encrypted SET NOT NULL")
    op.execute("ALTER TABLE webhooks ALTER COLUMN retry_on_failure SET DEFAULT true")
    op.execute("DROP INDEX audit_events_account_run_state_change")
    op.execute("ALTER TABLE audit_events DROP CONSTRAINT audit_events_event_type")
    op.execute(
        "UPDATE audit_events SET event_type = CASE WHEN run_state_change THEN 'RUN_STATE_CHANGE' ELSE 'AUDIT' END"
    )
    op.execute("ALTER TABLE audit_events ALTER COLUMN event_type SET DEFAULT 'AUDIT'")
    op.execute("ALTER TABLE audit_events DROP COLUMN run_state_change")
