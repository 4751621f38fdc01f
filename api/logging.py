"""structlog set-up: one line per event, JSON in production, readable on a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

from api.settings import Settings


class WithoutQueryStrings(logging.Filter):
    """uvicorn's access lines without the query string: a GET to ``/graphql`` carries the whole
    document there (a key secret typed into ``apiKeyUser`` included), and the console's searches."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs '%s - "%s %s HTTP/%s" %d' with (client, method, path?query, version, status).
        if isinstance(record.args, tuple) and len(record.args) == 5 and isinstance(record.args[2], str):
            client, method, target, version, status = record.args
            record.args = (client, method, str(target).partition("?")[0], version, status)
        return True


ACCESS_LOG_FILTER = WithoutQueryStrings()


def configure_logging(settings: Settings) -> None:
    """structlog for every process: JSON lines or a console renderer, at the configured level."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # On the logger, not a handler: uvicorn (re)configures the handlers, and keeps a logger's filters.
    logging.getLogger("uvicorn.access").addFilter(ACCESS_LOG_FILTER)
