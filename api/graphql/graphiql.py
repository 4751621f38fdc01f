"""GraphiQL at ``/graphql``: our page (strawberry's writes queries into the URL and keeps headers in
localStorage) with a Content-Security-Policy that allows exactly what it loads.

Its inline script and style are allowed by their hashes, not by ``'unsafe-inline'``; the scripts and
stylesheets it loads from unpkg are named one by one (and pinned by their integrity hashes in the
page); GraphiQL's stylesheet imports its fonts from Google Fonts.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from api.security_headers import security_headers

PAGE = (Path(__file__).parent / "static" / "graphiql.html").read_text(encoding="utf-8")
_INLINE = r"<{tag}>(.*?)</{tag}>"
_LOADED = r'<{tag}\b[^>]*\s{attribute}="(https://[^"]+)"'


def _hashes(tag: str) -> list[str]:
    """CSP sources for every inline ``<tag>`` of the page, by the SHA-256 of its text."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"
        for text in re.findall(_INLINE.format(tag=tag), PAGE, re.DOTALL)
    ]


def _loaded(tag: str, attribute: str) -> list[str]:
    """The URLs the page's ``<tag attribute=...>`` elements load."""
    return re.findall(_LOADED.format(tag=tag, attribute=attribute), PAGE)


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src " + " ".join(_hashes("script") + _loaded("script", "src")),
        "style-src " + " ".join(_hashes("style") + _loaded("link", "href") + ["https://fonts.googleapis.com/css2"]),
        "font-src https://fonts.gstatic.com",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)
HEADERS = {**security_headers(CONTENT_SECURITY_POLICY), "cache-control": "no-cache"}
