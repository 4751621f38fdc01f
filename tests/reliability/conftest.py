"""The reliability suite's own service (see ``stack.py``) and its two sizes: short in ``make test``,
long in ``make soak`` (``pytest -m soak``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.stack import Stack, start_stack, stop_stack


def sizes(short: object, soak: object) -> pytest.MarkDecorator:
    """Parametrize ``size``: the short value runs in ``make test``, the soak value only under ``-m soak``."""
    return pytest.mark.parametrize(
        "size", [pytest.param(short, id="short"), pytest.param(soak, id="soak", marks=pytest.mark.soak)]
    )


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = start_stack(tmp_path_factory.mktemp("reliability"))
    try:
        yield started
    finally:
        stop_stack(started)
