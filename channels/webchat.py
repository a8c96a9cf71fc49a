"""Live web chat: the embeddable widget, its WebSocket, and the outbound side.

Inbound: ``GET /chat/ws`` speaks the JSON frames in docs/protocol.md; a customer message is
acknowledged only after the router has stored it. Outbound: ``send`` publishes to the
customer's hub topic, which reaches their socket on whichever process holds it; a customer who
is not connected gets everything on their next ``hello``.

Pub/sub can lose events (a Redis blip): when the hub marks a subscription for a resync, the
socket catches up from the database with every reply it has not shown yet, in order; each
socket remembers the ids it has shown, so nothing reaches it twice (docs/architecture.md).

An answer the customer may rate carries ``feedback`` (the two button labels in their language);
the widget shows them under it, and a press sends the label as an ordinary message, which the
router reads as the vote (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from channels.base import DeliveryReceipt, InboundMessage, OutboundMessage
from channels.buttons import asks_feedback, feedback_labels
from channels.visitor_ids import VisitorIds
from routing import views
from routing.hub import CONSOLE, Hub, Subscription, customer_topic
from routing.identify import ChatIdentity, IdentifyError
from routing.ingest import BadJson, load_json, storable
from routing.router import Router
from storage.models import AuthorKind, ConversationStatus, DeliveryState, Touchpoint

log = logging.getLogger("switchboard.webchat")
CHANNEL = "webchat"
STATIC = Path(__file__).resolve().parent / "static"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Sent on a visitor's old topic when their id is rotated: their other sockets must reconnect.
_ROTATED = "visitor_rotated"
ROTATED_CLOSE = 4001  # the close code those sockets get; the widget reconnects with the new id
_FRAME_FIELDS = {
    "hello": {"visitor_id", "locale"},
    "message": {"client_id", "text"},
    "delivered": {"ids"},
    "typing": {"on"},
    "ping": set(),
    "identify": {"email", "name", "signature"},
    "verify": {"code"},
}


class FrameError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        client_id: str | None = None,
        request: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id
        self.request = request  # "identify" / "verify": the widget shows it by its email form


class WebChatAdapter:
    name = CHANNEL

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        frame = {
            "type": "message",
            "message": {
                "id": message.touchpoint_id,
                "author": message.author_kind.value,
                "author_name": message.author_name,
                "text": message.text,
                "created_at": message.created_at.isoformat(),
                "state": DeliveryState.SENT.value,
                "client_id": None,
                "suggestions": [
                    {"article_id": s.article_id, "title": s.title} for s in message.suggestions
                ],
                "feedback": feedback_buttons(message.meta, message.meta.get("locale")),
            },
        }
        await self._hub.publish(customer_topic(CHANNEL, message.address), frame)
        return DeliveryReceipt(state=DeliveryState.SENT)


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    visitor: str | None = None
    conversation_id: int | None = None
    status: ConversationStatus | None = None
    locale: str | None = None
    subscription: Subscription | None = None
    forwarder: asyncio.Task[None] | None = None
    shown: set[int] = field(default_factory=set)  # message ids this socket has sent
    read: set[int] = field(default_factory=set)  # the customer's messages it has shown as read


class WebChatEndpoint:
    def __init__(
        self,
        router: Router,
        hub: Hub,
        identity: ChatIdentity,
        visitor_ids: VisitorIds,
        *,
        max_chars: int,
        max_frame_bytes: int,
    ) -> None:
        self._router = router
        self._hub = hub
        self._identity = identity
        self._ids = visitor_ids
        self._max_chars = max_chars
        self._max_frame = max_frame_bytes

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/chat/ws", self.socket)
        app.router.add_get("/chat/widget.js", _static("widget.js", "application/javascript"))
        app.router.add_get("/chat/", _static("demo.html", "text/html"))
        app.router.add_get("/chat", _redirect("/chat/"))

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        # Frames far over the chat limit are refused by aiohttp itself (close 1009); anything up
        # to the frame limit is read and answered with an error frame, keeping the socket open.
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=self._max_frame)
        await ws.prepare(request)
        self._hub.track(ws)
        state = _Socket(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._frame(state, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await _send_error(ws, FrameError("bad_frame", "send JSON text frames"))
        finally:
            if state.forwarder:
                state.forwarder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await state.forwarder
            if state.subscription:
                await state.subscription.close()
        return ws

    async def _frame(self, state: _Socket, data: str) -> None:
        try:
            frame = _parse(data)
            kind = frame["type"]
            if kind == "ping":
                await state.ws.send_json({"type": "pong"})
            elif kind == "hello":
                await self._hello(state, frame)
            elif state.visitor is None:
                raise FrameError("hello_first", "send a hello frame first")
            elif kind == "message":
                await self._message(state, frame)
            elif kind == "delivered":
                await self._delivered(state, frame)
            elif kind in ("identify", "verify"):
                await self._identify(state, kind, frame)
            elif kind == "typing":
                if state.conversation_id is not None:
                    await self._hub.publish(
                        CONSOLE,
                        {
                            "type": "typing",
                            "conversation_id": state.conversation_id,
                            "on": bool(frame.get("on")),
                        },
                    )
        except FrameError as exc:
            await _send_error(state.ws, exc)
        except ConnectionResetError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            # The socket boundary: nothing was acknowledged, so the widget keeps the message
            # and may resend it with the same client_id once we are healthy again.
            log.exception("webchat_frame_failed")
            client_id = _client_id_of(data)
            await _send_error(
                state.ws,
                FrameError(
                    "unavailable", "the message could not be stored; please retry", client_id
                ),
            )

    async def _hello(self, state: _Socket, frame: dict[str, Any]) -> None:
        if state.visitor is not None:
            raise FrameError("already_greeted", "hello was already sent on this connection")
        visitor = frame.get("visitor_id")
        if not self._ids.issued(visitor):  # none, or one we never issued: a new visitor
            visitor = self._ids.issue()
        locale = frame.get("locale")
        state.locale = locale if isinstance(locale, str) and len(locale) <= 16 else None
        # Subscribe before reading history so nothing published in between is missed.
        state.subscription = await self._hub.subscribe(customer_topic(CHANNEL, visitor))
        state.visitor = visitor
        conv, items, names = await self._router.customer_timeline(CHANNEL, visitor)
        state.conversation_id = conv.id if conv else None
        state.status = conv.status if conv else None
        state.shown = {t.id for t in items}
        state.read = {t.id for t in items if _read_own_message(t)}
        policy = self._identity.policy
        await state.ws.send_json(
            {
                "type": "welcome",
                "visitor_id": visitor,
                "identity": {
                    "email": await self._identity.known_email(CHANNEL, visitor),
                    "verify_by_code": policy.by_code,
                    "signed": bool(policy.secret),
                },
                "conversation": {
                    "id": conv.id,
                    "status": conv.status.value,
                    "reference": conv.reference,
                }
                if conv
                else None,
                "history": [
                    views.customer_message(t, names.get(t.agent_id or 0))
                    | {"feedback": feedback_buttons(t.meta or {}, conv.locale if conv else None)}
                    for t in items
                ],
            }
        )
        state.forwarder = asyncio.create_task(
            state.subscription.pump(partial(self._forward, state), partial(self._catch_up, state))
        )

    async def _forward(self, state: _Socket, event: dict[str, Any]) -> None:
        """A live event, unless this socket already showed it (a catch-up got there first)."""
        if event.get("type") == _ROTATED:
            # The visitor proved an email on another socket: this one holds the old id.
            await state.ws.close(code=ROTATED_CLOSE, message=b"visitor id rotated")
            return
        if event.get("type") == "message":
            message_id = event.get("message", {}).get("id")
            if message_id in state.shown:
                return
            state.shown.add(message_id)
        elif event.get("type") == "status" and event.get("state") == DeliveryState.READ.value:
            state.read.add(event["message_id"])
        await state.ws.send_json(event)

    async def _catch_up(self, state: _Socket) -> None:
        """The hub may have lost events: send what the database has that this socket has not
        shown: replies and read receipts, in the timeline's order. Events queued behind the
        resync marker follow, less what this sent."""
        assert state.visitor is not None
        try:
            conv, items, names = await self._router.customer_timeline(CHANNEL, state.visitor)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Without the database we cannot tell what is missing: the widget reconnects and
            # its hello brings the whole timeline.
            log.exception("webchat_catch_up_failed")
            await state.ws.close(code=1011, message=b"please reconnect")
            return
        if conv is not None:
            state.conversation_id, state.status = conv.id, conv.status
        frames: list[dict[str, Any]] = []
        for t in items:
            if t.author_kind is AuthorKind.CUSTOMER:
                if _read_own_message(t) and t.id not in state.read:
                    state.read.add(t.id)
                    frames.append({"type": "status", "message_id": t.id, "state": "read"})
            elif t.id not in state.shown:
                state.shown.add(t.id)
                message = views.customer_message(t, names.get(t.agent_id or 0))
                if message["state"] == DeliveryState.PENDING.value:
                    message["state"] = DeliveryState.SENT.value  # as the outbox's frame says
                message["feedback"] = feedback_buttons(t.meta or {}, conv.locale if conv else None)
                frames.append({"type": "message", "message": message})
        if frames:
            log.info("webchat_caught_up", extra={"fields": {"frames": len(frames)}})
        for frame in frames:
            await state.ws.send_json(frame)

    async def _rotate(self, state: _Socket, new: str) -> None:
        """Move this socket to the visitor's new id (already stored by the identify step)."""
        old = state.visitor
        assert old is not None
        subscription = await self._hub.subscribe(customer_topic(CHANNEL, new))
        if state.forwarder:
            state.forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await state.forwarder
        if state.subscription:
            await state.subscription.close()
        state.visitor, state.subscription = new, subscription
        state.forwarder = asyncio.create_task(
            subscription.pump(partial(self._forward, state), partial(self._catch_up, state))
        )
        await self._hub.publish(customer_topic(CHANNEL, old), {"type": _ROTATED})

    async def _message(self, state: _Socket, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            raise FrameError("bad_client_id", "client_id must be 1-64 letters, digits or -_.:")
        text = frame.get("text")
        if not isinstance(text, str):
            raise FrameError("bad_text", "text must be a string", client_id)
        text = storable(text).strip()  # the ingest rule, before judging what is left
        if not text:
            raise FrameError("empty_message", "the message is empty", client_id)
        if len(text) > self._max_chars:
            raise FrameError(
                "message_too_long",
                f"messages are limited to {self._max_chars} characters",
                client_id,
            )
        assert state.visitor is not None
        # Show the bot "typing" while it works; sent before the reply can possibly arrive.
        bot_turn = state.status in (None, ConversationStatus.BOT, ConversationStatus.CLOSED)
        if bot_turn:
            await state.ws.send_json({"type": "typing", "author": "bot", "on": True})
        result = await self._router.handle_inbound(
            InboundMessage(
                channel=CHANNEL,
                address=state.visitor,
                text=text,
                external_id=f"{state.visitor}:{client_id}",
                locale=state.locale,
                meta={"client_id": client_id},
            )
        )
        state.conversation_id = result.conversation.id
        state.status = result.conversation.status
        await state.ws.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "message": views.customer_message(result.touchpoint),
            }
        )
        if bot_turn and not any(r.author_kind is AuthorKind.BOT for r in result.replies):
            # A duplicate, an escalation, or the humans have it: the bot will not speak.
            await state.ws.send_json({"type": "typing", "author": "bot", "on": False})

    async def _identify(self, state: _Socket, kind: str, frame: dict[str, Any]) -> None:
        """An email the visitor gives: signed by the website (linked at once), or to prove with
        a code sent to it (``verify`` carries the code back)."""
        assert state.visitor is not None
        new = self._ids.issue()  # a proved email rotates the visitor id
        try:
            if kind == "verify":
                found = await self._identity.verify(
                    CHANNEL, state.visitor, frame.get("code"), rotate_to=new
                )
            elif frame.get("signature") is not None:
                found = await self._identity.signed(
                    CHANNEL,
                    state.visitor,
                    frame.get("email"),
                    frame.get("signature"),
                    frame.get("name"),
                    state.locale,
                    rotate_to=new,
                )
            else:
                sent = await self._identity.send_code(
                    CHANNEL, state.visitor, frame.get("email"), state.locale
                )
                await state.ws.send_json(
                    {
                        "type": "verification_sent",
                        "email": sent.email,
                        "expires_at": sent.expires_at.isoformat(),
                    }
                )
                return
        except IdentifyError as exc:
            raise FrameError(exc.code, exc.message, request=kind) from None
        await self._rotate(state, new)
        await state.ws.send_json({"type": "identified", "email": found.email, "visitor_id": new})

    async def _delivered(self, state: _Socket, frame: dict[str, Any]) -> None:
        ids = frame.get("ids")
        if (
            not isinstance(ids, list)
            or len(ids) > 500
            or not all(
                isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= 2**62 for i in ids
            )
        ):
            raise FrameError("bad_ids", "ids must be a list of at most 500 message ids")
        assert state.visitor is not None
        await self._router.mark_delivered(CHANNEL, state.visitor, ids)


