"""Checking what a late answer did: the console must show its newest load, whatever order answers arrive in.

A test holds an answer back (``page.route``), lets a newer load finish, releases the old answer, waits
until the page has read it, and only then checks the page, once: an ``expect`` that retries would
wait for the view's next refresh to mend a wrong page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from playwright.async_api import Page, Request, Route

from tests.support.polling import poll


async def note_answers_read(page: Page) -> None:
    """Note every answer the page reads from now on (``window.answersRead``).

    Once a late answer is noted, the code that awaited it has run to its end: it runs in microtasks,
    before the task of the next ``evaluate``. A test can then check, once, what that answer did."""
    await page.evaluate(
        """() => {
            window.answersRead = [];
            const read = Response.prototype.json;
            Response.prototype.json = async function () {
                const answer = await read.call(this);
                window.answersRead.push(answer);
                return answer;
            };
        }"""
    )


async def until_read(page: Page, condition: str, what: str) -> None:
    """Wait until the page has read an answer for which the JavaScript ``condition`` on ``answer`` holds."""
    read = f"() => window.answersRead.some((answer) => {condition})"
    await poll(lambda: page.evaluate(read), what=f"the page to read {what}")


class HeldAnswer:
    """The answer to the first request that ``matches``: the server answers at once (what was true
    then), and the page gets that answer only on ``release()``."""

    def __init__(self, matches: Callable[[Request], bool]) -> None:
        self.matches = matches
        self.request: Request | None = None
        self.answered = asyncio.Event()
        self.released = asyncio.Event()

    async def handle(self, route: Route, request: Request) -> None:
        if self.request is not None or not self.matches(request):
            await route.continue_()
            return
        self.request = request
        answer = await route.fetch()
        self.answered.set()
        await self.released.wait()
        await route.fulfill(response=answer)

    async def until_held(self) -> None:
        """Wait until the server has answered the held request: a change made afterwards is not in it."""
        await poll(self.answered.is_set, what="the server to answer the held request")

    def release(self) -> None:
        self.released.set()


async def hold_first_answer(page: Page, matches: Callable[[Request], bool]) -> HeldAnswer:
    """Hold the answer to the page's next GraphQL request that ``matches``; see ``HeldAnswer``."""
    held = HeldAnswer(matches)
    await page.route("**/graphql", held.handle)
    return held


def operation_is(request: Request, words: str, **variables: object) -> bool:
    """Whether ``request`` sends a document containing ``words`` with these variable values."""
    sent = request.post_data_json or {}
    given = sent.get("variables") or {}
    return words in sent.get("query", "") and all(given.get(name) == value for name, value in variables.items())
