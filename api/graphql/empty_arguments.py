"""Empty argument lists, ``field()``, read as no argument list.

The GraphQL grammar has no empty argument list, and graphql-core refuses ``savedFilters()`` as a
syntax error.  Spacelift's Terraform provider sends exactly that from its ``spacelift_saved_filters``
data source (``{savedFilters(){id,name,data,type,isPublic,createdBy}}``), and Spacelift's server
answers it: compatibility is the clients' documents, so a document that only fails for its empty
parentheses is read without them.

The parentheses are found by graphql-core's own lexer, so ``()`` inside a string or a comment is
left alone, and only an opening parenthesis followed directly by a closing one goes.  The result is
parsed as any document is; when it does not parse either (or there was nothing to remove), nothing is
returned and the document as sent gets the parser's usual error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graphql import DocumentNode, GraphQLError, Source, parse
from graphql.language import Lexer, TokenKind

MAY_HAVE_EMPTY_ARGUMENTS = re.compile(r"\([\s,]*\)")
"""Commas are insignificant in GraphQL, like white space: ``( , )`` is empty too."""


def without_empty_argument_lists(query: str) -> str | None:
    """``query`` with every ``()`` token pair cut out; None when it has none or does not lex."""
    if not MAY_HAVE_EMPTY_ARGUMENTS.search(query):
        return None
    lexer = Lexer(Source(query))
    cuts: list[tuple[int, int]] = []
    try:
        previous, token = None, lexer.advance()
        while token.kind != TokenKind.EOF:
            if token.kind == TokenKind.PAREN_R and previous is not None and previous.kind == TokenKind.PAREN_L:
                cuts.append((previous.start, token.end))
            previous, token = token, lexer.advance()
    except GraphQLError:
        return None
    if not cuts:
        return None
    kept, position = [], 0
    for start, end in cuts:
        kept.append(query[position:start])
        position = end
    kept.append(query[position:])
    return "".join(kept)


def parsed_without_empty_arguments(query: str, parse_options: Mapping[str, Any]) -> DocumentNode | None:
    """The document ``query`` is once its empty argument lists are cut out, or None (see the module)."""
    rewritten = without_empty_argument_lists(query)
    if rewritten is None:
        return None
    try:
        return parse(rewritten, **parse_options)
    except GraphQLError:
        return None
