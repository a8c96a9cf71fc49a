"""The knowledge managers' editor: articles move draft → in review → published → archived,
every content change is a new version, and only published versions feed the bot.

Who may do what: any staff member writes drafts and submits them for review; knowledge
managers and admins publish, send back, archive, restore, roll back and import.
"""

from __future__ import annotations

import difflib
import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from knowledge_base.importer import ArticleImportError, validate
from routing.errors import Conflict, Forbidden, RoutingError
from storage.db import Database, RecordNotFound
from storage.models import Agent, Article, ArticleStatus
from storage.repos import articles as article_repo
from storage.repos import audit

PUBLISHERS = frozenset({"knowledge_manager", "admin"})
BATCH = 500


class InvalidArticle(RoutingError):
    status = 400


@dataclass(frozen=True)
class Transition:
    sources: frozenset[ArticleStatus]
    target: ArticleStatus
    publisher_only: bool
    comment_required: bool = False


S = ArticleStatus
TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(frozenset({S.DRAFT}), S.IN_REVIEW, publisher_only=False),
    "publish": Transition(frozenset({S.DRAFT, S.IN_REVIEW}), S.PUBLISHED, publisher_only=True),
    "reject": Transition(frozenset({S.IN_REVIEW}), S.DRAFT, True, comment_required=True),
    "archive": Transition(frozenset({S.DRAFT, S.IN_REVIEW, S.PUBLISHED}), S.ARCHIVED, True),
    "restore": Transition(frozenset({S.ARCHIVED}), S.DRAFT, publisher_only=True),
}


def can_publish(agent: Agent) -> bool:
    return agent.role in PUBLISHERS


def actor_of(agent: Agent) -> str:
    return agent.email


class KnowledgeEditor:
    """Every method runs in its own transaction and bumps the KB revision when what the bot
    answers from changed, so every process rebuilds its index."""

    def __init__(self, db: Database, now: Callable[[], datetime]) -> None:
        self._db = db
        self._now = now

    # ---- content ------------------------------------------------------------------------

    async def create(self, agent: Agent, data: dict[str, Any]) -> Article:
        item = dict(data)
        new_article = not item.get("id")
        if new_article:
            item["id"] = "pending"  # replaced below once the title is known to be valid
        article = _validated(item, "article")
        now = self._now()
        async with self._db.transaction() as session:
            if new_article:
                article["id"] = await _free_id(session, article["title"])
            elif await article_repo.get(session, article["id"], article["locale"]):
                raise Conflict(
                    "article_exists",
                    f"article {article['id']!r} already has a {article['locale']!r} version",
                )
            row = await article_repo.add(
                session,
                article_id=article["id"],
                locale=article["locale"],
                content=_content(article),
                status=ArticleStatus.DRAFT,
                actor=actor_of(agent),
                now=now,
            )
            await self._audit(session, agent, "create", row, {"version": 1})
        return row

    async def update(
        self,
        agent: Agent,
        article_id: str,
        locale: str,
        changes: dict[str, Any],
        base_version: int | None = None,
    ) -> tuple[Article, bool]:
        """Save changed fields as a new version. A published or in-review article becomes a
        draft again; its published version keeps answering until the next publish."""
        now = self._now()
        async with self._db.transaction() as session:
            row = await _article(session, article_id, locale, for_update=True)
            if base_version is not None and base_version != row.version:
                raise Conflict(
                    "stale_version",
                    f"the article changed since version {base_version}: it is at version "
                    f"{row.version} (by {row.updated_by}); reload and merge",
                )
            if row.status == S.ARCHIVED:
                raise Conflict("archived", "restore the article before editing it")
            merged = {**article_repo.content_of(row), **changes, "id": row.id, "locale": locale}
            content = _content(_validated(merged, "article"))
            if content == article_repo.content_of(row):
                return row, False
            before = row.status
            await article_repo.save_version(session, row, content, actor=actor_of(agent), now=now)
            if row.status != S.DRAFT:
                row.status = S.DRAFT.value
                row.status_changed_by, row.status_changed_at = actor_of(agent), now
            await article_repo.record_event(session, row, "edit", before, actor_of(agent), now)
            await self._audit(session, agent, "edit", row, {"version": row.version})
        return row, True

    async def transition(
        self, agent: Agent, article_id: str, locale: str, action: str, comment: str | None = None
    ) -> Article:
        rule = TRANSITIONS.get(action)
        if rule is None:
            raise InvalidArticle(
                "unknown_action", f"action must be one of {', '.join(TRANSITIONS)}"
            )
        if rule.publisher_only and not can_publish(agent):
            raise Forbidden(
                "not_allowed", f"only knowledge managers and admins may {action} articles"
            )
        comment = (comment or "").strip() or None
        if rule.comment_required and not comment:
            raise InvalidArticle("comment_required", f"say why when you {action} an article")
        now = self._now()
        async with self._db.transaction() as session:
            row = await _article(session, article_id, locale, for_update=True)
            before = ArticleStatus(row.status)
            if before not in rule.sources:
                raise Conflict(
                    "bad_status",
                    f"cannot {action} an article that is {before.value.replace('_', ' ')}",
                )
            feeds_bot_before = row.published_version
            row.status = rule.target.value
            row.status_changed_by, row.status_changed_at = actor_of(agent), now
            if rule.target is S.PUBLISHED:
                row.published_version = row.version
            elif rule.target is S.ARCHIVED:
                row.published_version = None
            await article_repo.record_event(
                session, row, action, before.value, actor_of(agent), now, comment
            )
            await self._audit(session, agent, action, row, {"version": row.version})
            if row.published_version != feeds_bot_before:
                await article_repo.bump_revision(session, now)
        return row

    async def rollback(
        self, agent: Agent, article_id: str, locale: str, to_version: int, comment: str | None
    ) -> Article:
        """A new version with an old version's content. A published article publishes it at
        once (a rollback undoes a bad published edit); otherwise it stays a draft."""
        if not can_publish(agent):
            raise Forbidden("not_allowed", "only knowledge managers and admins may roll back")
        now = self._now()
        async with self._db.transaction() as session:
            row = await _article(session, article_id, locale, for_update=True)
            old = await article_repo.version(session, article_id, locale, to_version)
            if old is None:
                raise RecordNotFound("version", f"{article_id}/{locale} v{to_version}")
            if row.status == S.ARCHIVED:
                raise Conflict("archived", "restore the article before rolling it back")
            before = row.status
            content = article_repo.content_of(old)
            note = f"rollback to version {to_version}"
            await article_repo.save_version(
                session, row, content, actor=actor_of(agent), now=now, note=note
            )
            if before == S.PUBLISHED:
                row.published_version = row.version
                await article_repo.bump_revision(session, now)
            else:
                row.status = S.DRAFT.value
            await article_repo.record_event(
                session, row, "rollback", before, actor_of(agent), now, comment or note
            )
            await self._audit(
                session, agent, "rollback", row, {"version": row.version, "to": to_version}
            )
        return row

    async def _audit(
        self, session: Any, agent: Agent, action: str, row: Article, data: dict[str, Any]
    ) -> None:
        await audit.record(
            session,
            actor=actor_of(agent),
            action=f"article.{action}",
            target=f"article:{row.id}/{row.locale}",
            now=self._now(),
            data=data,
        )

    # ---- import -------------------------------------------------------------------------

    async def import_articles(
        self,
        articles: Sequence[dict[str, Any]],
        *,
        actor: str,
        note: str,
        default_status: ArticleStatus = S.PUBLISHED,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, int]:
        """Upsert by (id, locale) in batches; idempotent. An article takes the status its
        item names, else ``default_status``. Returns counts per outcome."""
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        total = len(articles)
        for start in range(0, total, BATCH):
            batch = articles[start : start + BATCH]
            now = self._now()
            bot_changed = False
            async with self._db.transaction() as session:
                await article_repo.preload(session, sorted({a["id"] for a in batch}))
                for item in batch:
                    outcome, changed = await _import_one(
                        session, item, actor, note, default_status, now
                    )
                    counts[outcome] += 1
                    bot_changed = bot_changed or changed
                if bot_changed:
                    await article_repo.bump_revision(session, now)
            if progress:
                progress(min(start + BATCH, total), total)
        return counts


