"""Actor strings, ``source::identity``: the one place that writes and reads their format."""

from __future__ import annotations

KEY_SOURCE = "api"
"""The source of an API key acting itself (Spacelift's name for it)."""

CLI_SOURCE = "cli"
"""The source of an operator acting through the ``audittrail`` command, as the OS user running it."""

SEPARATOR = "::"

SYSTEM_ACTOR = "system::audittrail"
"""The service itself acting on no one's request (the worker disabling a failing webhook)."""

RECORDED_BY = "recordedBy"
"""The ``context`` key naming the key that recorded an ingested event (the service's own events have none)."""


def key_actor(key_id: str) -> str:
    """The actor of an API key acting itself."""
    return f"{KEY_SOURCE}{SEPARATOR}{key_id}"


def cli_actor(os_user: str) -> str:
    """The actor of an operator's CLI command."""
    return f"{CLI_SOURCE}{SEPARATOR}{os_user}"


def split_actor(actor: str) -> tuple[str, str]:
    """(source, identity); an actor without a separator is all source."""
    source, _, identity = actor.partition(SEPARATOR)
    return source, identity


def actor_source(actor: str) -> str:
    """The part before ``::``: what ``actorSource`` filters on."""
    return split_actor(actor)[0]
