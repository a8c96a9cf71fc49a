"""Telling customers apart: value tiers (RFM-style), lifecycle stages and named segments from
the workspace's rules, computed for every customer on a schedule and on demand.

The scoring and the rules are pure (:func:`profiles`); :class:`Segmenter` loads the facts
(``storage.repos.segments``), computes, and writes in batches. The computed segment is
``customers.segment``, so the VIP priority and the VIP SLA policy of the desk apply to it.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from routing.clock import Clock
from routing.segment_rules import LIFECYCLE_STAGES, VALUE_TIERS, Group, as_number
from storage.db import Database
from storage.repos import segments as segment_repo
from storage.repos.segments import CustomerFacts, Profile

log = logging.getLogger("switchboard.segments")
# Tier boundaries by rank of value score: top 20 %, high the next 30 %, medium the next 30 %.
TIER_SHARES = (("top", 20), ("high", 50), ("medium", 80))
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LifecyclePolicy:
    new_days: int = 30  # first contact at most this long ago: new
    at_risk_days: int = 60  # no contact for this long: at risk
    lapsed_days: int = 180  # no contact for this long: lapsed
    low_csat: float = 2.5  # an average survey score at or below this: at risk
    escalations: int = 3  # this many escalations …
    escalation_days: int = 90  # … within this many days: at risk
    negative_messages: int = 2  # … or this many negative messages (bot.sentiment) in them


@dataclass(frozen=True)
class SegmentRule:
    name: str
    condition: Group


@dataclass(frozen=True)
class SegmentPolicy:
    """The ``segments:`` section of the workspace file."""

    rules: tuple[SegmentRule, ...] = ()
    value_attribute: str = "lifetime_value"  # the monetary part of the value score
    lifecycle: LifecyclePolicy = LifecyclePolicy()
    interval: timedelta = timedelta(hours=1)  # zero: only on demand
    batch_size: int = 500

    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)

    def windows(self) -> frozenset[int]:
        found = {self.lifecycle.escalation_days}
        for rule in self.rules:
            found |= rule.condition.windows()
        return frozenset(found)


class CustomerView:
    """A customer's facts as the rule language sees them (routing.segment_rules.Facts)."""

    def __init__(self, facts: CustomerFacts, now: datetime, tier: str | None, stage: str) -> None:
        self.facts = facts
        self.now = now
        self.tier = tier
        self.stage = stage

    def value(self, field: str, window: int | None) -> Any:
        f = self.facts
        if field.startswith("attr."):
            return f.attributes.get(field[5:])
        if field == "contacts":
            return f.conversations if window is None else f.conversations_in.get(window, 0)
        if field == "escalations":
            return f.escalations if window is None else f.escalations_in.get(window, 0)
        if field == "negative_messages":
            return f.negative if window is None else f.negative_in.get(window, 0)
        if field == "days_since_contact":
            return days_since_contact(f, self.now)
        if field == "channel_count":
            return len(f.channels)
        named: dict[str, Any] = {
            "tags": f.tags,
            "channels": f.channels,
            "csat_avg": f.csat_avg,
            "value_tier": self.tier,
            "lifecycle": self.stage,
        }
        return named[field]


def days_since_contact(facts: CustomerFacts, now: datetime) -> int:
    """Whole days since the customer's last message (or since they were created, if never)."""
    last = facts.last_contact_at or facts.created_at
    return max(0, (now - last).days)


def lifecycle_stage(facts: CustomerFacts, now: datetime, policy: LifecyclePolicy) -> str:
    """lapsed, then at_risk, then new, then active: the first that holds."""
    idle = days_since_contact(facts, now)
    if idle >= policy.lapsed_days:
        return "lapsed"
    low_csat = facts.csat_avg is not None and facts.csat_avg <= policy.low_csat
    escalated = facts.escalations_in.get(policy.escalation_days, 0) >= policy.escalations
    unhappy = facts.negative_in.get(policy.escalation_days, 0) >= policy.negative_messages
    if idle >= policy.at_risk_days or low_csat or escalated or unhappy:
        return "at_risk"
    first = facts.first_contact_at or facts.created_at
    if now - first <= timedelta(days=policy.new_days):
        return "new"
    return "active"


