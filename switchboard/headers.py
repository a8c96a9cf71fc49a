"""Security headers on every response (docs/architecture.md, "Security headers").

* Everywhere: ``X-Content-Type-Options: nosniff`` (a file is only what its Content-Type says)
  and ``Referrer-Policy: no-referrer`` (a console URL names conversations; links in chats and
  articles must not tell other sites about it).
* The console: a Content-Security-Policy that runs only our own script files (no inline
  script, no inline event handlers, no eval), loads nothing from elsewhere, and may not be
  framed (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, against clickjacking).
* The chat widget's own pages (``/chat/``): the same script rules, but no frame-ancestors
  limit: the chat is meant to be embedded in other sites. The demo page keeps its inline
  styles, like the shop it stands for.
* The feedback pages behind the emails' vote links: our one script file, inline styles.
* Everything else (the JSON API, webhooks): nothing runs, nothing loads, nothing may frame it.
  Every policy but the chat's forbids framing.
"""

from __future__ import annotations

from aiohttp import web

_SCRIPTS = "script-src 'self'; object-src 'none'; base-uri 'none'"
CONSOLE_CSP = (
    f"default-src 'self'; {_SCRIPTS}; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
)
CHAT_CSP = (
    f"default-src 'self'; {_SCRIPTS}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'"
)
FEEDBACK_CSP = (
    f"default-src 'none'; {_SCRIPTS}; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'"
)
OTHER_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An ``on_response_prepare`` hook: error answers and redirects get them too."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    path = request.path
    if path == "/chat" or path.startswith("/chat/"):
        headers["Content-Security-Policy"] = CHAT_CSP
        return
    if path == "/console" or path.startswith("/console/"):
        headers["Content-Security-Policy"] = CONSOLE_CSP
    elif path.startswith("/feedback/"):
        headers["Content-Security-Policy"] = FEEDBACK_CSP
    else:
        headers["Content-Security-Policy"] = OTHER_CSP
    headers["X-Frame-Options"] = "DENY"
