"""The agent workspace's engine: teams, automatic assignment, presence, SLAs, transfers,
internal notes, close with a disposition and the satisfaction survey after it.

The policy decisions are pure (``routing.assignment``, ``routing.sla``); this module loads
their inputs, applies their answers in transactions and announces what changed. The router
calls in at the points a conversation moves (queued, answered, closed, written to again).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.templates import say
from routing.access import SUPERVISORS, Staff, sees, takes, work_teams, works_queue
from routing.assignment import (
    AgentState,
    ChannelKind,
    Presence,
    Role,
    Waiting,
    assign,
    estimated_wait,
    first_match,
    kind_of,
    order,
)
from routing.errors import Conflict, Forbidden, RoutingError
from routing.policy import DeskPolicy, OnDisconnect
from routing.sla import SlaStatus, SlaTarget, due_at, find_policy, status
from storage.models import (
    Agent,
    AuthorKind,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Direction,
    Touchpoint,
    TouchpointKind,
)
from storage.repos import agents as agent_repo
from storage.repos import conversations as conv_repo
from storage.repos import customers as customer_repo
from storage.repos import touchpoints as tp_repo

if TYPE_CHECKING:
    from routing.router import Router, _Txn

log = logging.getLogger("switchboard.desk")
_SLA_FIELDS = {
    SlaTarget.FIRST_RESPONSE: "first_response_due_at",
    SlaTarget.NEXT_RESPONSE: "next_response_due_at",
    SlaTarget.RESOLUTION: "resolution_due_at",
}
MAX_NOTE_CHARS = 4000
# A pass assigns at most this many (about 17 ms each), then runs again at once.
MAX_PER_PASS = 50
# How much of the queue a pass weighs (the SQL order knows priority and age, not SLA risk).
QUEUE_WINDOW = 5000


class Invalid(RoutingError):
    status = 400


@dataclass(frozen=True)
class SlaView:
    target: SlaTarget
    due_at: datetime
    status: SlaStatus


def channel_kind(channel: str) -> ChannelKind:
    """The capacity kind of a channel; a channel assignment does not know takes a message slot."""
    try:
        return kind_of(channel)
    except ValueError:
        return ChannelKind.MESSAGE


def csat_score(text: str) -> int | None:
    """A 1–5 rating in any script's digits ("4", "๔", "۴", "４ stars"); None if it is not one."""
    digits = [unicodedata.digit(ch, -1) for ch in text.strip()[:12]]
    found = [d for d in digits if d != -1]
    if len(found) != 1 or not 1 <= found[0] <= 5:
        return None
    return found[0]


