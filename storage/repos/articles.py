"""Knowledge-base articles (one row per article id and locale) and the change counter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Article, KbRevision


async def upsert(session: AsyncSession, data: dict[str, Any], now: datetime) -> str:
    """Insert or update by (id, locale). Returns "created", "updated" or "unchanged"."""
    article = await session.get(Article, (data["id"], data["locale"]))
    fields = ("title", "body", "questions", "tags")
    if article is None:
        session.add(
            Article(
                id=data["id"],
                locale=data["locale"],
                version=1,
                created_at=now,
                updated_at=now,
                **{f: data[f] for f in fields},
            )
        )
        return "created"
    if all(getattr(article, f) == data[f] for f in fields):
        return "unchanged"
    for f in fields:
        setattr(article, f, data[f])
    article.version += 1
    article.updated_at = now
    return "updated"


async def preload(session: AsyncSession, article_ids: list[str]) -> None:
    """Load a batch into the session in one query, so ``upsert`` finds them without one each."""
    await session.execute(select(Article).where(Article.id.in_(article_ids)))


async def all_articles(session: AsyncSession) -> list[Article]:
    rows = await session.execute(select(Article).order_by(Article.id, Article.locale))
    return list(rows.scalars())


async def get(session: AsyncSession, article_id: str, locale: str) -> Article | None:
    return await session.get(Article, (article_id, locale))


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Article)) or 0)


async def revision(session: AsyncSession) -> int:
    row = await session.get(KbRevision, 1)
    return row.revision if row else 0


async def bump_revision(session: AsyncSession, now: datetime) -> int:
    row = await session.get(KbRevision, 1, with_for_update=True)
    if row is None:
        row = KbRevision(id=1, revision=1, changed_at=now)
        session.add(row)
    else:
        row.revision += 1
        row.changed_at = now
    await session.flush()
    return row.revision
