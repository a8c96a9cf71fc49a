"""Canned responses: replies agents insert by shortcut (placeholders: routing.placeholders)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import RecordNotFound, StorageError, is_unique_violation
from storage.models import CannedResponse

FIELDS = ("shortcut", "title", "text", "team")
LIST_LIMIT = 500


class DuplicateShortcut(StorageError):
    """Another canned response already has this shortcut (the API answers 409)."""

    def __init__(self, shortcut: str) -> None:
        super().__init__(f"the shortcut {shortcut!r} is already taken")
        self.shortcut = shortcut


async def list_for(
    session: AsyncSession,
    *,
    search: str | None = None,
    teams: Collection[str] | None = None,
    limit: int = LIST_LIMIT,
) -> list[CannedResponse]:
    """By shortcut. ``search``: a case-insensitive substring of the shortcut, title or text.
    ``teams``: only rows for everyone (team NULL) or for one of these teams; None: all rows.

    (On SQLite, case folding is ASCII only; PostgreSQL folds any letter.)
    """
    query = select(CannedResponse)
    if search:
        query = query.where(
            or_(
                CannedResponse.shortcut.icontains(search, autoescape=True),
                CannedResponse.title.icontains(search, autoescape=True),
                CannedResponse.text.icontains(search, autoescape=True),
            )
        )
    if teams is not None:
        query = query.where(
            or_(CannedResponse.team.is_(None), CannedResponse.team.in_(sorted(teams)))
        )
    rows = await session.execute(query.order_by(CannedResponse.shortcut).limit(limit))
    return list(rows.scalars())


async def get(session: AsyncSession, response_id: int) -> CannedResponse:
    row = await session.get(CannedResponse, response_id)
    if row is None:
        raise RecordNotFound("canned_response", response_id)
    return row


async def add(
    session: AsyncSession,
    *,
    shortcut: str,
    title: str,
    text: str,
    now: datetime,
    team: str | None = None,
    created_by: int | None = None,
) -> CannedResponse:
    """Raises :class:`DuplicateShortcut` when the shortcut is taken."""
    row = CannedResponse(
        shortcut=shortcut,
        title=title,
        text=text,
        team=team,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    await _flush_unique(session, shortcut, lambda: session.add(row))
    return row


async def update(
    session: AsyncSession, response_id: int, changes: Mapping[str, Any], now: datetime
) -> tuple[CannedResponse, list[str]]:
    """Apply ``changes`` (any of shortcut, title, text, team); returns the row and the names
    of the fields that really changed (``updated_at`` moves only then). Raises
    :class:`DuplicateShortcut` and RecordNotFound."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a canned response field: {', '.join(sorted(unknown))}")
    row = await get(session, response_id)
    changed = [f for f in FIELDS if f in changes and getattr(row, f) != changes[f]]
    if not changed:
        return row, []

    def apply() -> None:
        for f in changed:
            setattr(row, f, changes[f])
        row.updated_at = now

    if "shortcut" in changed:
        await _flush_unique(session, changes["shortcut"], apply)
    else:
        apply()
    return row, changed


async def delete(session: AsyncSession, response_id: int) -> CannedResponse:
    row = await get(session, response_id)
    await session.delete(row)
    await session.flush()
    return row


async def _flush_unique(session: AsyncSession, shortcut: str, change: Callable[[], None]) -> None:
    """Make ``change`` and flush it in a savepoint, so a taken shortcut (even one taken by
    a concurrent transaction) becomes DuplicateShortcut and the transaction stays usable."""
    try:
        async with session.begin_nested():
            change()
            await session.flush()
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise DuplicateShortcut(shortcut) from None
