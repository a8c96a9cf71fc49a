"""A customer's data: everything held about them (export), erasing it on request, and
removing old message bodies (retention). Aggregates (kinds, times, statuses, scores) stay."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound
from storage.models import (
    ArticleFeedback,
    AuditEvent,
    Call,
    ContactIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerMerge,
    CustomerNote,
    DeliveryState,
    OutboxItem,
    OutboxStatus,
    StoredAttachment,
    Touchpoint,
)
from storage.repos import verifications as verification_repo
from storage.repos.audit import customer_target

EXPORT_SCHEMA_VERSION = 1
# meta.reason of the close that ends an erased customer's open conversations (no resolution).
ERASED_CLOSE_REASON = "customer_erased"
NOT_SENT = "not sent: the customer's data was erased"

# What a touchpoint's meta keeps once its body is removed: routing facts, never what the
# customer wrote or who they are (email text, subjects, names, questions, client ids …).
KEPT_META = frozenset(
    {
        "intent",
        "article_id",
        "article_locale",
        "best_article_id",
        "confidence",
        "locale",
        "reason",
        "team",
        "automatic",
        "auto",
        "feedback",
        "sentiment",  # the lean of a message (bot.sentiment): the lifecycle counts it
        "consent",
        "source",
        "via",
        "sla_breach",
        "due_at",
        "requeued_from",
        "from_agent_id",
        "to_agent_id",
        "to_team",
        "queue_position",
        "agents_online",
        "estimated_wait_seconds",
        "csat",
        "csat_comment",
        "survey",
        "event",
        "disposition",
        "acknowledgement",
        "spoken",
        "answered",
        "recording_seconds",
    }
)


class AlreadyErased(Exception):
    def __init__(self, customer_id: int, when: datetime) -> None:
        super().__init__(f"customer {customer_id} was already erased at {when.isoformat()}")


def redacted_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """The routing facts of ``meta``; files are only counted."""
    meta = meta or {}
    kept = {k: v for k, v in meta.items() if k in KEPT_META}
    if meta.get("attachments"):
        kept["attachments_removed"] = len(meta["attachments"])
    return kept


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _conversation_ids(session: AsyncSession, customer_id: int) -> list[int]:
    rows = await session.execute(
        select(Conversation.id).where(Conversation.customer_id == customer_id)
    )
    return list(rows.scalars())


def _feedback_of(customer_id: int, conversation_ids: Sequence[int]) -> ColumnElement[bool]:
    # A merge moves conversations, not votes: a vote belongs by customer or by conversation.
    return or_(
        ArticleFeedback.customer_id == customer_id,
        ArticleFeedback.conversation_id.in_(list(conversation_ids)),
    )


async def export(session: AsyncSession, customer_id: int, now: datetime) -> dict[str, Any]:
    """Everything held about one customer, as JSON-ready data."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise RecordNotFound("customer", customer_id)
    identities = (
        await session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.customer_id == customer_id)
            .order_by(ContactIdentity.id)
        )
    ).all()
    convs = (
        await session.scalars(
            select(Conversation)
            .where(Conversation.customer_id == customer_id)
            .order_by(Conversation.id)
        )
    ).all()
    conv_ids = [c.id for c in convs]
    touchpoints = (
        await session.scalars(
            select(Touchpoint).where(Touchpoint.customer_id == customer_id).order_by(Touchpoint.id)
        )
    ).all()
    tp_ids = [t.id for t in touchpoints]
    calls = (
        await session.scalars(
            select(Call).where(Call.conversation_id.in_(conv_ids)).order_by(Call.id)
        )
    ).all()
    attachments = (
        await session.scalars(
            select(StoredAttachment)
            .where(StoredAttachment.touchpoint_id.in_(tp_ids))
            .order_by(StoredAttachment.id)
        )
    ).all()
    votes = (
        await session.scalars(
            select(ArticleFeedback)
            .where(_feedback_of(customer_id, conv_ids))
            .order_by(ArticleFeedback.id)
        )
    ).all()
    notes = (
        await session.scalars(
            select(CustomerNote)
            .where(CustomerNote.customer_id == customer_id)
            .order_by(CustomerNote.id)
        )
    ).all()
    merges = (
        await session.scalars(
            select(CustomerMerge)
            .where(
                or_(CustomerMerge.source_id == customer_id, CustomerMerge.target_id == customer_id)
            )
            .order_by(CustomerMerge.id)
        )
    ).all()
    events = (
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.target == customer_target(customer_id))
            .order_by(AuditEvent.id)
        )
    ).all()
    return {
        "schema_version": EXPORT_SCHEMA_VERSION,
        "exported_at": _iso(now),
        "customer": {
            "id": customer.id,
            "display_name": customer.display_name,
            "locale": customer.locale,
            "segment": customer.segment,
            "attributes": customer.attributes or {},
            "tags": customer.tags or [],
            "value_tier": customer.value_tier,
            "lifecycle": customer.lifecycle,
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
            "erased_at": _iso(customer.erased_at),
            "erased_by": customer.erased_by,
        },
        "identities": [
            {
                "id": i.id,
                "channel": i.channel,
                "address": i.address,
                "display_name": i.display_name,
                "created_at": _iso(i.created_at),
                "opted_out_at": _iso(i.opted_out_at),
                "last_auto_reply_at": _iso(i.last_auto_reply_at),
            }
            for i in identities
        ],
        "conversations": [_conversation(c) for c in convs],
        "touchpoints": [_touchpoint(t) for t in touchpoints],
        "calls": [_call(c) for c in calls],
        "attachments": [_attachment(a) for a in attachments],
        "article_feedback": [
            {
                "id": v.id,
                "touchpoint_id": v.touchpoint_id,
                "conversation_id": v.conversation_id,
                "article_id": v.article_id,
                "locale": v.locale,
                "article_version": v.article_version,
                "channel": v.channel,
                "helpful": v.helpful,
                "question": v.question,
                "created_at": _iso(v.created_at),
                "updated_at": _iso(v.updated_at),
            }
            for v in votes
        ],
        "csat": [
            {
                "conversation_id": c.id,
                "state": c.csat_state,
                "asked_at": _iso(c.csat_asked_at),
                "score": c.csat_score,
                "comment": c.csat_comment,
            }
            for c in convs
            if c.csat_state
        ],
        "notes": [
            {"id": n.id, "author": n.author, "text": n.text, "created_at": _iso(n.created_at)}
            for n in notes
        ],
        "merges": [
            {
                "id": m.id,
                "source_id": m.source_id,
                "target_id": m.target_id,
                "actor": m.actor,
                "reason": m.reason,
                "moved": m.moved or {},
                "created_at": _iso(m.created_at),
                "undone_at": _iso(m.undone_at),
                "undone_by": m.undone_by,
            }
            for m in merges
        ],
        "audit_events": [
            {
                "id": e.id,
                "actor": e.actor,
                "action": e.action,
                "data": e.data or {},
                "created_at": _iso(e.created_at),
            }
            for e in events
        ],
    }


