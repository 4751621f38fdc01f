"""The most expensive GraphQL documents we know how to write, each sized against the service's limits.

Each builder takes the settings the server runs with and writes the costliest document of its kind
that the limits let through (or, for a limit that refuses, one just past it, which costs the most to
refuse): the worst for the event loop is what parses and validates in full, then fails.
``tests/reliability/test_fuzz_graphql.py`` sends them with random sizes; ``bench.documents`` times them.
"""

from __future__ import annotations

from collections.abc import Callable

from api.settings import Settings

Builder = Callable[[Settings, float], str]
"""A document of one kind, at ``scale`` (0..1 and a bit beyond) of the limit that bounds it."""


def _count(limit: int, scale: float) -> int:
    """``limit`` scaled; past 1, always at least one more than the limit."""
    scaled = int(limit * scale)
    return max(1, scaled + 1 if scale > 1 and scaled == limit else scaled)


def _filler_bytes(settings: Settings, scale: float, overhead: int = 64) -> int:
    """Characters of one huge token: the document is just under the byte limit at scale 1."""
    return max(1, int((settings.max_query_bytes - overhead) * scale))


def token_flood(settings: Settings, scale: float) -> str:
    """One field name repeated up to the token limit: parsed in full, then refused by the field limit."""
    return "{ viewer {" + " id" * _count(settings.max_query_tokens - 10, scale) + " } }"


def same_name_fields(settings: Settings, scale: float) -> str:
    """Fields of one name with different arguments: OverlappingFieldsCanBeMerged compares every pair."""
    pairs = _count(settings.max_query_fields // 2, scale)
    return "{ " + " ".join(f'__type(name: "T{n}") {{ name }}' for n in range(pairs)) + " }"


def same_field_repeated(settings: Settings, scale: float) -> str:
    """The same field again and again: merged, but still compared pairwise."""
    return "{ " + " __typename" * (_count(settings.max_query_fields, scale) - 1) + " }"


def unknown_fields(settings: Settings, scale: float) -> str:
    """Fields the schema does not have: an error each, until validation gives up at 100."""
    return "{ " + " ".join(f"f{n}" for n in range(_count(settings.max_query_fields, scale))) + " }"


def fragment_fan_out(settings: Settings, scale: float) -> str:
    """Each fragment spreads the next twice and conflicts with it: 2^n paths if nothing were cached."""
    fragments = min(_count(settings.max_query_fragments, scale), settings.max_query_fragment_spreads // 2)
    chain = " ".join(
        f'fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} __type(name: "F{n}") {{ name }} }}'
        for n in range(fragments - 1)
    )
    return f'{{ ...F0 }} {chain} fragment F{fragments - 1} on Query {{ __type(name: "last") {{ kind }} }}'


def fragment_against_fields(settings: Settings, scale: float) -> str:
    """One fragment of conflicting fields spread many times beside fields it conflicts with."""
    spreads = _count(settings.max_query_fragment_spreads, scale)
    fields = max(1, (settings.max_query_fields - 1) // 4)
    inside = " ".join(f'__type(name: "in{n}") {{ name }}' for n in range(fields))
    beside = " ".join(f'__type(name: "out{n}") {{ kind }}' for n in range(fields))
    return "{ " + beside + " ...F" * spreads + " } fragment F on Query { " + inside + " }"


def directive_flood(settings: Settings, scale: float) -> str:
    """Directives on one field: unknown ones and repeated ones, each a validation error."""
    directives = _count(settings.max_query_directives, scale)
    return "{ __typename " + " ".join(f"@d{n}(if: true) @include(if: true)" for n in range(directives // 2 + 1)) + " }"


def variable_flood(settings: Settings, scale: float) -> str:
    """Variables declared and never used (an error each, were they not refused first), up to the token limit."""
    variables = _count(settings.max_query_tokens // 4 - 10, scale)
    return "query(" + " ".join(f"$v{n}: Int" for n in range(variables)) + ") { __typename }"


def operation_flood(settings: Settings, scale: float) -> str:
    """Many named operations; the last one is chosen."""
    operations = _count(settings.max_query_tokens // 5 - 2, scale)
    return " ".join(f"query Q{n} {{ __typename }}" for n in range(operations))


def huge_string(settings: Settings, scale: float) -> str:
    """One string argument as long as the byte limit allows: lexed character by character."""
    return '{ __type(name: "' + "x" * _filler_bytes(settings, scale) + '") { name } }'


def huge_block_string(settings: Settings, scale: float) -> str:
    """A block string of one-character lines: lexed, then split and dedented line by line."""
    return '{ __type(name: """' + "x\n" * (_filler_bytes(settings, scale) // 2) + '""") { name } }'


def escaped_string(settings: Settings, scale: float) -> str:
    """A string made only of unicode escapes, each decoded by the lexer."""
    return '{ __type(name: "' + "\\u00e9" * (_filler_bytes(settings, scale) // 6) + '") { name } }'


def huge_comment(settings: Settings, scale: float) -> str:
    """A comment the size of the byte limit: no tokens at all."""
    return "#" + "x" * _filler_bytes(settings, scale) + "\n{ __typename }"


def nested_lists(settings: Settings, scale: float) -> str:
    """A list literal nested as deep as the tokens allow: the parser recurses per level."""
    depth = _count(settings.max_query_tokens // 2 - 10, scale)
    return "{ __type(name: " + "[" * depth + "]" * depth + ") { name } }"


def nested_selections(settings: Settings, scale: float) -> str:
    """Selections nested as deep as the tokens allow, far past the depth limit."""
    depth = _count(settings.max_query_tokens // 3 - 10, scale)
    return "{ " + "viewer { " * depth + "id" + " }" * depth + " }"


def introspection_repeated(settings: Settings, scale: float) -> str:
    """Introspection selections repeated up to the field limit: accepted, and executed for every type."""
    copies = _count(settings.max_query_fields // 6, scale)
    return "{ __schema { " + " types { fields { args { type { ofType { name } } } } }" * copies + " } }"


BUILDERS: dict[str, Builder] = {
    "token flood": token_flood,
    "same-name fields, different arguments": same_name_fields,
    "same field repeated": same_field_repeated,
    "unknown fields": unknown_fields,
    "fragment fan-out": fragment_fan_out,
    "fragment against fields": fragment_against_fields,
    "directive flood": directive_flood,
    "unused variables": variable_flood,
    "operation flood": operation_flood,
    "huge string": huge_string,
    "huge block string": huge_block_string,
    "escaped string": escaped_string,
    "huge comment": huge_comment,
    "nested lists": nested_lists,
    "nested selections": nested_selections,
    "introspection repeated": introspection_repeated,
}


def operation_name(document: str) -> str | None:
    """The operation to run in a document of several (the operation flood's last one)."""
    if not document.startswith("query Q"):
        return None
    return document.rsplit("query ", 1)[1].split(" ", 1)[0]


def worst_documents(settings: Settings) -> dict[str, str]:
    """Every kind at its most expensive: at the limits, and just past them."""
    documents: dict[str, str] = {}
    for label, build in BUILDERS.items():
        documents[f"{label} (at the limit)"] = build(settings, 1.0)
        documents[f"{label} (past the limit)"] = build(settings, 1.05)
    return documents
