"""Customers' "was this helpful?" votes on the bot's answers (``article_feedback``).

One row per rated answer (its touchpoint): a changed vote updates the row. A vote's time for
``counts`` and ``unhelpful`` is when it was last cast (``updated_at``).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import is_unique_violation
from storage.models import Article, ArticleFeedback, Touchpoint, TouchpointKind

# The steps of a conversation that end "the bot's last answer" as the thing a vote rates.
_STEPS = (
    TouchpointKind.MESSAGE,
    TouchpointKind.BOT_ANSWER,
    TouchpointKind.AGENT_REPLY,
    TouchpointKind.ESCALATION,
    TouchpointKind.CLAIM,
    TouchpointKind.HANDBACK,
    TouchpointKind.CLOSE,
    TouchpointKind.SURVEY,
)
_LOOK_BACK = 50  # votes and their acknowledgements skipped at most


async def answer_to_rate(session: AsyncSession, conversation_id: int) -> Touchpoint | None:
    """The answer a vote in the conversation now rates: its latest step, earlier votes and the
    bot's acknowledgements of them aside, when that is an answer the bot asked to be rated
    (meta ``asks_feedback``); else None."""
    rows = await session.execute(
        select(Touchpoint)
        .where(Touchpoint.conversation_id == conversation_id, Touchpoint.kind.in_(_STEPS))
        .order_by(Touchpoint.id.desc())
        .limit(_LOOK_BACK)
    )
    for tp in rows.scalars():
        meta = tp.meta or {}
        if "feedback" in meta:  # a vote, or the bot's "glad it helped"
            continue
        return tp if tp.kind is TouchpointKind.BOT_ANSWER and meta.get("asks_feedback") else None
    return None


async def rateable_by_link(
    session: AsyncSession, touchpoint_id: int, token: str
) -> Touchpoint | None:
    """The bot answer a "was this helpful?" link names, when the link's token is that
    answer's own (compared in constant time); else None."""
    answer = await session.get(Touchpoint, touchpoint_id)
    meta = (answer.meta or {}) if answer is not None else {}
    if (
        answer is None
        or answer.conversation_id is None
        or answer.kind is not TouchpointKind.BOT_ANSWER
        or not meta.get("asks_feedback")
        or not hmac.compare_digest(str(meta.get("feedback_token") or "").encode(), token.encode())
    ):
        return None
    return answer


async def record_vote(
    session: AsyncSession, answer: Touchpoint, helpful: bool, now: datetime
) -> bool | None:
    """Upsert the vote on ``answer`` (a bot answer whose meta names the article, its locale and
    the customer's question); returns the earlier vote, None when this is the first."""
    meta = answer.meta or {}
    article_id, locale = str(meta["article_id"]), str(meta.get("article_locale") or "")
    version = (
        await session.execute(
            select(Article.published_version).where(
                Article.id == article_id, Article.locale == locale
            )
        )
    ).scalar_one_or_none()
    row = await _by_answer(session, answer.id)
    if row is None:
        row = ArticleFeedback(
            touchpoint_id=answer.id,
            article_id=article_id,
            locale=locale,
            article_version=version,
            conversation_id=answer.conversation_id,
            customer_id=answer.customer_id,
            channel=answer.channel,
            helpful=helpful,
            question=meta.get("question"),
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():  # another process may be storing the same vote
                session.add(row)
                await session.flush()
            return None
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
        row = await _by_answer(session, answer.id)
        assert row is not None
    earlier = row.helpful
    if earlier != helpful:
        row.helpful, row.article_version, row.updated_at = helpful, version, now
    return earlier


async def _by_answer(session: AsyncSession, touchpoint_id: int) -> ArticleFeedback | None:
    return (
        await session.execute(
            select(ArticleFeedback).where(ArticleFeedback.touchpoint_id == touchpoint_id)
        )
    ).scalar_one_or_none()


async def counts(
    session: AsyncSession,
    keys: Sequence[tuple[str, str]] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[tuple[str, str], tuple[int, int]]:
    """(helpful, not helpful) votes per (article id, locale), cast in [since, until). With
    ``keys``, exactly those articles, (0, 0) for one nobody rated."""
    helpful = func.sum(case((ArticleFeedback.helpful, 1), else_=0))
    unhelpful = func.sum(case((ArticleFeedback.helpful, 0), else_=1))
    query = select(ArticleFeedback.article_id, ArticleFeedback.locale, helpful, unhelpful)
    if keys is not None:
        if not keys:
            return {}
        query = query.where(ArticleFeedback.article_id.in_(sorted({a for a, _ in keys})))
    query = _between(query, since, until).group_by(
        ArticleFeedback.article_id, ArticleFeedback.locale
    )
    found = {
        (article_id, locale): (int(yes or 0), int(no or 0))
        for article_id, locale, yes, no in await session.execute(query)
    }
    if keys is None:
        return found
    return {key: found.get(key, (0, 0)) for key in keys}


async def unhelpful(
    session: AsyncSession,
    *,
    article_id: str | None = None,
    locale: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[ArticleFeedback]:
    """The latest "not helpful" votes (of one article, or all), newest first."""
    query = select(ArticleFeedback).where(ArticleFeedback.helpful.is_(False))
    if article_id is not None:
        query = query.where(ArticleFeedback.article_id == article_id)
    if locale is not None:
        query = query.where(ArticleFeedback.locale == locale)
    query = _between(query, since, until)
    rows = await session.execute(
        query.order_by(ArticleFeedback.updated_at.desc(), ArticleFeedback.id.desc()).limit(limit)
    )
    return list(rows.scalars())


def _between(query: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query = query.where(ArticleFeedback.updated_at >= since)
    if until is not None:
        query = query.where(ArticleFeedback.updated_at < until)
    return query