def _conversation(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "reference": c.reference,
        "channel": c.channel,
        "status": c.status.value,
        "subject": c.subject,
        "locale": c.locale,
        "priority": c.priority,
        "team": c.team,
        "assignee_id": c.assignee_id,
        "disposition": c.disposition,
        "created_at": _iso(c.created_at),
        "queued_at": _iso(c.queued_at),
        "assigned_at": _iso(c.assigned_at),
        "first_response_at": _iso(c.first_response_at),
        "closed_at": _iso(c.closed_at),
    }


def _touchpoint(t: Touchpoint) -> dict[str, Any]:
    return {
        "id": t.id,
        "conversation_id": t.conversation_id,
        "channel": t.channel,
        "kind": t.kind.value,
        "direction": t.direction.value,
        "author_kind": t.author_kind.value,
        "agent_id": t.agent_id,
        "text": t.text,
        "meta": t.meta or {},
        "provider_message_id": t.provider_message_id,
        "delivery_state": t.delivery_state.value if t.delivery_state else None,
        "created_at": _iso(t.created_at),
        "redacted_at": _iso(t.redacted_at),
    }


def _call(c: Call) -> dict[str, Any]:
    return {
        "id": c.id,
        "call_sid": c.call_sid,
        "conversation_id": c.conversation_id,
        "from_number": c.from_number,
        "to_number": c.to_number,
        "status": c.status,
        "outcome": c.outcome,
        "state": c.state or {},
        "started_at": _iso(c.started_at),
        "queued_at": _iso(c.queued_at),
        "connected_at": _iso(c.connected_at),
        "ended_at": _iso(c.ended_at),
        "duration_seconds": c.duration_seconds,
    }


