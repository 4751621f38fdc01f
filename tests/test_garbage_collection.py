"""The API process collects its youngest generation of garbage less often than CPython's default."""

from __future__ import annotations

import gc

from api.app import YOUNG_COLLECTION_EVERY, create_app
from api.settings import Settings


async def test_a_started_api_collects_young_garbage_every_10000_allocations(settings: Settings) -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        app = create_app(settings)
        assert gc.get_threshold() == (700, 10, 10), "building the app alone changes nothing"
        async with app.router.lifespan_context(app):
            assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, 10, 10) == (10_000, 10, 10)
    finally:
        gc.set_threshold(*before)
