"""Twilio's voice webhooks: each request loads the call's state, asks the engine, records what
happened in the customer's history, saves the state and answers with TwiML.

The engine (``ivr/engine.py``) decides; this module does the I/O around it: the signature check,
the bot, the escalation queue, the call record, and putting a claimed call through to the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web
from twilio.twiml.voice_response import Dial, VoiceResponse

from channels.base import DeliveryReceipt, InboundMessage, OutboundMessage
from channels.errors import PermanentChannelError
from channels.phone import InvalidPhoneNumber, normalize_phone
from channels.twilio_api import TwilioApi
from channels.twilio_webhooks import TwilioSignature
from ivr.actions import Hangup, Say
from ivr.engine import Engine, IncomingCall, Step
from ivr.state import CallState
from ivr.twiml import CallbackUrls, render
from routing.errors import Conflict
from routing.router import Router
from storage.models import Agent, Call, Conversation, ConversationStatus, TouchpointKind
from storage.repos import agents as agent_repo
from storage.repos import calls as call_repo
from storage.repos import conversations as conv_repo

CHANNEL = "voice"
log = logging.getLogger("switchboard.ivr")


class VoiceAdapter:
    """The voice channel in the registry. Nothing is ever sent through the outbox to a call:
    replies are spoken in it (the channel's traits say so)."""

    name = CHANNEL

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        raise PermanentChannelError("a phone call cannot be sent a message; call the customer")


class VoiceWebhooks:
    def __init__(
        self,
        engine: Engine,
        router: Router,
        signature: TwilioSignature,
        api: TwilioApi,
        *,
        public_url: str,
        default_region: str,
        presence_timeout: timedelta,
    ) -> None:
        self.engine = engine
        self.router = router
        self.signature = signature
        self.api = api
        self.urls = CallbackUrls.under(public_url.rstrip("/") + "/webhooks/twilio/voice")
        self.region = default_region
        self.presence_timeout = presence_timeout

    def add_routes(self, app: web.Application) -> None:
        base = "/webhooks/twilio/voice"
        for path, handler in (
            ("/incoming", self.incoming),
            ("/gather", self.gather),
            ("/queue/wait", self.queue_wait),
            ("/queue/exit", self.queue_exit),
            ("/queue/connected", self.connected),
            ("/voicemail", self.voicemail),
            ("/voicemail/transcription", self.transcription),
            ("/status", self.status),
        ):
            app.router.add_post(base + path, handler)
        self.router.on_claim(CHANNEL, self.put_through)

    # ---- the caller's journey ----------------------------------------------------------

    async def incoming(self, request: web.Request) -> web.Response:
        form = await self._form(request, "CallSid", "From")
        now = self.router.clock.now()
        async with self.router.db.transaction() as session:
            known = await call_repo.by_sid(session, form["CallSid"])
        if known is not None:  # Twilio retried the request: start over, record nothing twice
            restart = self.engine.start(IncomingCall(form["From"], form.get("To", ""), now))
            await self._save(known.call_sid, restart.state)
            return _twiml(render(restart.actions, self.urls))
        caller = self._address(form["From"])
        conv = await self.router.open_conversation(
            CHANNEL,
            caller,
            f"Incoming call from {form['From']}",
            meta={"call_sid": form["CallSid"], "event": "call_started"},
        )
        step = self.engine.start(IncomingCall(form["From"], form.get("To", ""), now))
        async with self.router.db.transaction() as session:
            await call_repo.add(
                session,
                call_sid=form["CallSid"],
                conversation_id=conv.id,
                from_number=form["From"],
                to_number=form.get("To", ""),
                state=step.state.to_dict(),
                now=now,
            )
        return await self._answer(form["CallSid"], step)

    async def gather(self, request: web.Request) -> web.Response:
        form = await self._form(request, "CallSid")
        call = await self._call(form["CallSid"])
        if call is None:
            return self._unknown_call(form["CallSid"])
        state = CallState.from_dict(call.state)
        confidence = _number(form.get("Confidence"))
        step = self.engine.on_input(
            state, form.get("Digits"), form.get("SpeechResult"), confidence, self.router.clock.now()
        )
        return await self._answer(call.call_sid, step)

    async def queue_wait(self, request: web.Request) -> web.Response:
        form = await self._form(request, "CallSid")
        call = await self._call(form["CallSid"])
        if call is None:
            return self._unknown_call(form["CallSid"])
        now = self.router.clock.now()
        async with self.router.db.transaction() as session:
            conv = await conv_repo.get(session, call.conversation_id)
            position = (
                await conv_repo.queue_position(session, conv)
                if conv.status is ConversationStatus.QUEUED
                else 1
            )
            online = await agent_repo.count_online(session, now - self.presence_timeout)
        waited = int(_number(form.get("QueueTime")) or 0)
        step = self.engine.queue_wait(
            CallState.from_dict(call.state), position, waited, online, now
        )
        return await self._answer(call.call_sid, step)

    async def queue_exit(self, request: web.Request) -> web.Response:
        form = await self._form(request, "CallSid")
        call = await self._call(form["CallSid"])
        if call is None:
            return self._unknown_call(form["CallSid"])
        waited = _number(form.get("QueueTime"))
        step = self.engine.queue_exit(
            CallState.from_dict(call.state),
            form.get("QueueResult", "error"),
            int(waited) if waited is not None else None,
            self.router.clock.now(),
        )
        return await self._answer(call.call_sid, step)

    async def connected(self, request: web.Request) -> web.Response:
        form = await self._form(request, "CallSid")
        call = await self._call(form["CallSid"])
        if call is None:
            return self._unknown_call(form["CallSid"])
        step = self.engine.agent_connected(CallState.from_dict(call.state), self.router.clock.now())
        return await self._answer(call.call_sid, step)

    async def voicemail(self, request: web.Request) -> web.Response:
        form = await self._form(request, "CallSid")
        call = await self._call(form["CallSid"])
        if call is None:
            return self._unknown_call(form["CallSid"])
        url = form.get("RecordingUrl", "")
        seconds = int(_number(form.get("RecordingDuration")) or 0)
        await self.router.note(
            call.conversation_id,
            f"Voicemail ({seconds} s): {url}",
            {
                "event": "voicemail",
                "recording_url": url,
                "recording_seconds": seconds,
                "recording_sid": form.get("RecordingSid"),
                "call_sid": call.call_sid,
            },
        )
        await self._escalate(call.conversation_id, "voicemail")
        return await self._answer(
            call.call_sid, self.engine.voicemail_done(CallState.from_dict(call.state))
        )

    async def transcription(self, request: web.Request) -> web.Response:
        form = await self._form(request, "CallSid")
        call = await self._call(form["CallSid"])
        if call is not None and form.get("TranscriptionText"):
            await self.router.note(
                call.conversation_id,
                f"Voicemail transcript: {form['TranscriptionText']}",
                {
                    "event": "voicemail_transcript",
                    "recording_sid": form.get("RecordingSid"),
                    "transcript": form["TranscriptionText"],
                    "call_sid": call.call_sid,
                },
            )
        return _twiml(str(VoiceResponse()))

    async def status(self, request: web.Request) -> web.Response:
        form = await self._form(request, "CallSid")
        now = self.router.clock.now()
        async with self.router.db.transaction() as session:
            call = await call_repo.by_sid(session, form["CallSid"], lock=True)
            if call is None:
                return _twiml(str(VoiceResponse()))
            duration = _number(form.get("CallDuration"))
            summary = self.engine.call_ended(
                CallState.from_dict(call.state),
                form.get("CallStatus", "completed"),
                int(duration) if duration is not None else None,
                now,
            )
            already_ended = call.ended_at is not None
            call.status = summary.status
            call.outcome = summary.outcome.value
            call.ended_at = summary.ended_at
            call.duration_seconds = summary.duration_seconds
            conversation_id = call.conversation_id
        if not already_ended:  # a repeated callback records nothing twice
            await self.router.note(
                conversation_id,
                _summary_text(summary.to_dict()),
                {"event": "call_ended", "call_sid": form["CallSid"], "call": summary.to_dict()},
            )
        return _twiml(str(VoiceResponse()))

    # ---- an agent claimed a queued call ------------------------------------------------

    async def put_through(self, conv: Conversation, agent: Agent) -> None:
        """Redirect the caller out of the queue to the agent's phone (or Twilio Client)."""
        async with self.router.db.transaction() as session:
            call = await call_repo.live_for_conversation(session, conv.id)
        if call is None:
            await self.router.note(
                conv.id,
                "The caller is no longer on the line: call them back.",
                {"event": "call_gone"},
            )
            return
        if not (agent.phone or agent.voice_client):
            await self.router.note(
                conv.id,
                f"{agent.name} has no phone or voice client in their profile: the caller is still "
                "holding; call them back or ask an agent with a phone to take it.",
                {"event": "agent_unreachable", "call_sid": call.call_sid},
            )
            return
        step = self.engine.agent_connected(CallState.from_dict(call.state), self.router.clock.now())
        response = VoiceResponse()
        for action in step.actions:
            if isinstance(action, Say):
                response.say(action.text, language=action.language, voice=action.voice)
        dial = Dial(action=self.urls.queue_exit, method="POST")
        if agent.phone:
            dial.number(agent.phone)
        else:
            dial.client(agent.voice_client)
        response.append(dial)
        await self.api.update_call(call.call_sid, twiml=str(response))
        await self._save(call.call_sid, step.state)
        await self.router.note(
            conv.id,
            f"Call put through to {agent.name}",
            {"event": "call_connected", "call_sid": call.call_sid, "agent_id": agent.id},
        )

    # ---- shared steps --------------------------------------------------------------------

    async def _answer(self, call_sid: str, step: Step) -> web.Response:
        """Carry out what the engine asked for, save its state, answer with its TwiML."""
        call = await self._call(call_sid)
        assert call is not None
        while step.ask is not None:
            answer, locale = await self._ask_bot(call, step.ask.question, step.ask.locale)
            step = self.engine.bot_answered(step.state, answer, self.router.clock.now(), locale)
        if step.enqueue is not None:
            await self._escalate(call.conversation_id, step.enqueue.reason.value)
        if step.callback is not None:
            due = step.callback.due
            await self.router.note(
                call.conversation_id,
                f"Call back {step.callback.number}"
                + (f" from {due:%Y-%m-%d %H:%M} UTC" if due else ""),
                {
                    "event": "callback_requested",
                    "number": step.callback.number,
                    "due": due.isoformat() if due else None,
                    "call_sid": call_sid,
                },
            )
            await self._escalate(call.conversation_id, "callback_requested")
        await self._save(call_sid, step.state, queued=step.enqueue is not None)
        return _twiml(render(step.actions, self.urls))

    async def _ask_bot(
        self, call: Call, question: str, locale: str
    ) -> tuple[str | None, str | None]:
        """The caller's spoken question, through the router like any message: it is stored,
        answered or escalated there. Returns the answer to speak, or None for an agent."""
        state = CallState.from_dict(call.state)
        try:
            result = await self.router.handle_inbound(
                InboundMessage(
                    channel=CHANNEL,
                    address=self._address(call.from_number),
                    text=question,
                    external_id=f"{call.call_sid}:q{state.answers}:{len(state.path)}",
                    locale=locale,
                    meta={"spoken": True, "call_sid": call.call_sid},
                )
            )
        except Exception:  # the caller is on the line: an agent, rather than silence
            log.exception("ivr_bot_failed", extra={"fields": {"call": call.call_sid}})
            return None, None
        if result.conversation.status is not ConversationStatus.BOT:
            return None, None
        answers = [t for t in result.replies if t.kind is TouchpointKind.BOT_ANSWER]
        if not answers or answers[-1].meta.get("answered") is False:
            return None, None
        return answers[-1].text, result.conversation.locale

    async def _escalate(self, conversation_id: int, reason: str) -> None:
        try:
            await self.router.escalate(conversation_id, reason)
        except Conflict:  # already with the agents (the bot escalated, or a voicemail after)
            pass

    async def _save(self, call_sid: str, state: CallState, *, queued: bool = False) -> None:
        async with self.router.db.transaction() as session:
            call = await call_repo.by_sid(session, call_sid, lock=True)
            if call is None:
                return
            call.state = state.to_dict()
            if queued and call.queued_at is None:
                call.queued_at = self.router.clock.now()
            if state.bridged_at is not None and call.connected_at is None:
                call.connected_at = state.bridged_at

    async def _call(self, call_sid: str) -> Call | None:
        async with self.router.db.transaction() as session:
            return await call_repo.by_sid(session, call_sid)

    async def _form(self, request: web.Request, *required: str) -> dict[str, str]:
        form = await self.signature.verified_form(request)
        missing = [name for name in required if not form.get(name)]
        if missing:
            raise web.HTTPBadRequest(
                text='{"error": {"code": "missing_field", "message": "missing form field(s): '
                + ", ".join(missing)
                + '"}}',
                content_type="application/json",
            )
        # Twilio's ids and numbers are short; longer ones cannot be a real call (and no
        # column would hold them).
        too_long = [name for name in _SHORT_FIELDS if len(form.get(name, "")) > _SHORT_MAX]
        if too_long:
            raise web.HTTPBadRequest(
                text='{"error": {"code": "bad_field", "message": "too long: '
                + ", ".join(too_long)
                + '"}}',
                content_type="application/json",
            )
        return form

    def _unknown_call(self, call_sid: str) -> web.Response:
        log.warning("ivr_unknown_call", extra={"fields": {"call": call_sid}})
        return _twiml(render((Hangup(),), self.urls))

    def _address(self, raw: str) -> str:
        try:
            return normalize_phone(raw, self.region)
        except InvalidPhoneNumber:
            return raw.strip() or "anonymous"


_SHORT_FIELDS = ("CallSid", "From", "To")
_SHORT_MAX = 64  # calls.call_sid, from_number and to_number


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml")


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _summary_text(call: Mapping[str, Any]) -> str:
    parts = [f"Call ended ({call['status']}, {call['outcome']})", f"{call['duration_seconds']} s"]
    if call.get("wait_seconds") is not None:
        parts.append(f"waited {call['wait_seconds']} s")
    if call.get("talk_seconds") is not None:
        parts.append(f"talked {call['talk_seconds']} s")
    if call.get("path"):
        parts.append("path: " + " › ".join(call["path"]))
    return ", ".join(parts)