def _attachment(a: StoredAttachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "touchpoint_id": a.touchpoint_id,
        "name": a.name,
        "content_type": a.content_type,
        "size": a.size,
        "omitted": a.omitted,
        "created_at": _iso(a.created_at),
        "content_base64": base64.b64encode(a.data).decode("ascii") if a.data is not None else None,
    }


async def erase(
    session: AsyncSession, customer_id: int, *, actor: str, now: datetime
) -> dict[str, int]:
    """Remove a customer's personal data and message bodies; kinds, times, statuses, scores
    and counts stay. Their addresses become ``erased:<identity id>``, so the same real address
    writing again is a new customer. Returns what was changed, by kind."""
    customer = await session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise RecordNotFound("customer", customer_id)
    if customer.erased_at is not None:
        raise AlreadyErased(customer_id, customer.erased_at)
    customer.display_name = None
    customer.attributes, customer.tags = {}, []
    customer.erased_at, customer.erased_by, customer.updated_at = now, actor, now
    identities = (
        await session.scalars(
            select(ContactIdentity).where(ContactIdentity.customer_id == customer_id)
        )
    ).all()
    for identity in identities:
        identity.address = f"erased:{identity.id}"
        identity.display_name = None
    # Codes a chat visitor asked for name the address they claimed.
    await verification_repo.forget(session, [i.id for i in identities])
    conv_ids = await _conversation_ids(session, customer_id)
    await session.execute(
        update(Conversation)
        .where(Conversation.id.in_(conv_ids))
        .values(subject=None, csat_comment=None)
        .execution_options(synchronize_session=False)
    )
    touchpoints = (
        await session.scalars(select(Touchpoint).where(Touchpoint.customer_id == customer_id))
    ).all()
    tp_ids = [t.id for t in touchpoints]
    stopped = await _stop_outbox(session, tp_ids)
    for tp in touchpoints:
        tp.text = ""
        tp.meta = redacted_meta(tp.meta)
        tp.provider_message_id = None  # an email Message-ID can carry the sender's domain
        tp.redacted_at = tp.redacted_at or now
        if tp.id in stopped and tp.delivery_state is DeliveryState.PENDING:
            tp.delivery_state = DeliveryState.FAILED
    attachments = await _delete_attachments(session, tp_ids)
    calls = await session.execute(
        update(Call)
        .where(Call.conversation_id.in_(conv_ids))
        .values(from_number="", to_number="", state={})
        .execution_options(synchronize_session=False)
    )
    votes = await session.execute(
        update(ArticleFeedback)
        .where(_feedback_of(customer_id, conv_ids))
        .values(question=None)
        .execution_options(synchronize_session=False)
    )
    # A merge's record of the profiles before and after holds names and attributes too.
    await session.execute(
        update(CustomerMerge)
        .where(or_(CustomerMerge.source_id == customer_id, CustomerMerge.target_id == customer_id))
        .values(profile={})
        .execution_options(synchronize_session=False)
    )
    notes = await session.execute(
        delete(CustomerNote)
        .where(CustomerNote.customer_id == customer_id)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return {
        "identities": len(identities),
        "conversations": len(conv_ids),
        "touchpoints": len(tp_ids),
        "attachments": attachments,
        "calls": _rowcount(calls),
        "article_feedback": _rowcount(votes),
        "outbox_stopped": len(stopped),
        "notes": _rowcount(notes),
    }


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def _stop_outbox(session: AsyncSession, tp_ids: list[int]) -> set[int]:
    """Empty the outbox rows of these touchpoints; the unsent ones fail. Returns the
    touchpoints whose reply will now never be sent."""
    if not tp_ids:
        return set()
    unsent = (
        await session.scalars(
            select(OutboxItem.touchpoint_id).where(
                OutboxItem.touchpoint_id.in_(tp_ids),
                OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
            )
        )
    ).all()
    await session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.touchpoint_id.in_(tp_ids),
            OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        )
        .values(status=OutboxStatus.FAILED, locked_until=None, last_error=NOT_SENT)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.touchpoint_id.in_(tp_ids))
        .values(address="erased", payload={})
        .execution_options(synchronize_session=False)
    )
    return set(unsent)


