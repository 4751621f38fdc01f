"""An event's body and data are stored out of line without compression when large

Revision ID: 0013
Revises: 0012

PostgreSQL moves a value out of the row once the row passes about 2 KB, and by default (storage
EXTENDED) first tries to compress it with pglz.  The large events this service writes are the
``audit_trail.digest`` events, whose listing of ids and hashes is mostly random hex: pglz finds the
repeated ULID prefixes, keeps going through the whole value, and gives up at the end without
gaining 25 %.  Measured on this machine, recording one digest event of 430 KB (body and data)
took 37 ms of PostgreSQL CPU with EXTENDED and 12 ms with EXTERNAL, stored in the same 930 KB
both ways: at one digest a second, 25 ms of CPU every second that bought nothing.  The price: an
ordinary event larger than 2 KB whose data would compress is now stored at its full size
(docs/design.md, "Storage of large values").  ``audit_digests.leaves`` has been EXTERNAL since 0007.

The statement only changes the catalog (rows stored before stay as they are) and recurses to
every partition; partitions created later take the parent's storage.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE audit_events ALTER COLUMN body SET STORAGE EXTERNAL, ALTER COLUMN data SET STORAGE EXTERNAL"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE audit_events ALTER COLUMN body SET STORAGE EXTENDED, ALTER COLUMN data SET STORAGE EXTENDED"
    )