def _read_own_message(t: Touchpoint) -> bool:
    return t.author_kind is AuthorKind.CUSTOMER and t.delivery_state is DeliveryState.READ


def feedback_buttons(meta: Mapping[str, Any], locale: str | None) -> dict[str, str] | None:
    """The labels of the "was this helpful?" buttons of an answer to rate, else None."""
    if not asks_feedback(meta):
        return None
    helpful, not_helpful = feedback_labels(locale)
    return {"helpful": helpful, "not_helpful": not_helpful}


def _parse(data: str) -> dict[str, Any]:
    try:
        frame = load_json(data, what="the frame")
    except BadJson as exc:
        raise FrameError(exc.code, exc.message) from None
    if not isinstance(frame, dict):
        raise FrameError("bad_frame", "a frame must be a JSON object")
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in _FRAME_FIELDS:
        raise FrameError("unknown_type", f"unknown frame type {kind!r}")
    unknown = sorted(set(frame) - _FRAME_FIELDS[kind] - {"type"})
    if unknown:
        raise FrameError("unknown_field", f"unknown field(s) in {kind}: {', '.join(unknown)}")
    return frame


def _client_id_of(data: str) -> str | None:
    try:
        value = load_json(data).get("client_id")
    except (BadJson, AttributeError):
        return None
    return value if isinstance(value, str) and _CLIENT_ID.match(value) else None


async def _send_error(ws: web.WebSocketResponse, exc: FrameError) -> None:
    frame: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
    if exc.client_id:
        frame["client_id"] = exc.client_id
    if exc.request:
        frame["request"] = exc.request
    if not ws.closed:
        await ws.send_json(frame)


def _static(name: str, content_type: str) -> Any:
    async def handler(_request: web.Request) -> web.Response:
        path = STATIC / name
        return web.Response(
            body=path.read_bytes(),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    return handler


def _redirect(location: str) -> Any:
    async def handler(_request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler
