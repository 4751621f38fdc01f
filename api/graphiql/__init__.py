"""GraphiQL from this service's own files: the page and every asset it loads are served here.

strawberry's page loads React and GraphiQL from a CDN and stays at "Loading..." without internet;
audit services often run in closed networks.  The vendored versions and their licences are listed
in ``static/vendor/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/graphql/static"


def graphiql_page() -> str:
    """The HTML of ``GET /graphql``: no inline script, no other origin."""
    return (HERE / "index.html").read_text(encoding="utf-8")


def graphiql_routes() -> list[BaseRoute]:
    """The page's scripts and styles, to add to the app beside ``/graphql``."""
    return [Mount(STATIC_PATH, app=StaticFiles(directory=STATIC_DIR), name="graphiql-static")]


__all__ = ["STATIC_PATH", "graphiql_page", "graphiql_routes"]