def value_tiers(
    facts: Sequence[CustomerFacts], now: datetime, value_attribute: str
) -> dict[int, str]:
    """RFM: recency (fewer days since contact is better), frequency (conversations) and
    monetary value (the attribute, missing or not a number: 0) each scored 1–5 by quintile
    (1 + ⌊5 × customers strictly worse ÷ all⌋, at most 5); the value score is their sum.
    Ranked by value score, then monetary value, frequency and recency, then id: the first
    ⌊20 %⌋ are top, up to ⌊50 %⌋ high, up to ⌊80 %⌋ medium, the rest low."""
    n = len(facts)
    if not n:
        return {}
    recency = [-days_since_contact(f, now) for f in facts]
    frequency = [f.conversations for f in facts]
    money = [as_number(f.attributes.get(value_attribute)) or 0.0 for f in facts]
    scores = [_quintiles(recency), _quintiles(frequency), _quintiles(money)]
    ranked = sorted(
        range(n),
        key=lambda i: (
            -(scores[0][i] + scores[1][i] + scores[2][i]),
            -money[i],
            -frequency[i],
            -recency[i],
            facts[i].customer_id,
        ),
    )
    bounds = [(tier, n * share // 100) for tier, share in TIER_SHARES]
    tiers = {}
    for rank, i in enumerate(ranked):
        tier = next((t for t, bound in bounds if rank < bound), VALUE_TIERS[-1])
        tiers[facts[i].customer_id] = tier
    return tiers


def _quintiles(values: Sequence[float]) -> list[int]:
    ordered = sorted(values)
    n = len(values)
    return [min(5, 1 + 5 * bisect.bisect_left(ordered, v) // n) for v in values]


def profiles(
    facts: Sequence[CustomerFacts],
    now: datetime,
    policy: SegmentPolicy,
    hand_set: Collection[int] = (),
    tiers: Mapping[int, str | None] | None = None,
) -> list[Profile]:
    """Tier, stage and the first matching rule's segment for every customer; the segment of
    the customers in ``hand_set`` (set by a person) is not the rules' to change. ``tiers``
    given: these value tiers instead of ranking ``facts`` (a few customers are not a ranking)."""
    if tiers is None:
        tiers = value_tiers(facts, now, policy.value_attribute)
    result = []
    for f in facts:
        tier = tiers[f.customer_id]
        stage = lifecycle_stage(f, now, policy.lifecycle)
        view = CustomerView(f, now, tier, stage)
        segment = next((r.name for r in policy.rules if r.condition.matches(view)), None)
        own = f.customer_id not in hand_set
        result.append(Profile(f.customer_id, tier, stage, segment, rules_own=own, seen=f.segment))
    return result


async def reprofile(
    session: AsyncSession, customer_ids: Collection[int], now: datetime, policy: SegmentPolicy
) -> int:
    """Recompute a few customers' lifecycle stage and segment at once, in the caller's
    transaction (their attributes or tags just changed); a segment set by hand stays. Their
    value tier, a rank among all customers, keeps its last value until the next recompute.
    Returns how many segments changed."""
    facts = await segment_repo.customer_facts(session, now, policy.windows(), customer_ids)
    owners = await segment_repo.last_segment_events(session, customer_ids)
    tiers = {f.customer_id: f.value_tier for f in facts}
    computed = profiles(facts, now, policy, _hand_set(facts, owners), tiers)
    return await segment_repo.apply_profiles(session, computed, now)


def _hand_set(
    facts: Sequence[CustomerFacts], owners: Mapping[int, tuple[str, str | None]]
) -> set[int]:
    """The customers whose segment a person set."""
    return {
        f.customer_id
        for f in facts
        if segment_repo.segment_source(f.segment, owners.get(f.customer_id)) == segment_repo.HAND
    }


class Segmenter:
    """Recomputes every customer's profile; ``run`` does it every ``policy.interval``."""

    def __init__(self, db: Database, clock: Clock, policy: SegmentPolicy) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy

    async def recompute(self, progress: Progress | None = None) -> dict[str, Any]:
        now = self.clock.now()
        async with self.db.transaction() as session:
            facts = await segment_repo.customer_facts(session, now, self.policy.windows())
            owners = await segment_repo.last_segment_events(session)
        computed = profiles(facts, now, self.policy, _hand_set(facts, owners))
        changed = 0
        size = self.policy.batch_size
        for start in range(0, len(computed), size):
            batch = computed[start : start + size]
            async with self.db.transaction() as session:
                changed += await segment_repo.apply_profiles(session, batch, now)
            if progress is not None:
                progress(start + len(batch), len(computed))
        summary = {
            "customers": len(computed),
            "segments_changed": changed,
            "value_tiers": _counts(VALUE_TIERS, (p.value_tier for p in computed)),
            "lifecycle": _counts(LIFECYCLE_STAGES, (p.lifecycle for p in computed)),
            "matched": dict(Counter(p.segment for p in computed if p.segment)),
            "profiled_at": now,
        }
        log.info(
            "segments_recomputed",
            extra={"fields": {"customers": len(computed), "segments_changed": changed}},
        )
        return summary

    async def run(self) -> None:
        """Recompute whenever the last full recompute is ``interval`` old. Every process runs
        this, but one that starts (or wakes) just after another recomputed waits its turn: a
        deploy of N processes does not recompute N times at once."""
        interval = self.policy.interval.total_seconds()
        if interval <= 0:
            return
        while True:
            wait = interval
            try:
                due_in = await self.due_in()
                if due_in <= 0:
                    await self.recompute()
                else:
                    wait = due_in
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; try again next time
                log.exception("segments_cycle_failed")
            await asyncio.sleep(max(wait, 1.0))

    async def due_in(self) -> float:
        """Seconds until the next full recompute is due (0 or less: now)."""
        async with self.db.transaction() as session:
            last, anyone = await segment_repo.last_full_recompute(session)
        if not anyone:
            return self.policy.interval.total_seconds()
        if last is None:
            return 0.0
        return (last + self.policy.interval - self.clock.now()).total_seconds()


def _counts(names: Sequence[str], values: Any) -> dict[str, int]:
    found = Counter(values)
    return {name: found.get(name, 0) for name in names}
