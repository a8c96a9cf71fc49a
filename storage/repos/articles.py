"""Knowledge-base articles (one row per article id and locale), their versions and workflow
events, and the change counter every process watches to refresh its search index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Article, ArticleEvent, ArticleStatus, ArticleVersion, KbRevision

CONTENT = ("title", "body", "questions", "tags", "category")


@dataclass(frozen=True)
class Published:
    """The content the bot answers from: an article's published version."""

    id: str
    locale: str
    version: int
    title: str
    body: str
    questions: list[str]
    tags: list[str]
    category: str | None


def content_of(row: Article | ArticleVersion) -> dict[str, Any]:
    return {f: getattr(row, f) for f in CONTENT}


async def get(
    session: AsyncSession, article_id: str, locale: str, *, for_update: bool = False
) -> Article | None:
    return await session.get(Article, (article_id, locale), with_for_update=for_update)


async def variants(session: AsyncSession, article_id: str) -> list[Article]:
    rows = await session.execute(
        select(Article).where(Article.id == article_id).order_by(Article.locale)
    )
    return list(rows.scalars())


async def exists(session: AsyncSession, article_id: str) -> bool:
    found = await session.scalar(select(Article.id).where(Article.id == article_id).limit(1))
    return found is not None


async def add(
    session: AsyncSession,
    *,
    article_id: str,
    locale: str,
    content: dict[str, Any],
    status: ArticleStatus,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> Article:
    published = status is ArticleStatus.PUBLISHED
    row = Article(
        id=article_id,
        locale=locale,
        version=1,
        status=status.value,
        published_version=1 if published else None,
        created_by=actor,
        updated_by=actor,
        status_changed_by=actor,
        status_changed_at=now,
        created_at=now,
        updated_at=now,
        **content,
    )
    session.add(row)
    session.add(_version(row, actor, now, note))
    await record_event(session, row, "create", None, actor, now)
    return row


async def save_version(
    session: AsyncSession,
    row: Article,
    content: dict[str, Any],
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """Write ``content`` as the article's next version (the caller checked it differs)."""
    for name, value in content.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_by = actor
    row.updated_at = now
    session.add(_version(row, actor, now, note))


def _version(row: Article, actor: str, now: datetime, note: str | None) -> ArticleVersion:
    return ArticleVersion(
        article_id=row.id,
        locale=row.locale,
        version=row.version,
        created_by=actor,
        created_at=now,
        note=note,
        **content_of(row),
    )


async def record_event(
    session: AsyncSession,
    row: Article,
    action: str,
    from_status: str | None,
    actor: str,
    now: datetime,
    comment: str | None = None,
) -> None:
    session.add(
        ArticleEvent(
            article_id=row.id,
            locale=row.locale,
            action=action,
            from_status=from_status,
            to_status=row.status,
            version=row.version,
            actor=actor,
            comment=comment,
            created_at=now,
        )
    )


async def version(
    session: AsyncSession, article_id: str, locale: str, number: int
) -> ArticleVersion | None:
    return await session.get(ArticleVersion, (article_id, locale, number))


async def versions(session: AsyncSession, article_id: str, locale: str) -> list[ArticleVersion]:
    rows = await session.execute(
        select(ArticleVersion)
        .where(ArticleVersion.article_id == article_id, ArticleVersion.locale == locale)
        .order_by(ArticleVersion.version.desc())
    )
    return list(rows.scalars())


async def events(session: AsyncSession, article_id: str, locale: str) -> list[ArticleEvent]:
    rows = await session.execute(
        select(ArticleEvent)
        .where(ArticleEvent.article_id == article_id, ArticleEvent.locale == locale)
        .order_by(ArticleEvent.id.desc())
    )
    return list(rows.scalars())


async def search(
    session: AsyncSession,
    *,
    text: str | None = None,
    statuses: Sequence[str] = (),
    category: str | None = None,
    tag: str | None = None,
    locale: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Article], int]:
    """The editor's list: filtered, newest change first, with the total for paging."""
    query = select(Article)
    if text:
        like = f"%{_escape_like(text.casefold())}%"
        query = query.where(
            or_(
                func.lower(Article.id).like(like, escape="\\"),
                func.lower(Article.title).like(like, escape="\\"),
                func.lower(Article.body).like(like, escape="\\"),
            )
        )
    if statuses:
        query = query.where(Article.status.in_(list(statuses)))
    if category:
        query = query.where(Article.category == category)
    if locale:
        query = query.where(Article.locale == locale)
    rows = list(
        (await session.execute(query.order_by(Article.updated_at.desc(), Article.id))).scalars()
    )
    if tag:  # tags are a JSON list: filtered here, the same on every database
        rows = [r for r in rows if tag in (r.tags or [])]
    return rows[offset : offset + limit], len(rows)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def facets(session: AsyncSession) -> dict[str, Any]:
    """Categories, tags, locales and statuses in use, with counts, for the editor's filters."""
    rows = await session.execute(
        select(Article.category, Article.tags, Article.locale, Article.status)
    )
    categories: dict[str, int] = {}
    tags: dict[str, int] = {}
    locales: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for category, tag_list, locale, status in rows:
        if category:
            categories[category] = categories.get(category, 0) + 1
        for tag in tag_list or []:
            tags[tag] = tags.get(tag, 0) + 1
        locales[locale] = locales.get(locale, 0) + 1
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "categories": dict(sorted(categories.items())),
        "tags": dict(sorted(tags.items())),
        "locales": dict(sorted(locales.items())),
        "statuses": statuses,
    }


async def published(session: AsyncSession) -> list[Published]:
    """Every article's published version: what the bot may answer from."""
    rows = await session.execute(
        select(ArticleVersion)
        .join(
            Article,
            and_(
                Article.id == ArticleVersion.article_id,
                Article.locale == ArticleVersion.locale,
                Article.published_version == ArticleVersion.version,
            ),
        )
        .order_by(ArticleVersion.article_id, ArticleVersion.locale)
    )
    return [
        Published(
            id=v.article_id,
            locale=v.locale,
            version=v.version,
            title=v.title,
            body=v.body,
            questions=list(v.questions or ()),
            tags=list(v.tags or ()),
            category=v.category,
        )
        for v in rows.scalars()
    ]


async def all_articles(session: AsyncSession) -> list[Article]:
    rows = await session.execute(select(Article).order_by(Article.id, Article.locale))
    return list(rows.scalars())


async def export_rows(session: AsyncSession, statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every article (in ``statuses``, when given) as the importer's records: id, locale,
    status and content, ordered by id and locale."""
    return [
        {"id": r.id, "locale": r.locale, "status": r.status, **content_of(r)}
        for r in await all_articles(session)
        if not statuses or r.status in statuses
    ]


async def preload(session: AsyncSession, article_ids: list[str]) -> None:
    """Load a batch into the session in one query, so ``get`` finds them without one each."""
    await session.execute(select(Article).where(Article.id.in_(article_ids)))


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Article)) or 0)


async def count_published(session: AsyncSession) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Article).where(Article.published_version.is_not(None))
        )
        or 0
    )


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
