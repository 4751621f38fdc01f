"""Documents parsed once and kept by their text: clients send the same few documents over and over.

Parsing spacectl's page document costs more CPU than validating it (validation is cached already),
on every request.  strawberry's ``ParserCache`` parses inside the extension hook, where a syntax
error escapes the error-code extension; here the hook only looks the text up: a document not yet
seen is parsed by strawberry itself, as without the cache (errors and their codes unchanged), and
kept only once it parsed.  A refused document is therefore never stored and never parsed twice.
Parsed documents are not changed by anyone after parsing (validation and execution only read them),
so one is shared by every request that sends its text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from api.graphql.empty_arguments import parsed_without_empty_arguments


class DocumentCache:
    """The most recently used ``maxsize`` parsed documents, by their text."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()

    def get(self, query: str) -> DocumentNode | None:
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
        return document

    def put(self, query: str, document: DocumentNode) -> None:
        self._documents[query] = document
        self._documents.move_to_end(query)
        while len(self._documents) > self.maxsize:
            self._documents.popitem(last=False)

    def lend(self, execution_context: ExecutionContext) -> None:
        """Before parsing: hand strawberry the document parsed before for the request's text, or the text read
        without its empty argument lists (``empty_arguments.py``) when that alone parses; else strawberry parses."""
        query = execution_context.query
        if query and execution_context.graphql_document is None:
            execution_context.graphql_document = self.get(query) or parsed_without_empty_arguments(
                query, execution_context.parse_options
            )

    def keep(self, execution_context: ExecutionContext) -> None:
        """After parsing: keep the request's document, if it parsed."""
        query = execution_context.query
        document = execution_context.graphql_document
        if query and document is not None:
            self.put(query, document)

    def __len__(self) -> int:
        return len(self._documents)


class ParsedDocuments(SchemaExtension):
    """The cache on its own, for a schema without ``RequestHooks`` (which calls it in the service)."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache

    def on_parse(self) -> Iterator[None]:
        self.cache.lend(self.execution_context)
        yield
        self.cache.keep(self.execution_context)
