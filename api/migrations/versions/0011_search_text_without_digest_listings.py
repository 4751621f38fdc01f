"""The trigram index leaves out a digest's listing of the events it covers

Revision ID: 0011
Revises: 0010

An ``audit_trail.digest`` event's ``data.events`` lists every event of its interval by id and
hash: about 95 bytes of random hex each, 760 KB for a digest part of 8,000 events.  Indexed as
search text, every digest part cost PostgreSQL about 100 ms of CPU per 4,500 events listed
(extracting some 5,000 distinct trigrams and inserting them into the GIN index), which at one
digest a second was a fifth of a core, and bought nothing: every listing holds nearly every hex
trigram, so any hex search matched every digest.  The digest's own fields (its id, interval,
root, signature) stay searchable.  ``api.audit.query.SEARCH_TEXT_SQL`` repeats the expression
verbatim (PostgreSQL matches expression indexes textually).

Rebuilding the index reads every stored event once; on a large table run the upgrade in a quiet hour.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BEFORE = (
    "lower(action || ' ' || actor || ' ' || coalesce(affected_resource_id, '') || ' '"
    " || coalesce(related_resource_id, '') || ' ' || data::text)"
)
AFTER = (
    "lower(action || ' ' || actor || ' ' || coalesce(affected_resource_id, '') || ' '"
    " || coalesce(related_resource_id, '') || ' '"
    " || CASE WHEN action = 'audit_trail.digest' THEN (data - 'events')::text ELSE data::text END)"
)


def upgrade() -> None:
    op.execute("DROP INDEX audit_events_search_text")
    op.execute(f"CREATE INDEX audit_events_search_text ON audit_events USING gin (({AFTER}) gin_trgm_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX audit_events_search_text")
    op.execute(f"CREATE INDEX audit_events_search_text ON audit_events USING gin (({BEFORE}) gin_trgm_ops)")
