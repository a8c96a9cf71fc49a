"""Merging one customer into another, recorded row by row so it can be undone.

Identities, conversations, touchpoints, votes and notes carry a ``customer_id`` and move;
calls and attachments belong to a conversation or a touchpoint and go with it (their ids are
recorded too). The source customer row stays, empty, so old links to it still resolve.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound, StorageError
from storage.models import (
    ArticleFeedback,
    Call,
    ContactIdentity,
    Conversation,
    Customer,
    CustomerMerge,
    CustomerNote,
    StoredAttachment,
    Touchpoint,
)

# What moves with a merge, by the name it has in ``CustomerMerge.moved``.
MOVABLE: dict[str, Any] = {
    "identities": ContactIdentity,
    "conversations": Conversation,
    "touchpoints": Touchpoint,
    "votes": ArticleFeedback,
    "notes": CustomerNote,
}
PROFILE_FIELDS = ("display_name", "locale", "segment", "attributes", "tags")
_CHUNK = 500  # ids per IN (...) list: far below SQLite's and asyncpg's parameter limits


class MergeRefused(StorageError):
    """A merge or an undo that cannot be done; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


async def _ids_of(session: AsyncSession, column: Any, where: Any, keys: Sequence[int]) -> list[int]:
    found: list[int] = []
    for chunk in _chunks(keys):
        found += list((await session.scalars(select(column).where(where.in_(chunk)))).all())
    return sorted(found)


def _profile(customer: Customer) -> dict[str, Any]:
    return {
        "display_name": customer.display_name,
        "locale": customer.locale,
        "segment": customer.segment,
        "attributes": dict(customer.attributes or {}),
        "tags": list(customer.tags or []),
    }


async def _customer(session: AsyncSession, customer_id: int) -> Customer:
    # FOR NO KEY UPDATE: rows being inserted that refer to the customer (their foreign-key
    # check takes KEY SHARE) must not wait for the merge, or the two deadlock.
    customer = await session.get(Customer, customer_id, with_for_update={"key_share": True})
    if customer is None:
        raise RecordNotFound("customer", customer_id)
    return customer


