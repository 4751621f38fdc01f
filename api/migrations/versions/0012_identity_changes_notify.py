"""Identity cache: a notification on channel ``identities_changed`` for every committed change of
what a verified identity holds (a key's name, role, account or revocation; an account's name or
retention; a logged-out token)

Revision ID: 0012
Revises: 0011

Every API process keeps the identities it verified (``api/accounts/identity_cache.py``) and forgets
them all when it hears this channel, whoever wrote the change: the API, the CLI, an operator's SQL.
Row triggers, so a statement that changes no row says nothing (the hourly purge of expired logouts
usually deletes none); PostgreSQL folds the same payload notified twice in one transaction into one.
``api_keys.last_used_at``, written by every login, is left out: no identity holds it; and so is
the INSERT of a key or an account, which no identity kept can have read (``apiKeyCreate`` would
otherwise make every process read every identity again).  NOTIFY is
transactional: listeners hear it once the change commits, never for a rollback.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WATCHED = {
    "api_keys": "DELETE OR UPDATE OF id, account_id, name, role, revoked_at",
    "accounts": "DELETE OR UPDATE OF id, name, retention_days",
    "revoked_tokens": "INSERT OR DELETE OR UPDATE",
}


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION identities_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('identities_changed', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table, events in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER identities_changed_rows AFTER {events} ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION identities_changed_notify()"
        )
        op.execute(
            f"CREATE TRIGGER identities_changed_truncate AFTER TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION identities_changed_notify()"
        )


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER identities_changed_truncate ON {table}")
        op.execute(f"DROP TRIGGER identities_changed_rows ON {table}")
    op.execute("DROP FUNCTION identities_changed_notify()")
