"""What segmenting needs from the database: per-customer behaviour aggregated in SQL, profile
writes in batches, who set a segment (the rules or a person), and segment listings.

Who set a segment is recorded in the audit log, one ``customer.segment`` event per change with
``data = {"segment": …, "source": "rules" | "hand"}``. The rules may change a customer's
segment only while they own it: it is empty, or it is what the rules last wrote. Any other
value was set by a person (the API, an import, by hand in SQL) and is left alone; clearing it
gives it back to the rules. :func:`record_hand_set` pins a value explicitly, even one equal to
what the rules would compute.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, and_, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound
from storage.models import (
    AuditEvent,
    AuthorKind,
    Conversation,
    Customer,
    CustomerMerge,
    Direction,
    Touchpoint,
    TouchpointKind,
)
from storage.repos.audit import customer_target

SEGMENT_ACTION = "customer.segment"
RULES = "rules"
HAND = "hand"
RULES_ACTOR = "segments"


@dataclass(frozen=True)
class CustomerFacts:
    """One customer's behaviour: contacts are conversations; the first and last contact are
    the customer's first and last message (inbound touchpoint of kind ``message``)."""

    customer_id: int
    created_at: datetime
    segment: str | None
    attributes: dict[str, Any]
    tags: tuple[str, ...]
    first_contact_at: datetime | None = None
    last_contact_at: datetime | None = None
    conversations: int = 0
    conversations_in: dict[int, int] = field(default_factory=dict)  # last N days → count
    csat_avg: float | None = None
    channels: frozenset[str] = frozenset()
    escalations: int = 0
    escalations_in: dict[int, int] = field(default_factory=dict)
    # The customer's messages that read as negative (bot.sentiment, meta.sentiment).
    negative: int = 0
    negative_in: dict[int, int] = field(default_factory=dict)
    value_tier: str | None = None  # as last written


@dataclass(frozen=True)
class Profile:
    """What a recompute wants written for one customer."""

    customer_id: int
    value_tier: str | None
    lifecycle: str
    segment: str | None  # the first matching rule's, None: no rule matches
    # Write the segment only if the rules own it and it is still ``seen`` (what was read).
    rules_own: bool = True
    seen: str | None = None


async def customer_facts(
    session: AsyncSession,
    now: datetime,
    windows: Collection[int],
    customer_ids: Collection[int] | None = None,
) -> list[CustomerFacts]:
    """Every customer not erased (or just those of ``customer_ids``), with their behaviour;
    ``windows`` are the N of "in the last N days" counts wanted. Four grouped queries,
    whatever the number of customers."""
    days = sorted(set(windows))
    ids = None if customer_ids is None else sorted(set(customer_ids))
    convs = await _conversation_counts(session, now, days, ids)
    contacts = await _touchpoint_figures(session, now, days, ids)
    channels: dict[int, set[str]] = {}
    query = select(Conversation.customer_id, Conversation.channel).distinct()
    if ids is not None:
        query = query.where(Conversation.customer_id.in_(ids))
    for cid, channel in await session.execute(query):
        channels.setdefault(cid, set()).add(channel)
    customers = (
        select(
            Customer.id,
            Customer.created_at,
            Customer.segment,
            Customer.attributes,
            Customer.tags,
            Customer.value_tier,
        )
        .where(Customer.erased_at.is_(None), ~_merged_away())
        .order_by(Customer.id)
    )
    if ids is not None:
        customers = customers.where(Customer.id.in_(ids))
    rows = await session.execute(customers)
    result = []
    for cid, created, segment, attributes, tags, tier in rows:
        count, in_days, csat = convs.get(cid, (0, {}, None))
        first, last, escalations, esc_in, negative, neg_in = contacts.get(
            cid, (None, None, 0, {}, 0, {})
        )
        result.append(
            CustomerFacts(
                customer_id=cid,
                created_at=created,
                segment=segment,
                attributes=dict(attributes or {}),
                tags=tuple(tags or ()),
                first_contact_at=first,
                last_contact_at=last,
                conversations=count,
                conversations_in=in_days,
                csat_avg=csat,
                channels=frozenset(channels.get(cid, ())),
                escalations=escalations,
                escalations_in=esc_in,
                negative=negative,
                negative_in=neg_in,
                value_tier=tier,
            )
        )
    return result


