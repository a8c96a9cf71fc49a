"""Messenger's inbound side: the verification handshake and signed event webhooks.

``GET /webhooks/messenger`` answers Meta's subscription check (``hub.mode=subscribe`` with our
verify token → the challenge as plain text, else 403). Every ``POST`` must carry
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``, checked in constant
time on the bytes as received: Meta signs its own serialisation (non-ASCII as ``\\uXXXX``,
``/`` as ``\\/``), so the body is never re-encoded before the check.

One POST may batch several entries and events. Customer messages and postbacks are handed to
``handle`` in order (the Get Started button's postback, whose payload is ``get_started_payload``
as set in the Page's Messenger profile, is the chat's opener: ``MessageKind.OPENER``, which the
router greets; a message without text whose attachments we cannot keep, such as a shared
location, is ``MessageKind.MEDIA``); delivery events go to ``report`` once per message id; our own messages
echoed back (``is_echo``), read receipts (a watermark without message ids: nothing to match a
single message by), reactions, opt-ins and other events are ignored. If storing fails, Meta
gets a 503 and resends the whole batch later; events already stored are dropped by the
router's dedupe (their ``external_id`` is the message id).

Webhooks carry no names. With the page access token given, the sender's first and last name
are fetched from the Graph API (``GET /{version}/{PSID}?fields=first_name,last_name``), cached
per PSID; a failed lookup never fails the message (it arrives without a name) and pauses
lookups for a few minutes so a Graph outage cannot slow every webhook past Meta's deadline.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from channels import meta
from channels.base import Attachment, Handle, InboundMessage, MessageKind, Report
from channels.errors import ChannelError
from channels.intake import store_each
from channels.messenger_api import CHANNEL, DEFAULT_API_VERSION, DEFAULT_BASE_URL, GraphApi
from routing.ingest import BadJson, load_json
from storage.models import DeliveryState

__all__ = ["GET_STARTED", "PATH", "QUICK_REPLY_PREFIX", "MessengerWebhooks"]

PATH = "/webhooks/messenger"
# The payload the Page's Get Started button sends (``get_started.payload`` in its Messenger
# profile), unless configured otherwise.
GET_STARTED = "GET_STARTED"
SIGNATURE_HEADER = meta.SIGNATURE_HEADER
# Our quick replies' payloads: this prefix and the full label (titles are cut to 20 characters).
QUICK_REPLY_PREFIX = "sb:text:"
PROFILE_PAUSE = 300.0  # seconds without profile lookups after one failed
# Content types by Messenger's attachment type, when the file name does not tell.
CONTENT_TYPES = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/mp4",
    "file": "application/octet-stream",
    "fallback": "text/uri-list",  # a shared link
}
log = logging.getLogger("switchboard.messenger")


class Malformed(ValueError):
    """The payload lacks something every event of its kind has."""


@dataclass(frozen=True)
class Delivered:
    mids: tuple[str, ...]


class MessengerWebhooks:
    def __init__(
        self,
        *,
        handle: Handle,
        report: Report,
        verify_token: str,
        app_secret: str,
        page_access_token: str = "",
        api_base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        get_started_payload: str = GET_STARTED,
        profile_timeout: float = 3.0,
        profiles: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not verify_token or not app_secret:
            raise ValueError("Messenger webhooks need a verify token and the app secret")
        self._handle = handle
        self._report = report
        self._verify_token = verify_token
        self._app_secret = app_secret.encode()
        self._get_started = get_started_payload
        self._graph = (
            GraphApi(
                base_url=api_base_url,
                access_token=page_access_token,
                version=api_version,
                app_secret=app_secret,
                timeout=profile_timeout,
            )
            if page_access_token
            else None
        )
        self._names: OrderedDict[str, str | None] = OrderedDict()
        self._remember = profiles
        self._clock = clock
        self._paused_until = 0.0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.verify)
        app.router.add_post(PATH, self.receive)
        app.on_cleanup.append(self._cleanup)

    async def _cleanup(self, _app: web.Application) -> None:
        await self.close()

    async def close(self) -> None:
        if self._graph is not None:
            await self._graph.close()

    async def verify(self, request: web.Request) -> web.Response:
        return meta.subscription(request, self._verify_token, log)

    async def receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        refused = self._refuse_signature(request, raw)
        if refused is not None:
            return refused
        try:
            payload = load_json(raw)
            if not isinstance(payload, dict):
                raise Malformed("the body is not a JSON object")
            events = parse(payload, get_started=self._get_started)
        except BadJson as exc:
            return _error(400, exc.code, exc.message)
        except Malformed as exc:
            return _error(400, "missing_field", str(exc))
        if not await store_each(events, self._deliver, log, CHANNEL):
            return _error(503, "unavailable", "could not store the events")  # Meta resends
        return web.Response(text="EVENT_RECEIVED", content_type="text/plain")

    async def _deliver(self, event: InboundMessage | Delivered) -> None:
        if isinstance(event, Delivered):
            for mid in event.mids:
                await self._report(mid, DeliveryState.DELIVERED, None)
        else:
            await self._handle(await self._named(event))

    def _refuse_signature(self, request: web.Request, raw: bytes) -> web.Response | None:
        return meta.refuse_signature(request, raw, self._app_secret, log)

    async def _named(self, message: InboundMessage) -> InboundMessage:
        name = await self._name(message.address)
        return replace(message, display_name=name) if name else message

    async def _name(self, psid: str) -> str | None:
        if psid in self._names:
            self._names.move_to_end(psid)
            return self._names[psid]
        if self._graph is None or self._clock() < self._paused_until:
            return None
        try:
            profile = await self._graph.profile(psid)
        except ChannelError as exc:
            self._paused_until = self._clock() + PROFILE_PAUSE
            log.warning("messenger_profile_failed", extra={"fields": {"error": str(exc)}})
            return None
        first, last = profile.get("first_name"), profile.get("last_name")
        name = " ".join(str(part).strip() for part in (first, last) if part) or None
        self._names[psid] = name
        while len(self._names) > self._remember:
            self._names.popitem(last=False)
        return name


def parse(
    payload: dict[str, Any], *, get_started: str = GET_STARTED
) -> list[InboundMessage | Delivered]:
    """The payload's customer messages, postbacks and deliveries, in order; a postback with
    the ``get_started`` payload is the chat's opener."""
    if payload.get("object") != "page":
        log.warning("messenger_ignored_object", extra={"fields": {"object": payload.get("object")}})
        return []
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise Malformed("missing field: entry (a list)")
    events: list[InboundMessage | Delivered] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise Malformed("an entry is not an object")
        messaging = entry.get("messaging", [])  # "standby" (handover protocol): not ours
        if not isinstance(messaging, list):
            raise Malformed("entry.messaging is not a list")
        for item in messaging:
            event = _event(item, get_started)
            if event is not None:
                events.append(event)
    return events