class Desk:
    def __init__(self, router: Router, policy: DeskPolicy) -> None:
        self.router = router
        self.policy = policy
        self._wake = asyncio.Event()

    @property
    def clock(self):  # type: ignore[no-untyped-def]
        return self.router.clock

    # ---- inside the router's transactions ----------------------------------------------

    async def on_queued(self, session: AsyncSession, conv: Conversation, txn: _Txn) -> None:
        """A conversation entered the queue: route it to a team, set its priority and SLA."""
        now = self.clock.now()
        customer = await customer_repo.get_customer(session, conv.customer_id)
        if self.policy.default_team is not None:  # no teams: nothing to route
            waiting = Waiting(
                conversation_id=conv.id,
                channel=_known(conv.channel),
                locale=conv.locale,
                text=await self._routing_text(session, conv),
                segment=customer.segment,
                queued_at=now,
            )
            rule = first_match(waiting, self.policy.rules)
            conv.team = rule.team if rule else self.policy.default_team
            conv.required_skills = sorted(rule.skills) if rule else []
        if customer.segment in self.policy.vip_segments and conv.priority >= 0:
            conv.priority = max(conv.priority, 10)
        sla = find_policy(self.policy.sla, conv.team, customer.segment)
        conv.first_response_at = None
        conv.next_response_due_at = None
        conv.sla_breached = []
        if sla is not None and conv.priority >= 0:  # machine mail gets no SLA clock
            calendar = self.policy.calendar
            conv.first_response_due_at = due_at(sla, SlaTarget.FIRST_RESPONSE, now, calendar)
            conv.resolution_due_at = due_at(sla, SlaTarget.RESOLUTION, now, calendar)
        else:
            conv.first_response_due_at = conv.resolution_due_at = None
        txn.assign = True

    async def on_customer_message(self, session: AsyncSession, conv: Conversation) -> None:
        """The customer wrote while people handle the conversation: the next response is due."""
        if conv.status not in (ConversationStatus.QUEUED, ConversationStatus.ASSIGNED):
            return
        if conv.first_response_at is None or conv.next_response_due_at is not None:
            return
        customer = await customer_repo.get_customer(session, conv.customer_id)
        sla = find_policy(self.policy.sla, conv.team, customer.segment)
        if sla is not None:
            conv.next_response_due_at = due_at(
                sla, SlaTarget.NEXT_RESPONSE, self.clock.now(), self.policy.calendar
            )

    def on_agent_reply(self, conv: Conversation) -> None:
        if conv.first_response_at is None:
            conv.first_response_at = self.clock.now()
            conv.first_response_due_at = None
        conv.next_response_due_at = None

    async def closed_conversation_for(
        self, session: AsyncSession, identity: ContactIdentity
    ) -> Conversation | None:
        """The customer's last conversation if it was closed recently enough that writing
        again answers its survey or reopens it; None: start a new one."""
        conv = await conv_repo.latest_for_identity(session, identity.id)
        if conv is None or conv.status is not ConversationStatus.CLOSED or conv.closed_at is None:
            return None
        now = self.clock.now()
        if self.survey_open(conv, now) or self.may_reopen(conv, now):
            return conv
        return None

    def may_reopen(self, conv: Conversation, now: datetime) -> bool:
        return conv.closed_at is not None and now - conv.closed_at <= self.policy.reopen_window

    def survey_open(self, conv: Conversation, now: datetime) -> bool:
        return (
            conv.status is ConversationStatus.CLOSED
            and conv.csat_state in ("asked", "comment")
            and conv.csat_asked_at is not None
            and now - conv.csat_asked_at <= self.policy.csat_window
        )

    async def survey_answer(
        self,
        session: AsyncSession,
        conv: Conversation,
        identity: ContactIdentity,
        text: str,
        provider_message_id: str | None,
        txn: _Txn,
    ) -> list[Touchpoint] | None:
        """Record ``text`` as the answer to the survey; None when it is not one (a new
        question after all), and the message is handled as usual."""
        if conv.csat_state == "asked":
            score = csat_score(text)
            if score is None:
                conv.csat_state = "skipped"
                return None
            conv.csat_score, conv.csat_state = score, "comment"
            meta: dict[str, Any] = {"csat": score}
            answer = "csat_comment"
        else:
            conv.csat_comment, conv.csat_state = text.strip()[:4000], "done"
            meta, answer = {"csat_comment": True}, "csat_thanks"
        tp = await self.router._record(
            session,
            conv,
            TouchpointKind.SURVEY,
            Direction.INBOUND,
            AuthorKind.CUSTOMER,
            text,
            provider_message_id=provider_message_id,
            meta=meta,
        )
        txn.events.append(_event(tp))
        reply = await self.router._send(
            session,
            conv,
            identity,
            TouchpointKind.SURVEY,
            say(answer, conv.locale),
            {"survey": answer.removeprefix("csat_")},
            txn,
        )
        return [tp, reply]

    async def queue_notice(
        self, session: AsyncSession, conv: Conversation
    ) -> tuple[int, int, timedelta | None]:
        """The conversation's place in its queue, the agents who could take it, and an
        estimated wait."""
        now = self.clock.now()
        ids = [c.id for _, c in await self.queue(session, team=conv.team, only_team=True)]
        position = ids.index(conv.id) + 1 if conv.id in ids else len(ids) + 1
        since = now - self.router.policy.presence_timeout
        agents = [a for a in await agent_repo.active(session) if _fresh(a, since)]
        able = [a for a in agents if a.presence == Presence.ONLINE and self.takes(a, conv.team)]
        handle = statistics.median(await conv_repo.handle_times(session) or [0.0])
        average = timedelta(seconds=handle) if handle else self.policy.average_handle
        return position, len(able), estimated_wait(position - 1, len(able), average)

    # ---- assignment -----------------------------------------------------------------------

    async def assign_waiting(self) -> int:
        """One automatic-assignment pass; returns how many conversations were assigned."""
        from routing.router import _Txn

        txn = _Txn()
        claimed: list[tuple[Conversation, Agent]] = []
        now = self.clock.now()
        async with self.router.db.transaction() as session:
            since = now - self.router.policy.presence_timeout
            locked = await agent_repo.online_for_update(session, since)
            agents = [a for a in locked if self.works_queue(a)]
            if not agents:
                return 0
            waiting = [w for w in await self._waiting(session) if self.policy.auto(w.team)]
            if not waiting:
                return 0
            states = await self._states(session, agents)
            policies = [*self.policy.teams, self.policy.team(None)]
            # Pure but not cheap on a big queue (about 0.3 s for 2,000 × 100): off the loop.
            plan = await asyncio.to_thread(
                assign, waiting, states, policies, now, at_risk_within=self.policy.at_risk_within
            )
            if len(plan) > MAX_PER_PASS:
                # Short transactions: the agents' rows stay locked only for one batch.
                plan = plan[:MAX_PER_PASS]
                self.wake()
            by_id = {a.id: a for a in agents}
            for item in plan:
                conv = await conv_repo.lock_queued(session, item.conversation_id)
                if conv is None:  # claimed by hand meanwhile, or held by another process
                    continue
                agent = by_id[item.agent_id]
                if await self.router._assign(session, conv, agent, txn, auto=True):
                    claimed.append((conv, agent))
        if claimed:
            txn.events.append({"type": "agents"})
            await self.router._announce(txn)
            for conv, agent in claimed:
                await self.router._after_claim(conv, agent)
        return len(claimed)

    async def queue(
        self, session: AsyncSession, *, team: str | None = None, only_team: bool = False
    ) -> list[tuple[Waiting, Conversation]]:
        """The queue in the order it is served (VIP, SLA at risk, oldest); with ``only_team``,
        one team's. Unlocked: for views, positions and planning."""
        rows = await conv_repo.queued_with_segments(
            session, limit=QUEUE_WINDOW, only_team=only_team, team=team
        )
        convs = {conv.id: conv for conv, _ in rows}
        waiting = [self._as_waiting(conv, segment) for conv, segment in rows]
        ranked = order(waiting, self.clock.now(), self.policy.at_risk_within)
        return [(w, convs[w.conversation_id]) for w in ranked]

    async def _waiting(self, session: AsyncSession) -> list[Waiting]:
        return [w for w, _ in await self.queue(session)]

    def _as_waiting(self, conv: Conversation, segment: str | None) -> Waiting:
        return Waiting(
            conversation_id=conv.id,
            channel=_known(conv.channel),
            locale=conv.locale,
            # Waiting knows one VIP segment name; the workspace may call more segments VIP.
            segment="vip" if segment in self.policy.vip_segments else segment,
            queued_at=conv.queued_at or conv.created_at,
            team=conv.team,
            required_skills=frozenset(conv.required_skills or []),
            sla_due_at=_earliest(conv),
        )

    async def _states(self, session: AsyncSession, agents: list[Agent]) -> list[AgentState]:
        ids = [a.id for a in agents]
        loads = await conv_repo.loads(session, ids)
        last = await conv_repo.last_assigned(session, ids)
        teams = frozenset(self.policy.team_names())
        return [agent_state(a, loads.get(a.id, {}), last.get(a.id), teams) for a in agents]

    # ---- presence -------------------------------------------------------------------------

    async def set_presence(self, agent: Agent, presence: Presence, *, why: str = "") -> Agent:
        from routing.router import _Txn

        txn = _Txn()
        async with self.router.db.transaction() as session:
            row = await agent_repo.get(session, agent.id)
            assert row is not None
            await self._set_presence(session, row, presence, why, txn)
        txn.events.append({"type": "agents"})
        await self.router._announce(txn)
        if presence is Presence.ONLINE:
            self.wake()
        return row

    async def _set_presence(
        self, session: AsyncSession, agent: Agent, presence: Presence, why: str, txn: _Txn
    ) -> None:
        now = self.clock.now()
        if agent.presence != presence.value:
            agent.presence = presence.value
            agent.presence_changed_at = now
            log.info("presence", extra={"fields": {"agent": agent.id, "presence": presence.value}})
            txn.events.append({"type": "presence"})
        if presence is Presence.OFFLINE and self.policy.on_disconnect is OnDisconnect.REQUEUE:
            for conv in await conv_repo.assigned_to(session, agent.id):
                await self._requeue(session, conv, agent, why or "went offline", txn)

    async def _requeue(
        self, session: AsyncSession, conv: Conversation, agent: Agent, why: str, txn: _Txn
    ) -> None:
        """Back to the queue in its old place (the original queue time keeps it near the
        front), for someone else to take."""
        now = self.clock.now()
        moved = await conv_repo.transition(
            session,
            conv,
            (ConversationStatus.ASSIGNED,),
            status=ConversationStatus.QUEUED,
            assignee_id=None,
            updated_at=now,
        )
        if not moved:
            return
        tp = await self.router._record(
            session,
            conv,
            TouchpointKind.SYSTEM,
            Direction.INTERNAL,
            AuthorKind.SYSTEM,
            f"{agent.name} {why}: the conversation is back in the queue",
            meta={"requeued_from": agent.id},
        )
        txn.events += [_event(tp), {"type": "queue"}, _changed(conv)]
        txn.assign = True

    # ---- the sweeper ------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Every few seconds (or when woken): lost consoles, SLA breaches, assignment."""
        interval = self.policy.sweep_interval.total_seconds()
        while True:
            self._wake.clear()  # before the pass: a wake during it runs another
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("desk_sweep_failed")
            try:
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from None

    async def sweep(self) -> None:
        await self.notice_disconnects()
        await self.raise_breaches()
        await self.assign_waiting()

    async def notice_disconnects(self) -> int:
        from routing.router import _Txn

        txn = _Txn()
        now = self.clock.now()
        cutoff = now - self.router.policy.presence_timeout - self.policy.disconnect_grace
        async with self.router.db.transaction() as session:
            lost = await agent_repo.silent(session, cutoff)
            for agent in lost:
                await self._set_presence(
                    session, agent, Presence.OFFLINE, "lost connection to the console", txn
                )
        if lost:
            txn.events.append({"type": "agents"})
            await self.router._announce(txn)
        return len(lost)

    async def raise_breaches(self) -> int:
        """Raise each newly breached SLA target to the supervisors, once."""
        from routing.router import _Txn

        txn = _Txn()
        now = self.clock.now()
        raised = 0
        async with self.router.db.transaction() as session:
            for conv in await conv_repo.overdue(session, now):
                for target, attr in _SLA_FIELDS.items():
                    due = getattr(conv, attr)
                    if due is None or due > now or target.value in (conv.sla_breached or []):
                        continue
                    conv.sla_breached = [*(conv.sla_breached or []), target.value]
                    label = target.value.replace("_", " ")
                    tp = await self.router._record(
                        session,
                        conv,
                        TouchpointKind.SYSTEM,
                        Direction.INTERNAL,
                        AuthorKind.SYSTEM,
                        f"SLA breached: {label} was due {due.isoformat(timespec='minutes')}; "
                        "raised to the supervisors",
                        meta={"sla_breach": target.value, "due_at": due.isoformat()},
                    )
                    self.router.metrics.sla_breaches.labels(target.value).inc()
                    log.warning(
                        "sla_breached",
                        extra={"fields": {"conversation": conv.id, "target": target.value}},
                    )
                    txn.events += [
                        _event(tp),
                        {
                            "type": "sla",
                            "conversation_id": conv.id,
                            "target": target.value,
                            "status": SlaStatus.BREACHED.value,
                        },
                    ]
                    raised += 1
        if raised:
            txn.events.append({"type": "queue"})
            await self.router._announce(txn)
        return raised

    # ---- agent actions --------------------------------------------------------------------

    async def add_note(self, agent: Agent, conversation_id: int, text: str) -> Touchpoint:
        """An internal note: staff see it in the history, the customer never does."""
        from routing.router import _Txn

        text = _checked_text(text, "note")
        txn = _Txn()
        async with self.router.db.transaction() as session:
            conv = await conv_repo.get(session, conversation_id)
            tp = await self.router._record(
                session,
                conv,
                TouchpointKind.NOTE,
                Direction.INTERNAL,
                AuthorKind.AGENT,
                text,
                agent_id=agent.id,
            )
            txn.events.append(_event(tp, agent.name))
        await self.router._announce(txn)
        return tp

    async def transfer(
        self,
        agent: Agent,
        conversation_id: int,
        *,
        to_agent_id: int | None,
        team: str | None,
        note: str,
    ) -> Conversation:
        """Hand a conversation to another agent, or back to a team's queue, with a note."""
        from routing.router import _Txn

        if (to_agent_id is None) == (team is None):
            raise Invalid("bad_transfer", "give exactly one of agent_id and team")
        note = _checked_text(note, "note")
        if team is not None and team not in self.policy.team_names():
            raise Invalid(
                "unknown_team",
                f"no team {team!r}; teams: {', '.join(self.policy.team_names()) or 'none'}",
            )
        txn = _Txn()
        target: Agent | None = None
        async with self.router.db.transaction() as session:
            conv = await conv_repo.get(session, conversation_id, lock=True)
            self._may_move(agent, conv)
            now = self.clock.now()
            previous = conv.assignee_id
            if to_agent_id is not None:
                target = await agent_repo.get(session, to_agent_id)
                if target is None or not target.active:
                    raise Invalid("unknown_agent", f"no active agent {to_agent_id}")
                if target.id == previous:
                    raise Conflict("same_agent", f"{target.name} already has this conversation")
                if target.presence == Presence.OFFLINE.value:
                    raise Conflict("agent_offline", f"{target.name} is offline")
                ok = await conv_repo.transition(
                    session,
                    conv,
                    (ConversationStatus.ASSIGNED, ConversationStatus.QUEUED),
                    status=ConversationStatus.ASSIGNED,
                    assignee_id=target.id,
                    assigned_at=now,
                    updated_at=now,
                )
                where = target.name
            else:
                ok = await conv_repo.transition(
                    session,
                    conv,
                    (ConversationStatus.ASSIGNED, ConversationStatus.QUEUED),
                    status=ConversationStatus.QUEUED,
                    assignee_id=None,
                    team=team,
                    required_skills=[],  # the new team's own needs apply
                    queued_at=conv.queued_at or now,
                    updated_at=now,
                )
                where = f"the {team} team"
                txn.assign = True
            if not ok:
                raise Conflict(
                    "conversation_changed", "the conversation changed meanwhile; reload it"
                )
            tp = await self.router._record(
                session,
                conv,
                TouchpointKind.TRANSFER,
                Direction.INTERNAL,
                AuthorKind.AGENT,
                f"{agent.name} transferred the conversation to {where}: {note}",
                agent_id=agent.id,
                meta={
                    "from_agent_id": previous,
                    "to_agent_id": target.id if target else None,
                    "to_team": team,
                    "note": note,
                },
            )
            txn.events += [_event(tp, agent.name), _changed(conv), {"type": "queue"}]
            if target is not None:
                txn.events.append(
                    {"type": "assigned", "conversation_id": conv.id, "agent_id": target.id}
                )
                if self.router._traits(conv.channel).live:
                    identity = await customer_repo.get_identity(session, conv.identity_id)
                    await self.router._send(
                        session,
                        conv,
                        identity,
                        TouchpointKind.SYSTEM,
                        say("claimed", conv.locale, agent=target.name),
                        {"agent_id": target.id},
                        txn,
                    )
        self.router.metrics.assignments.labels("transfer").inc()
        log.info(
            "transferred",
            extra={"fields": {"conversation": conv.id, "to_agent": to_agent_id, "to_team": team}},
        )
        txn.events.append({"type": "agents"})
        await self.router._announce(txn)
        if target is not None:
            await self.router._after_claim(conv, target)
        return conv

    async def announce_closed(self, closed: list[Touchpoint]) -> None:
        """After commit: tell the consoles about the conversations ``close_unattended``
        closed (given their close touchpoints); an assignment pass fills the room it made."""
        from routing.router import _Txn

        if not closed:
            return
        txn = _Txn(assign=True)
        for tp in closed:
            txn.events += [
                _event(tp),
                {"type": "conversation", "conversation_id": tp.conversation_id},
            ]
        txn.events.append({"type": "queue"})
        await self.router._announce(txn)

    def _may_move(self, agent: Agent, conv: Conversation) -> None:
        if conv.status is ConversationStatus.CLOSED:
            raise Conflict("conversation_closed", "the conversation is closed")
        if agent.role in SUPERVISORS:
            if conv.status not in (ConversationStatus.ASSIGNED, ConversationStatus.QUEUED):
                raise Conflict("not_with_agents", "the conversation is with the bot")
            return
        if conv.status is not ConversationStatus.ASSIGNED:
            raise Conflict("not_claimed", "claim the conversation before acting on it")
        if conv.assignee_id != agent.id:
            raise Conflict("assigned_to_another", "the conversation is assigned to another agent")

    def check_disposition(self, disposition: str | None) -> str | None:
        if disposition is None or not disposition.strip():
            if self.policy.disposition_required and self.policy.dispositions:
                raise Invalid(
                    "disposition_required",
                    f"give a disposition: {', '.join(self.policy.dispositions)}",
                )
            return None
        if disposition not in self.policy.dispositions:
            raise Invalid(
                "unknown_disposition",
                f"disposition must be one of {', '.join(self.policy.dispositions)}",
            )
        return disposition

    def survey_after_close(self, conv: Conversation) -> bool:
        traits = self.router._traits(conv.channel)
        return self.policy.csat and traits.outbound and conv.channel != "voice"

    # ---- views --------------------------------------------------------------------------

    def sla_view(self, conv: Conversation, now: datetime | None = None) -> SlaView | None:
        if conv.status not in (ConversationStatus.QUEUED, ConversationStatus.ASSIGNED):
            return None
        now = now or self.clock.now()
        best: SlaView | None = None
        for target, attr in _SLA_FIELDS.items():
            due = getattr(conv, attr)
            if due is None:
                continue
            if best is None or due < best.due_at:
                best = SlaView(target, due, status(due, now, self.policy.at_risk_within))
        return best

    def works_queue(self, agent: Agent) -> bool:
        """Whether the agent takes customers' conversations at all (routing.access)."""
        return works_queue(Staff.of(agent.role, agent.teams))

    def takes(self, agent: Agent, team: str | None) -> bool:
        """Whether the agent is given (or pulls next) work of ``team``."""
        return takes(Staff.of(agent.role, agent.teams), team, self.policy.team_names())

    def sees(self, agent: Agent, team: str | None) -> bool:
        """Whether the agent may see and claim by id a queued conversation of ``team``."""
        staff = Staff.of(agent.role, agent.teams)
        return sees(staff, team, self.policy.team_names(), self.policy.open_queues)

    def require_supervisor(self, agent: Agent) -> None:
        if agent.role not in SUPERVISORS:
            raise Forbidden("supervisors_only", "only supervisors and admins may do this")

    async def agents_overview(self, session: AsyncSession) -> list[dict[str, Any]]:
        agents = await agent_repo.active(session)
        loads = await conv_repo.loads(session, [a.id for a in agents])
        since = self.clock.now() - self.router.policy.presence_timeout
        return [agent_view(a, loads.get(a.id, {}), _fresh(a, since)) for a in agents]

    async def _routing_text(self, session: AsyncSession, conv: Conversation) -> str:
        """What team rules' keywords look at: the subject and the customer's last words."""
        recent = await tp_repo.for_conversation(session, conv.id, kinds=[TouchpointKind.MESSAGE])
        said = [t.text for t in recent if t.direction is Direction.INBOUND][-3:]
        return " ".join([conv.subject or "", *said])


# ---- helpers -----------------------------------------------------------------------------


async def close_unattended(
    session: AsyncSession, conv: Conversation, why: str, reason: str, now: datetime
) -> Touchpoint | None:
    """Close an open conversation with no agent's say (its customer was erased): out of the
    queue and off its agent's load, the SLA clocks stopped, no goodbye and no survey; a system
    close touchpoint (``meta.reason``) says why. None when it was closed meanwhile. The caller
    announces it after commit (``Desk.announce_closed``)."""
    closed = await conv_repo.transition(
        session,
        conv,
        conv_repo.OPEN,
        status=ConversationStatus.CLOSED,
        closed_at=now,
        updated_at=now,
        first_response_due_at=None,
        next_response_due_at=None,
        resolution_due_at=None,
        csat_state=None,
        csat_asked_at=None,
    )
    if not closed:
        return None
    return await tp_repo.add(
        session,
        customer_id=conv.customer_id,
        conversation_id=conv.id,
        channel=conv.channel,
        kind=TouchpointKind.CLOSE,
        direction=Direction.INTERNAL,
        author_kind=AuthorKind.SYSTEM,
        now=now,
        text=f"Closed: {why}",
        meta={"reason": reason},
    )


def agent_state(
    agent: Agent,
    load_by_channel: dict[str, int],
    last_assigned_at: datetime | None,
    all_teams: frozenset[str],
) -> AgentState:
    load: dict[ChannelKind, int] = {}
    for channel, count in load_by_channel.items():
        kind = channel_kind(channel)
        load[kind] = load.get(kind, 0) + count
    # An agent in no team works every team's queue (a small desk needs no set-up); other
    # staff in no team work none (routing.access).
    staff = Staff.of(agent.role, agent.teams)
    teams = work_teams(staff, all_teams)
    return AgentState(
        agent_id=agent.id,
        teams=teams | ({""} if works_queue(staff) and not agent.teams else frozenset()),
        skills=frozenset(agent.skills or []),
        presence=Presence(agent.presence),
        capacity=capacity_of(agent),
        load=load,
        last_assigned_at=last_assigned_at,
        role=Role(agent.role) if agent.role in Role._value2member_map_ else Role.AGENT,
    )


