"""Web-chat visitor ids: secrets only the server issues.

A visitor id is the chat's address, and whoever holds it reads that visitor's conversation. So
the server mints it (a random part and an HMAC of it under the deployment's secret key) and
takes back only ids it minted: any other id a client sends gets a fresh one, so nobody can pick
an id, or guess one. Proving an email rotates the id (``channels.webchat``), so an id seen
before the proof does not lead to the customer's history after it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import TypeGuard

_FORM = re.compile(r"[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}")


class VisitorIds:
    def __init__(self, secret_key: bytes) -> None:
        # A key of its own, so nothing else signed with the secret key reads as a visitor id.
        self._key = hmac.new(secret_key, b"switchboard webchat visitor id", hashlib.sha256).digest()

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac(nonce)}"

    def issued(self, value: object) -> TypeGuard[str]:
        """True for an id this deployment minted."""
        if not isinstance(value, str) or not _FORM.fullmatch(value):
            return False
        nonce, mac = value.split(".")
        return hmac.compare_digest(mac, self._mac(nonce))

    def _mac(self, nonce: str) -> str:
        digest = hmac.new(self._key, nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:22]
