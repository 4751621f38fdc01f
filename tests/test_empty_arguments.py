"""Cutting empty argument lists out of a document: only ``(`` and ``)`` tokens next to each other go,
never characters inside strings, block strings or comments, and a document without any is not touched."""

from __future__ import annotations

import pytest

from api.graphql.empty_arguments import parsed_without_empty_arguments, without_empty_argument_lists


@pytest.mark.parametrize(("sent", "read"), [
    ("{savedFilters(){id}}", "{savedFilters{id}}"),
    ("{ savedFilters( ) { id } }", "{ savedFilters { id } }"),
    ("{ savedFilters(,\n,) { id } }", "{ savedFilters { id } }"),
    ("{a(){b(){c}}}", "{a{b{c}}}"),
    ('{a(x: "()"){b()}}', '{a(x: "()"){b}}'),
    ('{a(x: """ () """)}', None),
    ("# savedFilters()\n{a}", None),
    ("{a(x: 1)}", None),
    ("{a}", None),
    ('{a(x: "unterminated ()}', None),
])  # fmt: skip
def test_only_empty_argument_tokens_are_cut(sent: str, read: str | None) -> None:
    assert without_empty_argument_lists(sent) == read


def test_a_document_that_still_does_not_parse_is_left_to_the_parser() -> None:
    assert parsed_without_empty_arguments("{savedFilters(){id}", {}) is None
    assert parsed_without_empty_arguments("{savedFilters(){id}}", {}) is not None


def test_the_parse_options_still_apply() -> None:
    """The token limit the schema sets (document limits) holds for the rewritten text too."""
    assert parsed_without_empty_arguments("{a(){b c d e f g h}}", {"max_tokens": 5}) is None