def capacity_of(agent: Agent) -> dict[ChannelKind, int]:
    from routing.assignment import DEFAULT_CAPACITY

    return {
        kind: int((agent.capacity or {}).get(kind.value, n)) for kind, n in DEFAULT_CAPACITY.items()
    }


def agent_view(agent: Agent, load_by_channel: dict[str, int], fresh: bool) -> dict[str, Any]:
    load = {kind.value: 0 for kind in ChannelKind}
    for channel, count in load_by_channel.items():
        load[channel_kind(channel).value] += count
    return {
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "role": agent.role,
        "presence": agent.presence if fresh or agent.presence == "offline" else "offline",
        "teams": list(agent.teams or []),
        "skills": list(agent.skills or []),
        "capacity": {k.value: v for k, v in capacity_of(agent).items()},
        "load": load,
        "assigned": sum(load.values()),
        "last_seen_at": agent.last_seen_at.isoformat() if agent.last_seen_at else None,
    }


def _known(channel: str) -> str:
    """A channel name assignment knows (a test or custom channel counts as email-like)."""
    try:
        kind_of(channel)
        return channel
    except ValueError:
        return "email"


def _earliest(conv: Conversation) -> datetime | None:
    dues = [getattr(conv, attr) for attr in _SLA_FIELDS.values()]
    present = [d for d in dues if d is not None]
    return min(present) if present else None


def _fresh(agent: Agent, since: datetime) -> bool:
    return agent.last_seen_at is not None and agent.last_seen_at >= since


def _checked_text(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise Invalid(f"empty_{what}", f"the {what} is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise Invalid(f"{what}_too_long", f"a {what} is limited to {MAX_NOTE_CHARS} characters")
    return text


def _event(tp: Touchpoint, author_name: str | None = None) -> dict[str, Any]:
    from routing.router import _message_event

    return _message_event(tp, author_name)


def _changed(conv: Conversation) -> dict[str, Any]:
    return {"type": "conversation", "conversation_id": conv.id}


__all__ = ["Desk", "Invalid", "SlaView", "agent_state", "close_unattended", "csat_score"]
