"""Meta's webhook scheme, shared by WhatsApp and Messenger: the GET subscription handshake and
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`` on every POST."""

from __future__ import annotations

import hashlib
import hmac
import logging

from aiohttp import web

SIGNATURE_HEADER = "X-Hub-Signature-256"


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def subscription(request: web.Request, verify_token: str, log: logging.Logger) -> web.Response:
    """Answer Meta's handshake: the challenge as text for the right token, else 403."""
    query = request.query
    token = query.get("hub.verify_token", "").encode()
    if query.get("hub.mode") != "subscribe" or not (
        verify_token and hmac.compare_digest(token, verify_token.encode())
    ):
        log.warning("webhook_verify_refused", extra={"fields": {"mode": query.get("hub.mode")}})
        return error(403, "bad_verify_token", "hub.mode or hub.verify_token is wrong")
    if not query.get("hub.challenge"):
        return error(400, "missing_field", "missing query parameter hub.challenge")
    log.info("webhook_verified")
    return web.Response(text=query["hub.challenge"], content_type="text/plain")


def signature_matches(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC-SHA256(secret, body)>``, in constant time."""
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, given.lower().encode())


def refuse_signature(
    request: web.Request, body: bytes, secret: bytes, log: logging.Logger
) -> web.Response | None:
    """None when the raw body carries the app's signature; else the 401/403 to answer."""
    header = request.headers.get(SIGNATURE_HEADER, "")
    if header and signature_matches(secret, body, header):
        return None
    log.warning(
        "webhook_signature_refused",
        extra={"fields": {"path": request.path, "signed": bool(header)}},
    )
    if not header:
        return error(401, "missing_signature", f"the {SIGNATURE_HEADER} header is missing")
    return error(403, "bad_signature", f"{SIGNATURE_HEADER} does not match this request's body")
