"""The router: store, find the customer and conversation, let the bot answer or escalate.

Every change of a conversation's status and the touchpoint that records it happen in one
transaction, together with the outbox rows of any reply, so nothing is half done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import feedback
from bot.assistant import Assistant, BotContext, BotReply, Intent
from bot.sentiment import sentiment
from bot.templates import say
from channels.base import DEFAULT_TRAITS, ChannelTraits, Control, InboundMessage, MessageKind
from routing import inbound as inbound_steps
from routing import replies, views, wordless
from routing.clock import Clock
from routing.desk import Desk
from routing.errors import Conflict, Forbidden
from routing.hub import CONSOLE, Hub, customer_topic
from routing.ingest import storable, storable_message, storable_optional
from routing.metrics import Metrics
from routing.policy import DeskPolicy
from storage.db import Database, is_unique_violation
from storage.models import (
    Agent,
    AuthorKind,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    DeliveryState,
    Direction,
    Touchpoint,
    TouchpointKind,
)
from storage.repos import agents as agent_repo
from storage.repos import conversations as conv_repo
from storage.repos import customers as customer_repo
from storage.repos import feedback as feedback_repo
from storage.repos import outbox as outbox_repo
from storage.repos import touchpoints as tp_repo

log = logging.getLogger("switchboard.router")
ClaimHook = Callable[[Conversation, Agent], Awaitable[None]]
SMALLTALK = (Intent.GREET, Intent.THANKS, Intent.GOODBYE)
WITH_HUMANS = (ConversationStatus.QUEUED, ConversationStatus.ASSIGNED)


@dataclass(frozen=True)
class RoutingPolicy:
    threshold: float = 0.5
    max_misses: int = 2
    presence_timeout: timedelta = timedelta(seconds=60)
    default_locale: str = "en"


@dataclass
class InboundResult:
    duplicate: bool
    touchpoint: Touchpoint
    conversation: Conversation
    replies: list[Touchpoint] = field(default_factory=list)


@dataclass
class _Txn:
    """What one transaction did, to announce once it has committed."""

    events: list[dict[str, Any]] = field(default_factory=list)
    outbox: bool = False
    # The next automatic reply acknowledges a new conversation (threaded channels: email).
    acknowledge: bool = False
    # Something entered the queue or freed an agent: run an assignment pass after commit.
    assign: bool = False


@dataclass(frozen=True)
class Rating:
    """What a vote from a link did; ``locale`` is the answer's language (for the page that
    thanks the customer)."""

    helpful: bool
    escalated: bool  # this vote handed the conversation to a person
    locale: str


class Router:
    def __init__(
        self,
        db: Database,
        assistant: Assistant,
        hub: Hub,
        clock: Clock,
        metrics: Metrics,
        policy: RoutingPolicy,
        wake_outbox: Callable[[], None] = lambda: None,
        traits: Callable[[str], ChannelTraits] = lambda _name: DEFAULT_TRAITS,
        kin: Callable[[str], tuple[str, ...]] = lambda _name: (),
        desk: DeskPolicy | None = None,
    ) -> None:
        self.db = db
        self.assistant = assistant
        self.hub = hub
        self.clock = clock
        self.metrics = metrics
        self.policy = policy
        self._wake_outbox = wake_outbox
        self._traits = traits
        self._kin = kin
        self._claim_hooks: dict[str, ClaimHook] = {}
        self.desk = Desk(self, desk or DeskPolicy())

    def on_claim(self, channel: str, hook: ClaimHook) -> None:
        """Run ``hook`` after an agent claims a conversation of ``channel`` (a phone call is
        then put through to the agent)."""
        self._claim_hooks[channel] = hook

    # ---- inbound -------------------------------------------------------------------------

    async def handle_inbound(self, msg: InboundMessage) -> InboundResult:
        started = time.perf_counter()
        # The one ingest boundary: whatever the channel, text no database takes (NUL, half an
        # emoji) is dropped here, so a provider is never refused a message it would redeliver.
        msg = storable_message(msg)
        # A bot that calls out (Rasa over HTTP) is asked before the write transaction, never
        # inside it, and only when the conversation is not already with the humans. One that
        # does no I/O is asked inside it, which saves a transaction per message.
        reply = await self._ask_bot_first(msg) if self.assistant.does_io else None
        txn = _Txn()
        try:
            async with self.db.transaction() as session:
                result = await self._record_inbound(session, msg, reply, txn)
        except IntegrityError as exc:
            if not is_unique_violation(exc) or not msg.external_id:
                raise
            # Another process stored the same provider message between our check and insert.
            async with self.db.transaction() as session:
                existing = await self._duplicate(session, msg)
            if existing is None:
                raise
            result = existing
        log.info(
            "inbound_stored",
            extra={
                "fields": {
                    "channel": msg.channel,
                    "kind": msg.kind.value,
                    "conversation": result.conversation.id,
                    "touchpoint": result.touchpoint.id,
                    "duplicate": result.duplicate,
                    "status": result.conversation.status.value,
                    "replies": len(result.replies),
                }
            },
        )
        if result.duplicate:
            self.metrics.duplicates.labels(msg.channel).inc()
        else:
            self.metrics.messages.labels(msg.channel, "inbound").inc()
            self.metrics.bot_latency.observe(time.perf_counter() - started)
        await self._announce(txn)
        return result

    async def _ask_bot_first(self, msg: InboundMessage) -> BotReply | None:
        if msg.automatic or wordless.no_question(msg):
            return None
        async with self.db.transaction() as session:
            if msg.external_id and await tp_repo.find_by_provider_id(
                session, msg.channel, msg.external_id
            ):
                return None
            identity = await customer_repo.find_identity(session, msg.channel, msg.address)
            conv = (
                await inbound_steps.conversation_for(
                    session, msg, identity, self._traits(msg.channel).threaded
                )
                if identity
                else None
            )
            if conv is not None and await self._vote_in(session, conv, identity, msg):
                return None  # a vote on the bot's last answer: nothing to ask the bot
        if conv is not None and conv.status is not ConversationStatus.BOT:
            return None
        return await self.assistant.respond(
            BotContext(
                text=msg.text,
                conversation_id=conv.id if conv else None,
                customer_id=identity.customer_id if identity else None,
                channel=msg.channel,
                locale=msg.locale or (conv.locale if conv else None),
            )
        )

    async def _duplicate(self, session: AsyncSession, msg: InboundMessage) -> InboundResult | None:
        if not msg.external_id:
            return None
        existing = await tp_repo.find_by_provider_id(session, msg.channel, msg.external_id)
        if existing is None or existing.conversation_id is None:
            return None
        conv = await conv_repo.get(session, existing.conversation_id)
        return InboundResult(duplicate=True, touchpoint=existing, conversation=conv)

    async def _record_inbound(
        self, session: AsyncSession, msg: InboundMessage, reply: BotReply | None, txn: _Txn
    ) -> InboundResult:
        duplicate = await self._duplicate(session, msg)
        if duplicate:
            return duplicate
        now = self.clock.now()
        traits = self._traits(msg.channel)
        customer, identity = await customer_repo.resolve_identity(
            session,
            msg.channel,
            msg.address,
            now,
            msg.display_name,
            msg.locale,
            kin=self._kin(msg.channel),
        )
        linked = None
        if msg.phone:
            customer, linked = await inbound_steps.link_phone(
                session, customer, identity, msg.phone, now
            )
        conv = await inbound_steps.conversation_for(session, msg, identity, traits.threaded)
        if conv is None and not traits.threaded and msg.kind is not MessageKind.OPENER:
            conv = await self.desk.closed_conversation_for(session, identity)
        if (
            conv is not None
            and msg.control is None
            and not msg.automatic
            and self.desk.survey_open(conv, now)
        ):
            answered = (
                None  # a picture or an opener is no score or comment
                if wordless.no_question(msg)
                else await self.desk.survey_answer(
                    session, conv, identity, msg.text, msg.external_id, txn
                )
            )
            if answered is not None:
                conv.updated_at = now
                return InboundResult(False, answered[0], conv, answered[1:])
            if not traits.threaded and not self.desk.may_reopen(conv, now):
                conv = None  # a new question long after close: a new conversation
        created = conv is None
        if conv is None:
            conv = await conv_repo.create(
                session,
                customer_id=customer.id,
                identity_id=identity.id,
                channel=msg.channel,
                now=now,
                locale=msg.locale,
                subject=msg.subject,
            )
        vote = None if created else await self._vote_in(session, conv, identity, msg)
        meta: dict[str, Any] = dict(msg.meta)
        if msg.automatic:
            meta["automatic"] = msg.automatic
        if vote is not None:
            meta["feedback"] = {"touchpoint_id": vote[0].id, "helpful": vote[1]}
        elif not msg.automatic and msg.control is None:
            mood = sentiment(msg.text)  # shown to agents; counted by the lifecycle
            if mood is not None:
                meta["sentiment"] = mood
        inbound = await self._record(
            session,
            conv,
            TouchpointKind.MESSAGE,
            Direction.INBOUND,
            AuthorKind.CUSTOMER,
            msg.text,
            provider_message_id=msg.external_id,
            delivery_state=DeliveryState.SENT,
            meta=meta,
        )
        if msg.attachments:
            await inbound_steps.store_attachments(session, inbound, msg, now)
        if linked:
            note = await self._record(
                session, conv, TouchpointKind.SYSTEM, Direction.INTERNAL, AuthorKind.SYSTEM, linked
            )
            txn.events.append(_message_event(note))
        conv.updated_at = now
        await self.desk.on_customer_message(session, conv)
        result = InboundResult(duplicate=False, touchpoint=inbound, conversation=conv)
        txn.events.append(_message_event(inbound))
        txn.acknowledge = created and traits.acknowledges and not msg.automatic
        if msg.control is not None:
            result.replies = await self._control(session, conv, identity, msg, txn)
            return result
        if msg.automatic:
            # Machine mail (auto-replies, bounces, lists) is kept for the agents but never
            # answered and never reopens anything; new machine mail waits at the queue's end.
            if created:
                await self._escalate(
                    session, conv, identity, "automatic_message", txn, notify=False, priority=-1
                )
            return result
        if not inbound_steps.may_auto_reply(identity, traits, now):
            # We answered this address automatically moments ago: a person takes it from here,
            # so two automatic responders can never loop.
            if conv.status in (ConversationStatus.BOT, ConversationStatus.CLOSED):
                await self._escalate(session, conv, identity, "auto_reply_limit", txn, notify=False)
            return result
        if conv.status is ConversationStatus.CLOSED:  # a threaded reply to a closed conversation
            result.replies = await self._escalate(session, conv, identity, "reopened", txn)
        elif conv.status is ConversationStatus.BOT and vote is not None:
            result.replies = await self._vote(session, conv, identity, *vote, txn)
        elif conv.status is ConversationStatus.BOT and wordless.no_question(msg):
            conv.locale = conv.locale or msg.locale
            said = wordless.reply(msg, conv.locale or self.policy.default_locale)
            self.metrics.bot.labels(said.outcome).inc()
            kind = TouchpointKind.BOT_ANSWER
            tp = await self._send(session, conv, identity, kind, said.text, said.meta, txn)
            result.replies = [tp]
        elif conv.status is ConversationStatus.BOT:
            if reply is None:  # an in-process bot, or handed back to the bot since we looked
                reply = await self.assistant.respond(
                    BotContext(msg.text, conv.id, customer.id, msg.channel, conv.locale)
                )
            result.replies = await self._decide(session, conv, identity, reply, msg.text, txn)
        return result

    async def _vote_in(
        self,
        session: AsyncSession,
        conv: Conversation,
        identity: ContactIdentity | None,
        msg: InboundMessage,
    ) -> tuple[Touchpoint, bool] | None:
        """The bot's answer ``msg`` votes on ("👍 Helpful", "👎"), and the vote; None when
        ``msg`` is no vote, or there is no answered question to rate (an ordinary message)."""
        if (
            conv.status is not ConversationStatus.BOT
            or identity is None
            or msg.control is not None
            or msg.automatic
            or msg.kind is MessageKind.OPENER
            or not inbound_steps.may_auto_reply(
                identity, self._traits(msg.channel), self.clock.now()
            )
        ):
            return None
        helpful = feedback.classify(msg.text)
        if helpful is None:
            return None
        answer = await feedback_repo.answer_to_rate(session, conv.id)
        return None if answer is None else (answer, helpful)

    async def _vote(
        self,
        session: AsyncSession,
        conv: Conversation,
        identity: ContactIdentity,
        answer: Touchpoint,
        helpful: bool,
        txn: _Txn,
    ) -> list[Touchpoint]:
        """Record the vote (a changed vote replaces the earlier one) and answer it briefly. A
        new "not helpful" is a miss of the bot's, so the usual escalation applies."""
        earlier = await feedback_repo.record_vote(session, answer, helpful, self.clock.now())
        self.metrics.bot.labels("helpful" if helpful else "unhelpful").inc()
        if not helpful and earlier is not False:
            conv.bot_misses += 1
            if conv.bot_misses >= self._max_misses(conv):
                self.metrics.bot.labels("escalated").inc()
                said = answer.meta or {}
                return await self._escalate(
                    session,
                    conv,
                    identity,
                    "bot_unanswered",
                    txn,
                    replies.recorded_answer(said),
                    question=said.get("question"),
                )
        elif helpful and earlier is False:  # the customer changed their mind: not a miss
            conv.bot_misses = max(conv.bot_misses - 1, 0)
        text = say("feedback_helpful" if helpful else "feedback_unhelpful", conv.locale)
        meta = {"intent": "feedback", "feedback": {"touchpoint_id": answer.id, "helpful": helpful}}
        return [
            await self._send(session, conv, identity, TouchpointKind.BOT_ANSWER, text, meta, txn)
        ]

    async def _control(
        self,
        session: AsyncSession,
        conv: Conversation,
        identity: ContactIdentity,
        msg: InboundMessage,
        txn: _Txn,
    ) -> list[Touchpoint]:
        """STOP / START / HELP: consent is the customer's, whatever the conversation's state."""
        now = self.clock.now()
        if msg.control is Control.HELP:
            text = str(msg.meta.get("help_text") or say("help", conv.locale))
            return [await self._send(session, conv, identity, TouchpointKind.SYSTEM, text, {}, txn)]
        opting_out = msg.control is Control.OPT_OUT
        identity.opted_out_at = now if opting_out else None
        note = (
            f"The customer opted out ({msg.text.strip().upper()}): nothing more is sent to "
            f"{identity.address} until they text START"
            if opting_out
            else f"The customer opted back in ({msg.text.strip().upper()})"
        )
        tp = await self._record(
            session,
            conv,
            TouchpointKind.SYSTEM,
            Direction.INTERNAL,
            AuthorKind.SYSTEM,
            note,
            meta={"consent": "opted_out" if opting_out else "opted_in"},
        )
        log.info("consent", extra={"fields": {"identity": identity.id, "opted_out": opting_out}})
        txn.events += [_message_event(tp), {"type": "conversation", "conversation_id": conv.id}]
        return []

    async def _decide(
        self,
        session: AsyncSession,
        conv: Conversation,
        identity: ContactIdentity,
        reply: BotReply,
        question: str,
        txn: _Txn,
    ) -> list[Touchpoint]:
        conv.locale = reply.locale or conv.locale
        if reply.handoff:
            self.metrics.bot.labels("escalated").inc()
            return await self._escalate(session, conv, identity, "customer_request", txn)
        if reply.intent in SMALLTALK:
            self.metrics.bot.labels("smalltalk").inc()
            said: dict[str, Any] = {"intent": reply.intent.value, "confidence": reply.confidence}
            return [
                await self._send(
                    session, conv, identity, TouchpointKind.BOT_ANSWER, reply.text, said, txn
                )
            ]
        if reply.intent is Intent.FAQ and reply.confidence >= self.policy.threshold:
            self.metrics.bot.labels("answered").inc()
            conv.bot_misses = 0
            return [
                await self._send(
                    session,
                    conv,
                    identity,
                    TouchpointKind.BOT_ANSWER,
                    reply.text,
                    replies.answer_meta(reply, question, rate=True),
                    txn,
                )
            ]
        conv.bot_misses += 1
        if conv.bot_misses >= self._max_misses(conv):
            self.metrics.bot.labels("escalated").inc()
            return await self._escalate(
                session, conv, identity, "bot_unanswered", txn, reply, question=question
            )
        self.metrics.bot.labels("missed").inc()
        # Keep the near miss for knowledge-gap reports, but offer no guesses to the customer.
        meta = {
            **replies.answer_meta(reply, question),
            "intent": Intent.UNKNOWN.value,
            "answered": False,
            "suggestions": [],
        }
        text = say("not_sure", reply.locale)
        return [
            await self._send(session, conv, identity, TouchpointKind.BOT_ANSWER, text, meta, txn)
        ]

    # ---- escalation and agent actions ----------------------------------------------------

    async def _escalate(
        self,
        session: AsyncSession,
        conv: Conversation,
        identity: ContactIdentity,
        reason: str,
        txn: _Txn,
        reply: BotReply | None = None,
        *,
        notify: bool = True,
        priority: int | None = None,
        question: str | None = None,
    ) -> list[Touchpoint]:
        now = self.clock.now()
        values: dict[str, Any] = {
            "status": ConversationStatus.QUEUED,
            "queued_at": now,
            "bot_misses": 0,
            "locale": conv.locale,
            "updated_at": now,
            # Reopened conversations go back to the whole team, not the agent who closed them.
            "assignee_id": None,
            "closed_at": None,
        }
        if priority is not None:
            values["priority"] = priority
        moved = await conv_repo.transition(
            session, conv, (ConversationStatus.BOT, ConversationStatus.CLOSED), **values
        )
        if not moved:
            raise Conflict("not_with_bot", "the conversation is already with the agents")
        await self.desk.on_queued(session, conv, txn)
        meta: dict[str, Any] = {"reason": reason}
        if conv.team:
            meta["team"] = conv.team
        if reply is not None and reply.article_id:
            meta.update(best_article_id=reply.article_id, confidence=reply.confidence)
        if question is not None:  # what the bot could not answer, for knowledge-gap reports
            meta.update(question=question, locale=conv.locale)
        escalation = await self._record(
            session,
            conv,
            TouchpointKind.ESCALATION,
            Direction.INTERNAL,
            AuthorKind.SYSTEM,
            f"Escalated to the queue ({reason.replace('_', ' ')})",
            meta=meta,
        )
        self.metrics.escalations.labels(reason).inc()
        log.info("escalated", extra={"fields": {"conversation": conv.id, "reason": reason}})
        txn.events += [_message_event(escalation), {"type": "queue"}]
        if not notify or not self._traits(conv.channel).outbound:
            return [escalation]
        position, online, wait = await self.desk.queue_notice(session, conv)
        parts = [say("escalating", conv.locale), say("queued", conv.locale, position=position)]
        if online == 0:
            parts.append(say("no_agents", conv.locale))
        elif wait is not None and wait.total_seconds() >= 30:  # else: next, no estimate needed
            minutes = max(1, round(wait.total_seconds() / 60))
            parts.append(say("wait", conv.locale, minutes=minutes))
        said: dict[str, Any] = {"queue_position": position, "agents_online": online}
        if wait is not None and online:
            said["estimated_wait_seconds"] = int(wait.total_seconds())
        if txn.acknowledge and reply is not None:
            # An acknowledgement offers the nearest articles while the customer waits.
            said["suggestions"] = replies.nearest_articles(reply)
        notice = await self._send(
            session, conv, identity, TouchpointKind.SYSTEM, " ".join(parts), said, txn
        )
        return [escalation, notice]

    def _max_misses(self, conv: Conversation) -> int:
        return self._traits(conv.channel).max_misses or self.policy.max_misses

    async def escalate(self, conversation_id: int, reason: str) -> Conversation:
        """Escalate by a rule or an API call, outside a customer message."""
        txn = _Txn()
        async with self.db.transaction() as session:
            conv = await conv_repo.get(session, conversation_id, lock=True)
            identity = await customer_repo.get_identity(session, conv.identity_id)
            await self._escalate(session, conv, identity, reason, txn)
        await self._announce(txn)
        return conv

    async def rate_answer(self, touchpoint_id: int, token: str, helpful: bool) -> Rating | None:
        """A vote cast from a link ("was this helpful?" in an email), checked against the
        answer's own token; None when the link names no answer that asked to be rated. The
        vote is kept in the history as the customer's; a new "not helpful" on a conversation
        still with the bot hands it to a person at once (a customer who followed a link will
        not rephrase for the bot), without another email: the link's page says so."""
        txn = _Txn()
        async with self.db.transaction() as session:
            answer = await feedback_repo.rateable_by_link(session, touchpoint_id, token)
            if answer is None or answer.conversation_id is None:
                return None
            meta = answer.meta or {}
            conv = await conv_repo.get(session, answer.conversation_id, lock=True)
            earlier = await feedback_repo.record_vote(session, answer, helpful, self.clock.now())
            escalated = False
            if earlier != helpful:
                self.metrics.bot.labels("helpful" if helpful else "unhelpful").inc()
                vote = await self._record(
                    session,
                    conv,
                    TouchpointKind.MESSAGE,
                    Direction.INBOUND,
                    AuthorKind.CUSTOMER,
                    "👍" if helpful else "👎",
                    meta={
                        "feedback": {"touchpoint_id": answer.id, "helpful": helpful},
                        "via": "link",
                    },
                    delivery_state=DeliveryState.SENT,
                )
                txn.events.append(_message_event(vote))
                if not helpful and conv.status is ConversationStatus.BOT:
                    self.metrics.bot.labels("escalated").inc()
                    identity = await customer_repo.get_identity(session, conv.identity_id)
                    await self._escalate(
                        session,
                        conv,
                        identity,
                        "bot_unanswered",
                        txn,
                        replies.recorded_answer(meta),
                        notify=False,
                        question=meta.get("question"),
                    )
                    escalated = True
            locale = str(meta.get("locale") or conv.locale or "en")
        await self._announce(txn)
        return Rating(helpful, escalated, locale)

    async def claim(self, agent: Agent, conversation_id: int | None = None) -> Conversation:
        """Give a queued conversation to ``agent``. Two agents can never claim the same one.

        Without an id, the agent pulls the head of the queues they work (VIP, SLA at risk,
        then oldest); rows another process is claiming are skipped, not waited for."""
        txn = _Txn()
        async with self.db.transaction() as session:
            if conversation_id is None:
                conv = await self._next_for(session, agent)
                if conv is None:
                    raise Conflict("queue_empty", "no conversation is waiting in the queue")
            else:
                conv = await conv_repo.get(session, conversation_id)
                if conv.status is ConversationStatus.QUEUED and not self.desk.sees(
                    agent, conv.team
                ):
                    raise Forbidden(
                        "not_your_team",
                        f"the conversation waits in the {conv.team} queue, which is not one of "
                        "your teams; ask a supervisor to transfer it",
                    )
            if not await self._assign(session, conv, agent, txn):
                raise Conflict(
                    "already_claimed", "another agent has already taken this conversation"
                )
        await self._announce(txn)
        await self._after_claim(conv, agent)
        return conv

    async def _next_for(self, session: AsyncSession, agent: Agent) -> Conversation | None:
        from routing.assignment import order

        waiting = await self.desk.queue(session)
        mine = [w for w, _ in waiting if self.desk.takes(agent, w.team)]
        # With nothing of their own waiting, they help where they may (supervisors anywhere,
        # everyone with open queues); an agent scoped to their teams gets nothing.
        if not mine:
            mine = [w for w, _ in waiting if self.desk.sees(agent, w.team)]
        for item in order(mine, self.clock.now(), self.desk.policy.at_risk_within):
            conv = await conv_repo.lock_queued(session, item.conversation_id)
            if conv is not None:
                return conv
        return None

    async def _assign(
        self,
        session: AsyncSession,
        conv: Conversation,
        agent: Agent,
        txn: _Txn,
        *,
        auto: bool = False,
    ) -> bool:
        """Queued → assigned to ``agent`` (compare-and-set), recorded and told to the customer
        on live channels; False if the conversation had already left the queue."""
        now = self.clock.now()
        queued_at = conv.queued_at
        ok = await conv_repo.transition(
            session,
            conv,
            (ConversationStatus.QUEUED,),
            status=ConversationStatus.ASSIGNED,
            assignee_id=agent.id,
            assigned_at=now,
            updated_at=now,
        )
        if not ok:
            return False
        text = (
            f"Assigned to {agent.name} automatically"
            if auto
            else f"{agent.name} claimed the conversation"
        )
        meta = {"auto": True} if auto else {}
        await self._staff_event(session, conv, agent, TouchpointKind.CLAIM, text, txn, meta)
        if auto:
            txn.events.append(
                {"type": "assigned", "conversation_id": conv.id, "agent_id": agent.id}
            )
        if self._traits(conv.channel).live:
            identity = await customer_repo.get_identity(session, conv.identity_id)
            await self._send(
                session,
                conv,
                identity,
                TouchpointKind.SYSTEM,
                say("claimed", conv.locale, agent=agent.name),
                {"agent_id": agent.id},
                txn,
            )
        log.info(
            "claimed", extra={"fields": {"conversation": conv.id, "agent": agent.id, "auto": auto}}
        )
        if queued_at is not None:
            self.metrics.queue_wait.observe(max((now - queued_at).total_seconds(), 0.0))
        self.metrics.assignments.labels("auto" if auto else "manual").inc()
        if {"type": "queue"} not in txn.events:
            txn.events.append({"type": "queue"})
        return True

    async def _after_claim(self, conv: Conversation, agent: Agent) -> None:
        hook = self._claim_hooks.get(conv.channel)
        if hook is not None:
            try:
                await hook(conv, agent)
            except Exception:  # the claim stands; the hook records what went wrong
                log.exception("claim_hook_failed", extra={"fields": {"conversation": conv.id}})

    async def open_conversation(
        self,
        channel: str,
        address: str,
        note: str,
        meta: dict[str, Any] | None = None,
        display_name: str | None = None,
    ) -> Conversation:
        """The customer's open conversation on ``channel`` (a new one if none), with ``note``
        recorded in it: how a phone call starts."""
        txn = _Txn()
        async with self.db.transaction() as session:
            now = self.clock.now()
            customer, identity = await customer_repo.resolve_identity(
                session, channel, address, now, display_name, kin=self._kin(channel)
            )
            conv = await conv_repo.open_for_identity(session, identity.id)
            if conv is None:
                conv = await conv_repo.create(
                    session,
                    customer_id=customer.id,
                    identity_id=identity.id,
                    channel=channel,
                    now=now,
                )
            tp = await self._record(
                session,
                conv,
                TouchpointKind.SYSTEM,
                Direction.INBOUND,
                AuthorKind.CUSTOMER,
                note,
                meta=meta or {},
            )
            conv.updated_at = now
            txn.events.append(_message_event(tp))
        await self._announce(txn)
        return conv

    async def note(
        self, conversation_id: int, text: str, meta: dict[str, Any] | None = None
    ) -> Touchpoint:
        """Record something that happened in a conversation (a call's path, a voicemail)."""
        txn = _Txn()
        async with self.db.transaction() as session:
            conv = await conv_repo.get(session, conversation_id)
            tp = await self._record(
                session,
                conv,
                TouchpointKind.SYSTEM,
                Direction.INTERNAL,
                AuthorKind.SYSTEM,
                text,
                meta=meta or {},
            )
            txn.events.append(_message_event(tp))
        await self._announce(txn)
        return tp

    async def agent_reply(self, agent: Agent, conversation_id: int, text: str) -> Touchpoint:
        txn = _Txn()
        async with self.db.transaction() as session:
            conv = await self._owned(session, agent, conversation_id)
            identity = await customer_repo.get_identity(session, conv.identity_id)
            conv.updated_at = self.clock.now()
            self.desk.on_agent_reply(conv)
            tp = await self._send(
                session,
                conv,
                identity,
                TouchpointKind.AGENT_REPLY,
                text,
                {},
                txn,
                agent=agent,
            )
        await self._announce(txn)
        return tp

    async def close(
        self,
        agent: Agent,
        conversation_id: int,
        disposition: str | None = None,
        note: str | None = None,
    ) -> Conversation:
        """Close with a disposition (required when the workspace says so) and an optional
        internal note; the customer then gets the satisfaction survey where the channel
        allows."""
        disposition = self.desk.check_disposition(disposition)
        return await self._finish(
            agent, conversation_id, ConversationStatus.CLOSED, disposition, (note or "").strip()
        )

    async def hand_back(self, agent: Agent, conversation_id: int) -> Conversation:
        return await self._finish(agent, conversation_id, ConversationStatus.BOT)

    async def _finish(
        self,
        agent: Agent,
        conversation_id: int,
        to: ConversationStatus,
        disposition: str | None = None,
        remark: str = "",
    ) -> Conversation:
        txn = _Txn(assign=True)  # the agent has room for the next one
        survey = False
        async with self.db.transaction() as session:
            conv = await self._owned(session, agent, conversation_id)
            now = self.clock.now()
            values: dict[str, Any] = {
                "status": to,
                "updated_at": now,
                "first_response_due_at": None,
                "next_response_due_at": None,
                "resolution_due_at": None,
            }
            meta: dict[str, Any] = {}
            if to is ConversationStatus.CLOSED:
                survey = self.desk.survey_after_close(conv)
                values.update(
                    closed_at=now,
                    disposition=disposition,
                    csat_state="asked" if survey else None,
                    csat_asked_at=now if survey else None,
                    csat_score=None,
                    csat_comment=None,
                )
                label = f" ({disposition.replace('_', ' ')})" if disposition else ""
                kind, key, note = (
                    TouchpointKind.CLOSE,
                    "closed",
                    f"{agent.name} closed the conversation{label}",
                )
                meta = {"disposition": disposition} if disposition else {}
            else:
                values.update(assignee_id=None, bot_misses=0)
                kind, key, note = (
                    TouchpointKind.HANDBACK,
                    "handback",
                    f"{agent.name} handed the conversation back to the bot",
                )
            if not await conv_repo.transition(
                session, conv, (ConversationStatus.ASSIGNED,), **values
            ):
                raise Conflict(
                    "conversation_changed", "the conversation changed meanwhile; reload it"
                )
            if remark:
                await self._staff_event(session, conv, agent, TouchpointKind.NOTE, remark, txn)
            await self._staff_event(session, conv, agent, kind, note, txn, meta)
            identity = await customer_repo.get_identity(session, conv.identity_id)
            if self._traits(conv.channel).live:
                await self._send(
                    session, conv, identity, TouchpointKind.SYSTEM, say(key, conv.locale), {}, txn
                )
            if survey:
                await self._send(
                    session,
                    conv,
                    identity,
                    TouchpointKind.SURVEY,
                    say("csat_ask", conv.locale),
                    {"survey": "ask"},
                    txn,
                )
        log.info(kind.value, extra={"fields": {"conversation": conv.id, "agent": agent.id}})
        await self._announce(txn)
        return conv

    async def _owned(
        self, session: AsyncSession, agent: Agent, conversation_id: int
    ) -> Conversation:
        conv = await conv_repo.get(session, conversation_id, lock=True)
        if conv.status is ConversationStatus.CLOSED:
            raise Conflict("conversation_closed", "the conversation is closed")
        if conv.status is not ConversationStatus.ASSIGNED:
            raise Conflict("not_claimed", "claim the conversation before acting on it")
        if conv.assignee_id != agent.id:
            raise Conflict("assigned_to_another", "the conversation is assigned to another agent")
        return conv

    # ---- what the customer's own client may see and acknowledge ------------------------

    async def customer_timeline(
        self, channel: str, address: str
    ) -> tuple[Conversation | None, list[Touchpoint], dict[int, str]]:
        """The customer's open (or latest) conversation and what they can see of it."""
        async with self.db.transaction() as session:
            identity = await customer_repo.find_identity(session, channel, address)
            if identity is None:
                return None, [], {}
            conv = await conv_repo.latest_for_identity(session, identity.id)
            if conv is None:
                return None, [], {}
            items = await tp_repo.for_conversation(session, conv.id, kinds=tp_repo.CUSTOMER_VISIBLE)
            names = await agent_repo.names(session, {t.agent_id for t in items if t.agent_id})
        return conv, items, names

    async def mark_delivered(self, channel: str, address: str, touchpoint_ids: list[int]) -> None:
        """The customer's client rendered these replies."""
        async with self.db.transaction() as session:
            identity = await customer_repo.find_identity(session, channel, address)
            if identity is None:
                return
            changed = await tp_repo.set_delivery_state(
                session,
                touchpoint_ids,
                DeliveryState.DELIVERED,
                only_from=[DeliveryState.PENDING, DeliveryState.SENT],
                customer_id=identity.customer_id,
            )
        for tp_id in changed:
            await self.hub.publish(
                CONSOLE, {"type": "delivery", "touchpoint_id": tp_id, "state": "delivered"}
            )

    async def provider_status(
        self, touchpoint_id: int, state: DeliveryState, error: str | None = None
    ) -> bool:
        """A provider's delivery report (sent, delivered, read, failed) for one reply.

        States only move forward, so late or repeated reports change nothing; returns whether
        this one did.
        """
        earlier = {
            DeliveryState.SENT: [DeliveryState.PENDING],
            DeliveryState.DELIVERED: [DeliveryState.PENDING, DeliveryState.SENT],
            DeliveryState.READ: [
                DeliveryState.PENDING,
                DeliveryState.SENT,
                DeliveryState.DELIVERED,
            ],
            DeliveryState.FAILED: [DeliveryState.PENDING, DeliveryState.SENT],
        }.get(state, [])
        async with self.db.transaction() as session:
            changed = await tp_repo.set_delivery_state(
                session, [touchpoint_id], state, only_from=earlier
            )
            if changed and error:
                tp = await tp_repo.get(session, touchpoint_id)
                if tp is not None:  # the provider's words: cleaned like any inbound text
                    tp.meta = {**(tp.meta or {}), "delivery_error": storable_optional(error)}
        for tp_id in changed:
            await self.hub.publish(
                CONSOLE, {"type": "delivery", "touchpoint_id": tp_id, "state": state.value}
            )
        return bool(changed)

    async def provider_status_by_id(
        self, channel: str, provider_message_id: str, state: DeliveryState, error: str | None
    ) -> bool:
        """A delivery report naming the provider's id of one of our messages."""
        async with self.db.transaction() as session:
            tp = await tp_repo.find_by_provider_id(session, channel, storable(provider_message_id))
        if tp is None or tp.direction is not Direction.OUTBOUND:
            return False
        return await self.provider_status(tp.id, state, error)

    async def mark_read_by_agent(self, conversation_id: int) -> None:
        """An agent opened the conversation: the customer's messages in it are read."""
        async with self.db.transaction() as session:
            conv = await conv_repo.get(session, conversation_id)
            identity = await customer_repo.get_identity(session, conv.identity_id)
            unread = [
                t.id
                for t in await tp_repo.for_conversation(
                    session, conversation_id, kinds=[TouchpointKind.MESSAGE]
                )
                if t.direction is Direction.INBOUND and t.delivery_state is not DeliveryState.READ
            ]
            changed = await tp_repo.set_delivery_state(session, unread, DeliveryState.READ)
        topic = customer_topic(identity.channel, identity.address)
        for tp_id in changed:
            await self.hub.publish(topic, {"type": "status", "message_id": tp_id, "state": "read"})

    async def agent_typing(self, agent: Agent, conversation_id: int, on: bool) -> None:
        async with self.db.transaction() as session:
            conv = await self._owned(session, agent, conversation_id)
            identity = await customer_repo.get_identity(session, conv.identity_id)
        await self.hub.publish(
            customer_topic(identity.channel, identity.address),
            {"type": "typing", "author": "agent", "name": agent.name, "on": on},
        )

    # ---- shared steps --------------------------------------------------------------------

    async def _send(
        self,
        session: AsyncSession,
        conv: Conversation,
        identity: ContactIdentity,
        kind: TouchpointKind,
        text: str,
        meta: dict[str, Any],
        txn: _Txn,
        agent: Agent | None = None,
    ) -> Touchpoint:
        """Record an outbound touchpoint and its outbox row in the caller's transaction.

        What cannot be sent (opted out, outside the reply window, a phone call) is refused
        for an agent (409 with the reason) and recorded as not sent (or, in a call, as said)
        for the bot, so the history shows what the customer did or did not get."""
        author = {
            TouchpointKind.AGENT_REPLY: AuthorKind.AGENT,
            TouchpointKind.BOT_ANSWER: AuthorKind.BOT,
        }.get(kind, AuthorKind.SYSTEM)
        traits = self._traits(conv.channel)
        now = self.clock.now()
        wants_last = traits.threaded or traits.reply_context or traits.reply_window is not None
        last = await tp_repo.last_inbound(session, conv.id) if wants_last else None
        refusal = replies.refusal(conv, identity, traits, last, now)
        if refusal is not None:
            not_sent, code, reason = refusal
            if agent is not None:
                raise Conflict(code, reason)
            spoken = not_sent == "spoken"
            tp = await self._record(
                session,
                conv,
                kind,
                Direction.OUTBOUND,
                author,
                text,
                delivery_state=DeliveryState.DELIVERED if spoken else DeliveryState.FAILED,
                meta=meta if spoken else {**meta, "not_sent": not_sent},
            )
            txn.events.append(_message_event(tp))
            return tp
        payload: dict[str, Any] = {
            "text": text,
            "author_kind": author.value,
            "author_name": agent.name if agent else None,
            "reference": conv.reference,
            "locale": conv.locale,
            "suggestions": meta.get("suggestions", []),
        }
        if meta.get("asks_feedback"):
            payload["asks_feedback"] = True  # the channel adds its "was this helpful?" buttons
            payload["feedback_token"] = meta.get("feedback_token")  # ... or links
        if author is not AuthorKind.AGENT:
            if txn.acknowledge:
                payload["acknowledgement"] = True
                meta = {**meta, "acknowledgement": True}
                txn.acknowledge = False
            if traits.auto_reply_window is not None:
                identity.last_auto_reply_at = now
        if traits.reply_context and last is not None:
            payload["reply_context"] = {
                **last.meta.get("reply_context", {}),
                "received_at": last.created_at.isoformat(),
            }
        if traits.threaded:
            payload.update(replies.thread_headers(conv, last), to_name=identity.display_name)
        tp = await self._record(
            session,
            conv,
            kind,
            Direction.OUTBOUND,
            author,
            text,
            agent_id=agent.id if agent else None,
            delivery_state=DeliveryState.PENDING,
            meta=meta,
        )
        await outbox_repo.enqueue(
            session,
            touchpoint_id=tp.id,
            channel=conv.channel,
            address=identity.address,
            payload=payload,
            now=now,
        )
        txn.outbox = True
        txn.events.append(_message_event(tp, agent.name if agent else None))
        return tp

    async def _staff_event(
        self,
        session: AsyncSession,
        conv: Conversation,
        agent: Agent,
        kind: TouchpointKind,
        text: str,
        txn: _Txn,
        meta: dict[str, Any] | None = None,
    ) -> Touchpoint:
        tp = await self._record(
            session,
            conv,
            kind,
            Direction.INTERNAL,
            AuthorKind.AGENT,
            text,
            agent_id=agent.id,
            meta=meta or {},
        )
        txn.events += [
            _message_event(tp, agent.name),
            {"type": "conversation", "conversation_id": conv.id},
        ]
        return tp

    async def _record(
        self,
        session: AsyncSession,
        conv: Conversation,
        kind: TouchpointKind,
        direction: Direction,
        author: AuthorKind,
        text: str,
        **fields: Any,
    ) -> Touchpoint:
        """A touchpoint on ``conv`` stamped now (the one way the router writes history)."""
        return await tp_repo.add(
            session,
            customer_id=conv.customer_id,
            conversation_id=conv.id,
            channel=conv.channel,
            kind=kind,
            direction=direction,
            author_kind=author,
            now=self.clock.now(),
            text=text,
            **fields,
        )

    async def _announce(self, txn: _Txn) -> None:
        if txn.outbox:
            self._wake_outbox()
        if txn.assign:
            self.desk.wake()
        for event in txn.events:
            try:
                await self.hub.publish(CONSOLE, event)
            except Exception:  # consoles refetch; the data is committed
                log.exception("console_event_failed")


def _message_event(tp: Touchpoint, author_name: str | None = None) -> dict[str, Any]:
    return {
        "type": "message",
        "conversation_id": tp.conversation_id,
        "message": views.staff_message(tp, author_name),
    }
