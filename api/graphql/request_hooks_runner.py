"""strawberry's extension runner for a request whose only extension is ``RequestHooks``.

strawberry's own runner builds, for each of the five stages of every request, a context manager
that looks each extension's hook up, checks what kind of function it is, wraps it with
``contextlib`` and enters it on an exit stack: about 50 µs of CPU per request for one extension.
This one calls ``RequestHooks``' steps from five small context managers, with the semantics of the
generator hooks they replace: what follows a hook's ``yield`` runs only when its stage ended without
raising, the read scope is closed in any case, and nothing is swallowed.  A stage without a step
(execution) does nothing.
"""

from __future__ import annotations

from types import TracebackType

from strawberry.extensions.context import (
    ExecutingContextManager,
    OperationContextManager,
    ParsingContextManager,
    StreamResultContextManager,
    ValidationContextManager,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext, StreamExecutionResult

from api.graphql.request_hooks import RequestHooks


class RequestHooksRunner(SchemaExtensionsRunner):
    def __init__(self, execution_context: ExecutionContext, hooks: RequestHooks) -> None:
        super().__init__(execution_context, [hooks])
        self.hooks = hooks

    def operation(self) -> OperationContextManager:
        return _Operation(self.hooks)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.hooks)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.hooks)

    def executing(self) -> ExecutingContextManager:
        return _Executing()

    def on_stream_result(self, result: StreamExecutionResult) -> StreamResultContextManager:
        return _StreamResult(self.hooks, result)


# Each subclasses the context manager strawberry's runner returns for its stage (its callers' type),
# without its constructor: nothing is looked up or wrapped per request.


class _SameWhenAwaited:
    """A stage with nothing to await: ``async with`` runs what ``with`` runs."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        return None

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc_val, exc_tb)


class _Operation(OperationContextManager):
    __slots__ = ("_hooks",)

    def __init__(self, hooks: RequestHooks) -> None:
        self._hooks = hooks

    def __enter__(self) -> None:
        raise RuntimeError("RequestHooks.on_operation closes the read scope asynchronously: execute the schema async")

    async def __aenter__(self) -> None:
        self._hooks.begin_operation()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        await self._hooks.close_operation()
        if exc_type is None:
            self._hooks.answer_operation()


class _Parsing(_SameWhenAwaited, ParsingContextManager):
    __slots__ = ("_hooks",)

    def __init__(self, hooks: RequestHooks) -> None:
        self._hooks = hooks

    def __enter__(self) -> None:
        self._hooks.begin_parsing()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self._hooks.end_parsing()


class _Validation(_SameWhenAwaited, ValidationContextManager):
    __slots__ = ("_hooks",)

    def __init__(self, hooks: RequestHooks) -> None:
        self._hooks = hooks

    def __enter__(self) -> None:
        self._hooks.begin_validation()


class _Executing(_SameWhenAwaited, ExecutingContextManager):
    __slots__ = ()

    def __init__(self) -> None:
        pass


class _StreamResult(_SameWhenAwaited, StreamResultContextManager):
    __slots__ = ("_hooks", "_stream_result")

    def __init__(self, hooks: RequestHooks, result: StreamExecutionResult) -> None:
        self._hooks = hooks
        self._stream_result = result

    def __enter__(self) -> None:
        self._hooks.begin_stream_result(self._stream_result)