def _since(column: Any, now: datetime, days: int) -> Any:
    return func.sum(case((column >= now - timedelta(days=days), 1), else_=0))


async def _conversation_counts(
    session: AsyncSession, now: datetime, days: Sequence[int], ids: Sequence[int] | None
) -> dict[int, tuple[int, dict[int, int], float | None]]:
    query = select(
        Conversation.customer_id,
        func.count(),
        func.avg(Conversation.csat_score),
        *(_since(Conversation.created_at, now, n) for n in days),
    ).group_by(Conversation.customer_id)
    if ids is not None:
        query = query.where(Conversation.customer_id.in_(ids))
    result = {}
    for row in await session.execute(query):
        cid, count, csat, *recent = row
        result[cid] = (
            int(count),
            {n: int(c or 0) for n, c in zip(days, recent, strict=True)},
            None if csat is None else float(csat),
        )
    return result


async def _touchpoint_figures(
    session: AsyncSession, now: datetime, days: Sequence[int], ids: Sequence[int] | None
) -> dict[int, tuple[datetime | None, datetime | None, int, dict[int, int], int, dict[int, int]]]:
    is_contact = and_(
        Touchpoint.kind == TouchpointKind.MESSAGE,
        Touchpoint.direction == Direction.INBOUND,
        Touchpoint.author_kind == AuthorKind.CUSTOMER,
    )
    is_escalation = Touchpoint.kind == TouchpointKind.ESCALATION
    is_negative = and_(is_contact, Touchpoint.meta["sentiment"].as_string() == "negative")
    contact_at = case((is_contact, Touchpoint.created_at), else_=None)

    def recent(condition: Any, n: int) -> Any:
        within = and_(condition, Touchpoint.created_at >= now - timedelta(days=n))
        return func.sum(case((within, 1), else_=0))

    query = (
        select(
            Touchpoint.customer_id,
            func.min(contact_at).label("first"),
            func.max(contact_at).label("last"),
            func.sum(case((is_escalation, 1), else_=0), type_=Integer),
            func.sum(case((is_negative, 1), else_=0), type_=Integer),
            *(recent(is_escalation, n) for n in days),
            *(recent(is_negative, n) for n in days),
        )
        .where(Touchpoint.kind.in_([TouchpointKind.MESSAGE, TouchpointKind.ESCALATION]))
        .group_by(Touchpoint.customer_id)
    )
    if ids is not None:
        query = query.where(Touchpoint.customer_id.in_(ids))
    column_type = Touchpoint.__table__.c.created_at.type
    dialect = session.get_bind().dialect
    result = {}
    for row in await session.execute(query):
        cid, first, last, escalations, negative, *counts = row
        escalated, unhappy = counts[: len(days)], counts[len(days) :]
        result[cid] = (
            _as_time(first, column_type, dialect),
            _as_time(last, column_type, dialect),
            int(escalations or 0),
            {n: int(c or 0) for n, c in zip(days, escalated, strict=True)},
            int(negative or 0),
            {n: int(c or 0) for n, c in zip(days, unhappy, strict=True)},
        )
    return result


