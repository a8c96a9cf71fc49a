"""The questions the bot could not answer, for the knowledge-gap report.

Three sources, in a time range: bot answers that were misses (``bot_answer`` with meta
``answered: false``), escalations because the bot kept missing (``escalation`` with meta
``reason: bot_unanswered``), and answers customers rated "not helpful" (``article_feedback``).
Each names the customer's question in its meta (``question``); rows from before questions were
recorded are left out. One question counts once per conversation (a "not helpful" that
escalated is both a vote and an escalation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ArticleFeedback, Conversation, Touchpoint, TouchpointKind

MISSED, ESCALATED, UNHELPFUL = "missed", "escalated", "unhelpful"


@dataclass(frozen=True)
class GapQuestion:
    text: str
    locale: str | None
    kind: str  # missed, escalated or unhelpful
    created_at: datetime
    conversation_id: int | None
    touchpoint_id: int
    best_article_id: str | None


async def questions(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    locale: str | None = None,
    limit: int = 20_000,
) -> list[GapQuestion]:
    """The unanswered questions asked in [since, until), newest ``limit`` of each source, in
    time order; ``locale`` keeps one language ("th" also keeps "th-TH")."""
    found: list[GapQuestion] = []
    seen: set[tuple[int | None, str]] = set()
    for kind, rows in (
        (UNHELPFUL, await _unhelpful(session, since, until, locale, limit)),
        (ESCALATED, await _touchpoints(session, ESCALATED, since, until, locale, limit)),
        (MISSED, await _touchpoints(session, MISSED, since, until, locale, limit)),
    ):
        for tp_id, conv_id, created_at, meta, row_locale, best in rows:
            text = meta.get("question") if isinstance(meta, dict) else None
            if not isinstance(text, str) or not text.strip():
                continue
            key = (conv_id, " ".join(text.casefold().split()))
            if key in seen:
                continue
            seen.add(key)
            found.append(
                GapQuestion(text.strip(), row_locale, kind, created_at, conv_id, tp_id, best)
            )
    found.sort(key=lambda q: (q.created_at, q.touchpoint_id))
    return found


async def _touchpoints(
    session: AsyncSession,
    kind: str,
    since: datetime,
    until: datetime,
    locale: str | None,
    limit: int,
) -> list[tuple[Any, ...]]:
    meta = Touchpoint.meta
    row_locale = func.coalesce(meta["locale"].as_string(), Conversation.locale)
    query = select(
        Touchpoint.id, Touchpoint.conversation_id, Touchpoint.created_at, meta, row_locale
    ).join(Conversation, Conversation.id == Touchpoint.conversation_id)
    if kind == MISSED:
        query = query.where(
            Touchpoint.kind == TouchpointKind.BOT_ANSWER, meta["answered"].as_boolean().is_(False)
        )
    else:
        query = query.where(
            Touchpoint.kind == TouchpointKind.ESCALATION,
            meta["reason"].as_string() == "bot_unanswered",
        )
    query = _in_locale(query, row_locale, locale).where(
        Touchpoint.created_at >= since, Touchpoint.created_at < until
    )
    rows = await session.execute(query.order_by(Touchpoint.id.desc()).limit(limit))
    return [
        (*row[:4], row[4], _best(row[3], "best_article_id" if kind == ESCALATED else "article_id"))
        for row in rows
    ]


async def _unhelpful(
    session: AsyncSession, since: datetime, until: datetime, locale: str | None, limit: int
) -> list[tuple[Any, ...]]:
    row_locale = func.coalesce(Touchpoint.meta["locale"].as_string(), ArticleFeedback.locale)
    query = (
        select(
            ArticleFeedback.touchpoint_id,
            ArticleFeedback.conversation_id,
            ArticleFeedback.updated_at,
            ArticleFeedback.question,
            row_locale,
            ArticleFeedback.article_id,
        )
        .join(Touchpoint, Touchpoint.id == ArticleFeedback.touchpoint_id)
        .where(
            ArticleFeedback.helpful.is_(False),
            ArticleFeedback.updated_at >= since,
            ArticleFeedback.updated_at < until,
        )
    )
    query = _in_locale(query, row_locale, locale)
    rows = await session.execute(query.order_by(ArticleFeedback.id.desc()).limit(limit))
    return [(tp, conv, at, {"question": q}, loc, best) for tp, conv, at, q, loc, best in rows]


def _in_locale(query: Any, column: Any, locale: str | None) -> Any:
    if locale is None:
        return query
    return query.where(or_(column == locale, column.like(locale + "-%")))


def _best(meta: Any, key: str) -> str | None:
    value = meta.get(key) if isinstance(meta, dict) else None
    return value if isinstance(value, str) and value else None
