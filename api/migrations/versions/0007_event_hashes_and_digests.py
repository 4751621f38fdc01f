"""Event hashes and signed digests

Revision ID: 0007
Revises: 0006

``audit_events.event_hash`` is SHA-256 of the event's id and stored body (api/audit/hashing.py),
written by the insert itself; rows older than this revision keep NULL and the digester hashes
their bodies when it reads them.  Adding a nullable column rewrites nothing.

``audit_digests`` holds one signed digest per account and interval of recording time.  It has no
link to the events it covers, so retention, which deletes events, never touches a digest.  The
packed leaves (id and hash of each covered event) are what lets ``audittrail verify`` name the
event that went missing; they are stored uncompressed (hashes do not compress).

``accounts.digest_events`` turns off delivering each digest as an ``audit_trail.digest`` event.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE audit_events ADD COLUMN event_hash bytea")
    op.execute("ALTER TABLE accounts ADD COLUMN digest_events boolean NOT NULL DEFAULT true")
    op.execute(
        """
        CREATE TABLE audit_digests (
            id varchar(26) PRIMARY KEY,
            account_id varchar(26) NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            sequence bigint NOT NULL CHECK (sequence >= 1),
            interval_start timestamptz NOT NULL,
            interval_end timestamptz NOT NULL CHECK (interval_end > interval_start),
            event_count bigint NOT NULL CHECK (event_count >= 0),
            merkle_root bytea NOT NULL,
            previous_digest_hash bytea,
            key_id text NOT NULL,
            signature bytea NOT NULL,
            digest_hash bytea NOT NULL,
            leaves bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (account_id, sequence),
            UNIQUE (account_id, interval_start)
        )
        """
    )
    op.execute("ALTER TABLE audit_digests ALTER COLUMN leaves SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("DROP TABLE audit_digests")
    op.execute("ALTER TABLE accounts DROP COLUMN digest_events")
    op.execute("ALTER TABLE audit_events DROP COLUMN event_hash")
