"""Schedules the suite's servers and workers run on, shared by the in-process and the own-process ones."""

from __future__ import annotations

DIGEST_INTERVAL_SECONDS = 86_400
"""A day instead of the product's 5 minutes: a worker's digest cron delivers an ``audit_trail.digest``
event per account at every closed interval of wall-clock time, and a test that counts its own
deliveries exactly (chaos, load, wake-ups) would see one more whenever it ran across a boundary.
The digest tests set their own interval (tests/integrity, tests/s3/test_receiver_digests.py)."""