async def _import_one(
    session: Any,
    item: dict[str, Any],
    actor: str,
    note: str,
    default_status: ArticleStatus,
    now: datetime,
) -> tuple[str, bool]:
    status = ArticleStatus(item.get("status") or default_status)
    content = _content(item)
    row = await article_repo.get(session, item["id"], item["locale"])
    if row is None:
        await article_repo.add(
            session,
            article_id=item["id"],
            locale=item["locale"],
            content=content,
            status=status,
            actor=actor,
            now=now,
            note=note,
        )
        return "created", status is S.PUBLISHED
    feeds_bot_before = row.published_version
    same_content = content == article_repo.content_of(row)
    if same_content and row.status == status.value:
        return "unchanged", False
    before = row.status
    if not same_content:
        await article_repo.save_version(session, row, content, actor=actor, now=now, note=note)
    if row.status != status.value or not same_content:
        row.status = status.value
        row.status_changed_by, row.status_changed_at = actor, now
        if status is S.PUBLISHED:
            row.published_version = row.version
        elif status is S.ARCHIVED:
            row.published_version = None
        await article_repo.record_event(session, row, "import", before, actor, now, note)
    return "updated", row.published_version != feeds_bot_before or (
        not same_content and status is S.PUBLISHED
    )


async def _article(session: Any, article_id: str, locale: str, *, for_update: bool) -> Article:
    row = await article_repo.get(session, article_id, locale, for_update=for_update)
    if row is None:
        raise RecordNotFound("article", f"{article_id}/{locale}")
    return row


def _validated(item: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        return validate(item, where)
    except ArticleImportError as exc:
        raise InvalidArticle("invalid_article", str(exc)) from None


def _content(article: dict[str, Any]) -> dict[str, Any]:
    return {
        f: article.get(f) or ([] if f in ("questions", "tags") else None)
        for f in article_repo.CONTENT
    }


_SLUG = re.compile(r"[^a-z0-9]+")


async def _free_id(session: Any, title: str) -> str:
    """A readable id from the title ("How do refunds work?" → "how-do-refunds-work"); a
    title with no Latin letters gets a random one."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = _SLUG.sub("-", ascii_title.lower()).strip("-")[:60].strip("-")
    if len(base) < 3:
        base = "article-" + secrets.token_hex(4)
    candidate, n = base, 1
    while await article_repo.exists(session, candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# ---- diff ---------------------------------------------------------------------------------


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Per changed field: a unified diff for text, added/removed items for lists."""
    changes: list[dict[str, Any]] = []
    for name in article_repo.CONTENT:
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if name in ("questions", "tags"):
            b, a = list(before or []), list(after or [])
            changes.append(
                {
                    "field": name,
                    "added": [x for x in a if x not in b],
                    "removed": [x for x in b if x not in a],
                }
            )
            continue
        lines = difflib.unified_diff(
            (before or "").splitlines(),
            (after or "").splitlines(),
            fromfile="before",
            tofile="after",
            lineterm="",
            n=2,
        )
        changes.append({"field": name, "before": before, "after": after, "diff": "\n".join(lines)})
    return changes