def _as_time(value: Any, column_type: Any, dialect: Any) -> datetime | None:
    """min/max over a CASE lose the column's type on SQLite (text comes back)."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    result: datetime | None = column_type.process_result_value(value, dialect)
    return result


# ---- who owns a segment --------------------------------------------------------------------


async def last_segment_events(
    session: AsyncSession, customer_ids: Collection[int] | None = None
) -> dict[int, tuple[str, str | None]]:
    """The latest ``customer.segment`` event per customer: (source, segment)."""
    latest = select(func.max(AuditEvent.id)).where(AuditEvent.action == SEGMENT_ACTION)
    if customer_ids is not None:
        latest = latest.where(AuditEvent.target.in_([customer_target(i) for i in customer_ids]))
    rows = await session.execute(
        select(AuditEvent.target, AuditEvent.data).where(
            AuditEvent.id.in_(latest.group_by(AuditEvent.target))
        )
    )
    result = {}
    for target, data in rows:
        prefix, _, number = target.partition(":")
        if prefix == "customer" and number.isdigit():
            result[int(number)] = (str(data.get("source", HAND)), data.get("segment"))
    return result


def segment_source(current: str | None, last: tuple[str, str | None] | None) -> str | None:
    """``rules`` when the rules own the customer's segment, ``hand`` when a person set it,
    None when it is empty (the rules may fill it)."""
    if current is None:
        return None
    if last is not None and last == (RULES, current):
        return RULES
    return HAND


async def record_hand_set(
    session: AsyncSession, customer_id: int, segment: str | None, actor: str, now: datetime
) -> None:
    """A person sets (or clears, with None) a customer's segment; a set one is kept by every
    recompute until cleared. For the customers API (PATCH … {"segment": …})."""
    customer = await session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise RecordNotFound("customer", customer_id)
    before = customer.segment
    customer.segment = segment
    customer.updated_at = now
    session.add(
        AuditEvent(
            actor=actor,
            action=SEGMENT_ACTION,
            target=customer_target(customer_id),
            data={"segment": segment, "source": HAND, "from": before},
            created_at=now,
        )
    )


async def apply_profiles(session: AsyncSession, profiles: Sequence[Profile], now: datetime) -> int:
    """Write one batch: value tier, lifecycle and profiled_at for all; the segment where the
    rules own it and it is still what was read (rows locked: a segment a person sets
    meanwhile stays). Returns how many segments changed."""
    if not profiles:
        return 0
    ids = sorted(p.customer_id for p in profiles)
    current = dict(
        (
            await session.execute(
                select(Customer.id, Customer.segment)
                .where(Customer.id.in_(ids))
                .order_by(Customer.id)
                .with_for_update()
            )
        ).all()
    )
    table = cast(Table, Customer.__table__)
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(value_tier=bindparam("b_tier"), lifecycle=bindparam("b_stage"), profiled_at=now),
        [{"b_id": p.customer_id, "b_tier": p.value_tier, "b_stage": p.lifecycle} for p in profiles],
    )
    changes = [
        (p.customer_id, p.seen, p.segment)
        for p in profiles
        if p.rules_own
        and p.customer_id in current  # not erased or gone meanwhile
        and current[p.customer_id] == p.seen
        and p.segment != p.seen
    ]
    if changes:
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(segment=bindparam("b_segment"), updated_at=now),
            [{"b_id": cid, "b_segment": new} for cid, _, new in changes],
        )
        session.add_all(
            AuditEvent(
                actor=RULES_ACTOR,
                action=SEGMENT_ACTION,
                target=customer_target(cid),
                data={"segment": new, "source": RULES, "from": before},
                created_at=now,
            )
            for cid, before, new in changes
        )
    return len(changes)


# ---- listings --------------------------------------------------------------------------------


async def counts_by_segment(session: AsyncSession) -> dict[str | None, int]:
    rows = await session.execute(
        select(Customer.segment, func.count())
        .where(Customer.erased_at.is_(None), ~_merged_away())
        .group_by(Customer.segment)
    )
    return {segment: int(n) for segment, n in rows}


async def customers_in(
    session: AsyncSession, segment: str, *, after_id: int | None, limit: int
) -> list[Customer]:
    """Customers of ``segment`` in id order, from after ``after_id``."""
    query = select(Customer).where(
        Customer.segment == segment, Customer.erased_at.is_(None), ~_merged_away()
    )
    if after_id is not None:
        query = query.where(Customer.id > after_id)
    return list((await session.scalars(query.order_by(Customer.id).limit(limit))).all())


async def last_full_recompute(session: AsyncSession) -> tuple[datetime | None, bool]:
    """When every live customer was last profiled together (the oldest profile: a recompute
    stamps everyone, a one-customer reprofile only moves that one later), and whether there
    is any live customer at all."""
    live = (Customer.erased_at.is_(None), ~_merged_away())
    oldest, count = (
        await session.execute(select(func.min(Customer.profiled_at), func.count()).where(*live))
    ).one()
    column_type = Customer.__table__.c.profiled_at.type
    return _as_time(oldest, column_type, session.get_bind().dialect), bool(count)


def _merged_away() -> ColumnElement[bool]:
    """The customer was merged into another (and not undone): an empty shell, not profiled."""
    return (
        select(CustomerMerge.id)
        .where(CustomerMerge.source_id == Customer.id, CustomerMerge.undone_at.is_(None))
        .exists()
    )