async def merge(
    session: AsyncSession,
    source_id: int,
    target_id: int,
    now: datetime,
    *,
    actor: str = "system",
    reason: str | None = None,
) -> CustomerMerge:
    """Move everything of ``source_id`` to ``target_id`` and record exactly what moved."""
    if source_id == target_id:
        raise MergeRefused("same_customer", f"customer {source_id} cannot be merged into itself")
    target = await _customer(session, target_id)
    source = await _customer(session, source_id)
    for customer in (source, target):
        if customer.erased_at is not None:
            raise MergeRefused(
                "customer_erased", f"customer {customer.id} was erased and cannot be merged"
            )
    moved: dict[str, list[int]] = {}
    for key, model in MOVABLE.items():
        result = await session.execute(
            update(model)
            .where(model.customer_id == source_id)
            .values(customer_id=target_id)
            .returning(model.id)
            .execution_options(synchronize_session="evaluate")
        )
        moved[key] = sorted(result.scalars().all())
    moved["calls"] = await _ids_of(session, Call.id, Call.conversation_id, moved["conversations"])
    moved["attachments"] = await _ids_of(
        session, StoredAttachment.id, StoredAttachment.touchpoint_id, moved["touchpoints"]
    )
    before = _profile(target)
    target.display_name = target.display_name or source.display_name
    target.locale = target.locale or source.locale
    target.segment = target.segment or source.segment
    target.attributes = {**(source.attributes or {}), **(target.attributes or {})}
    target.tags = list(dict.fromkeys([*(target.tags or []), *(source.tags or [])]))
    target.updated_at = now
    row = CustomerMerge(
        source_id=source_id,
        target_id=target_id,
        actor=actor,
        reason=reason,
        moved=moved,
        profile={"before": before, "after": _profile(target)},
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def undo(session: AsyncSession, merge_id: int, now: datetime, actor: str) -> CustomerMerge:
    """Put back what a merge moved, with what joined the moved addresses since (a new
    conversation of a moved identity goes back with it). Refused once any of it moved again."""
    row = await session.get(CustomerMerge, merge_id, with_for_update={"key_share": True})
    if row is None:
        raise RecordNotFound("merge", merge_id)
    if row.undone_at is not None:
        raise MergeRefused(
            "already_undone", f"merge {merge_id} was already undone at {row.undone_at.isoformat()}"
        )
    target = await _customer(session, row.target_id)
    source = await _customer(session, row.source_id)
    if target.erased_at is not None or source.erased_at is not None:
        raise MergeRefused("customer_erased", "a customer of this merge was erased since")
    moved: dict[str, list[int]] = {k: list(row.moved.get(k, [])) for k in MOVABLE}
    for key, model in MOVABLE.items():
        ids = moved[key]
        still = 0
        for chunk in _chunks(ids):
            still += int(
                await session.scalar(
                    select(func.count())
                    .select_from(model)
                    .where(model.id.in_(chunk), model.customer_id == row.target_id)
                )
                or 0
            )
        if still != len(ids):
            raise MergeRefused(
                "moved_again",
                f"some {key} of merge {merge_id} have moved since (merged again or erased): "
                "it can no longer be undone",
            )
    await _add_later(session, row.target_id, moved)
    for key, model in MOVABLE.items():
        for chunk in _chunks(moved[key]):
            await session.execute(
                update(model)
                .where(model.id.in_(chunk), model.customer_id == row.target_id)
                .values(customer_id=row.source_id)
                .execution_options(synchronize_session="evaluate")
            )
    after = row.profile.get("after", {})
    before = row.profile.get("before", {})
    current = _profile(target)
    for name in PROFILE_FIELDS:
        if name in after and current[name] == after[name]:  # not edited since the merge
            setattr(target, name, before.get(name))
    target.updated_at = now
    row.undone_at, row.undone_by = now, actor
    await session.flush()
    return row


async def _add_later(session: AsyncSession, target_id: int, moved: dict[str, list[int]]) -> None:
    """What joined the moved records since the merge follows them back: conversations opened
    on a moved identity, and the touchpoints and votes of every moved conversation."""
    later: list[int] = []
    for chunk in _chunks(moved["identities"]):
        later += list(
            (
                await session.scalars(
                    select(Conversation.id).where(
                        Conversation.identity_id.in_(chunk),
                        Conversation.customer_id == target_id,
                    )
                )
            ).all()
        )
    moved["conversations"] = sorted(set(moved["conversations"]) | set(later))
    for key, model in (("touchpoints", Touchpoint), ("votes", ArticleFeedback)):
        extra: list[int] = []
        for chunk in _chunks(moved["conversations"]):
            extra += list(
                (
                    await session.scalars(
                        select(model.id).where(
                            model.conversation_id.in_(chunk), model.customer_id == target_id
                        )
                    )
                ).all()
            )
        moved[key] = sorted(set(moved[key]) | set(extra))


async def merged_into(session: AsyncSession, customer_id: int) -> CustomerMerge | None:
    """The standing merge that emptied this customer, if any."""
    return (
        await session.scalars(
            select(CustomerMerge)
            .where(CustomerMerge.source_id == customer_id, CustomerMerge.undone_at.is_(None))
            .order_by(CustomerMerge.id.desc())
            .limit(1)
        )
    ).first()


async def merges_of(session: AsyncSession, customer_id: int) -> list[CustomerMerge]:
    """Every merge this customer took part in, oldest first."""
    return list(
        (
            await session.scalars(
                select(CustomerMerge)
                .where(
                    (CustomerMerge.source_id == customer_id)
                    | (CustomerMerge.target_id == customer_id)
                )
                .order_by(CustomerMerge.id)
            )
        ).all()
    )


def merge_view(row: CustomerMerge) -> dict[str, Any]:
    return {
        "id": row.id,
        "source_id": row.source_id,
        "target_id": row.target_id,
        "actor": row.actor,
        "reason": row.reason,
        "moved": {k: len(v) for k, v in (row.moved or {}).items()},
        "created_at": row.created_at.isoformat(),
        "undone_at": row.undone_at.isoformat() if row.undone_at else None,
        "undone_by": row.undone_by,
    }