def _event(item: Any, get_started: str) -> InboundMessage | Delivered | None:
    if not isinstance(item, dict):
        raise Malformed("a messaging event is not an object")
    if isinstance(item.get("delivery"), dict):
        mids = item["delivery"].get("mids") or []  # Meta may send only a watermark
        return Delivered(tuple(str(mid) for mid in mids if mid))
    message, postback = item.get("message"), item.get("postback")
    if isinstance(message, dict) and message.get("is_echo"):
        return None  # one of ours (or the page's inbox), echoed back
    if not isinstance(message, dict) and not isinstance(postback, dict):
        kind = next((key for key in item if key not in _ENVELOPE), "unknown")
        log.debug("messenger_event_ignored", extra={"fields": {"kind": kind}})
        return None
    sender = item.get("sender")
    psid = str(sender.get("id") or "") if isinstance(sender, dict) else ""
    if not psid:
        raise Malformed("missing field: sender.id")
    recipient = item.get("recipient")
    meta = {
        "page_id": str(recipient.get("id")) if isinstance(recipient, dict) else None,
        "timestamp": item.get("timestamp"),
    }
    if isinstance(message, dict):
        return _message(psid, message, meta)
    assert isinstance(postback, dict)
    return _postback(psid, postback, item.get("timestamp"), meta, get_started)


_ENVELOPE = frozenset({"sender", "recipient", "timestamp"})


def _message(psid: str, message: dict[str, Any], meta: dict[str, Any]) -> InboundMessage:
    if not message.get("mid"):
        raise Malformed("missing field: message.mid")
    text = str(message.get("text") or "")
    quick_reply = message.get("quick_reply")
    payload = str(quick_reply.get("payload") or "") if isinstance(quick_reply, dict) else ""
    if payload:
        meta["quick_reply_payload"] = payload
        if payload.startswith(QUICK_REPLY_PREFIX):
            text = payload.removeprefix(QUICK_REPLY_PREFIX)  # the full title, not the cut label
    reply_to = message.get("reply_to")
    replied = str(reply_to.get("mid") or "") if isinstance(reply_to, dict) else ""
    attachments = _attachments(message.get("attachments"))
    # Nothing in words and no file we keep (a shared location): named for the agents.
    unkept = "" if text or attachments else _unkept(message.get("attachments"))
    return InboundMessage(
        channel=CHANNEL,
        address=psid,
        text=unkept or text,
        external_id=str(message["mid"]),
        thread_ids=(replied,) if replied else (),
        attachments=attachments,
        kind=MessageKind.MEDIA if unkept else MessageKind.TEXT,
        meta={key: value for key, value in meta.items() if value is not None},
    )


def _postback(
    psid: str, postback: dict[str, Any], timestamp: Any, meta: dict[str, Any], get_started: str
) -> InboundMessage:
    title, payload = str(postback.get("title") or ""), str(postback.get("payload") or "")
    if not title and not payload:
        raise Malformed("missing field: postback.title")
    meta["postback_payload"] = payload
    referral = postback.get("referral")
    if isinstance(referral, dict) and referral.get("ref"):
        meta["referral"] = str(referral["ref"])  # an m.me link's ?ref=
    return InboundMessage(
        channel=CHANNEL,
        address=psid,
        text=title or payload,
        external_id=str(postback.get("mid") or f"pb:{psid}:{timestamp}"),
        kind=MessageKind.OPENER if payload and payload == get_started else MessageKind.TEXT,
        meta={key: value for key, value in meta.items() if value is not None},
    )


def _attachments(items: Any) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for n, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("payload"), dict):
            continue
        payload, url = item["payload"], item["payload"].get("url")
        if not url:
            continue  # templates, locations: nothing to fetch
        kind = str(item.get("type") or "file")
        name = unquote(urlsplit(str(url)).path.rsplit("/", 1)[-1]) or f"{kind}-{n}"
        if kind == "fallback":
            name = str(item.get("title") or payload.get("title") or name)
        guessed = mimetypes.guess_type(name)[0] if kind != "fallback" else None
        content_type = guessed or CONTENT_TYPES.get(kind, "application/octet-stream")
        found.append(Attachment(name=name, content_type=content_type, size=0, url=str(url)))
    return tuple(found)


def _unkept(items: Any) -> str:
    """The kinds of attachments without a file to keep, as "[location]"; empty for none."""
    kinds = sorted(
        {str(item.get("type") or "attachment") for item in items if isinstance(item, dict)}
        if isinstance(items, list)
        else ()
    )
    return f"[{', '.join(kinds)}]" if kinds else ""


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