async def _delete_attachments(session: AsyncSession, tp_ids: list[int]) -> int:
    if not tp_ids:
        return 0
    result = await session.execute(
        delete(StoredAttachment)
        .where(StoredAttachment.touchpoint_id.in_(tp_ids))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def _due(channel: str, before: datetime) -> Any:
    """Touchpoints on ``channel`` older than ``before``, with a body, in a conversation
    closed before ``before`` too (an open conversation keeps its history)."""
    return (
        select(Touchpoint.id)
        .join(Conversation, Conversation.id == Touchpoint.conversation_id)
        .where(
            Touchpoint.channel == channel,
            Touchpoint.created_at < before,
            Touchpoint.redacted_at.is_(None),
            Conversation.status == ConversationStatus.CLOSED,
            Conversation.closed_at < before,
        )
    )


async def count_due(session: AsyncSession, channel: str, before: datetime) -> dict[str, int]:
    """What ``redact_due`` would remove (a dry run)."""
    due = _due(channel, before).subquery()
    touchpoints = await session.scalar(select(func.count()).select_from(due))
    attachments = await session.scalar(
        select(func.count(StoredAttachment.id)).where(
            StoredAttachment.touchpoint_id.in_(select(due.c.id))
        )
    )
    return {"touchpoints": int(touchpoints or 0), "attachments": int(attachments or 0)}


async def redact_due(
    session: AsyncSession, channel: str, before: datetime, now: datetime, limit: int
) -> dict[str, int]:
    """Remove the bodies of up to ``limit`` due touchpoints (see ``_due``): text emptied,
    meta cut to routing facts, files deleted, what the bot was asked forgotten."""
    query = _due(channel, before).order_by(Touchpoint.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Touchpoint, skip_locked=True)
    tp_ids = list((await session.scalars(query)).all())
    if not tp_ids:
        return {"touchpoints": 0, "attachments": 0}
    touchpoints = (await session.scalars(select(Touchpoint).where(Touchpoint.id.in_(tp_ids)))).all()
    for tp in touchpoints:
        tp.text = ""
        tp.meta = redacted_meta(tp.meta)
        tp.redacted_at = now
    attachments = await _delete_attachments(session, tp_ids)
    await session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.touchpoint_id.in_(tp_ids),
            OutboxItem.status.in_([OutboxStatus.SENT, OutboxStatus.FAILED]),
        )
        .values(payload={})
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(ArticleFeedback)
        .where(ArticleFeedback.touchpoint_id.in_(tp_ids))
        .values(question=None)
        .execution_options(synchronize_session=False)
    )
    conv_ids = select(Touchpoint.conversation_id).where(Touchpoint.id.in_(tp_ids))
    await session.execute(
        update(Conversation)
        .where(Conversation.id.in_(conv_ids))
        .values(subject=None, csat_comment=None)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return {"touchpoints": len(tp_ids), "attachments": attachments}
