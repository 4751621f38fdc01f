"""What every job of the worker shares: settings, database, the webhook sender and retry policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.db import Database
from api.settings import Settings
from api.webhooks.retry_policy import RetryPolicy
from api.webhooks.sender import Sender


@dataclass
class WorkerContext:
    settings: Settings
    db: Database
    sender: Sender
    retry_policy: RetryPolicy


def worker_context(ctx: dict[str, Any]) -> WorkerContext:
    """arq hands jobs a dict; ours keeps one typed object in it."""
    context = ctx["audittrail"]
    assert isinstance(context, WorkerContext)
    return context
