"""Saved filters: the Logs tab's named views (filters and a time range), per account

Revision ID: 0009
Revises: 0008

``data`` is the client's JSON text, kept byte for byte (Spacelift's clients compare what they read
back with what they wrote); the API checks it is a JSON object before it gets here, and the CHECKs
bound what any other writer can store.  Names are unique per account and type.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE saved_filters (
            id varchar(26) PRIMARY KEY,
            account_id varchar(26) NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            type text NOT NULL,
            name text NOT NULL,
            data text NOT NULL,
            is_public boolean NOT NULL DEFAULT false,
            created_by varchar(26) NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT saved_filters_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
            CONSTRAINT saved_filters_type_length CHECK (char_length(type) BETWEEN 1 AND 64),
            CONSTRAINT saved_filters_data_size CHECK (octet_length(data) <= 16384),
            CONSTRAINT saved_filters_unique_name UNIQUE (account_id, type, name)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE saved_filters")
