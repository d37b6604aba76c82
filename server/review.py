"""The review page, `/review`: the pairs API in a browser, driven from the keyboard.

The page (`server/static/review.html`, one file, no framework, nothing fetched from
elsewhere) carries no data, so it needs no token. Its script calls `/api/v1/pairs`
with the token, which it reads from the URL fragment (`/review#token=…`: browsers
never send a fragment to the server) or asks for once, and keeps in the tab's
sessionStorage. `overlay review` opens it with the fragment.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

page = APIRouter(include_in_schema=False)

PAGE = files("server") / "static" / "review.html"


def content_policy(html: str) -> str:
    """A Content-Security-Policy that runs only the page's own inline script and style,
    and lets it talk to this server alone: pair text can never become code."""
    sources = {}
    for tag in ("script", "style"):
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies)
        sources[tag] = " ".join(f"'sha256-{digest}'" for digest in digests) or "'none'"
    return (
        f"default-src 'none'; script-src {sources['script']}; style-src {sources['style']}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


@page.get("/review", response_class=HTMLResponse)
def review_page() -> HTMLResponse:
    """The review page; `/review#token=…` signs it in."""
    html = PAGE.read_text(encoding="utf-8")
    headers = {
        "Content-Security-Policy": content_policy(html),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(html, headers=headers)
