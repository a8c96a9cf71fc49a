"""The knowledge base as the bot and the CLI use it: import, and search that stays fresh.

Every process keeps its own index over the *published* versions of the articles and rebuilds
it when the database's KB revision moves (a publish, archive, rollback or import), so a change
made in another process reaches a running server within ``refresh_seconds``. Drafts and
articles in review never reach customers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from knowledge_base import markdown
from knowledge_base.editor import KnowledgeEditor
from knowledge_base.index import IndexedArticle, Match, SearchIndex
from knowledge_base.semantic import Encoder
from storage.db import Database
from storage.models import Article, ArticleStatus
from storage.repos import articles as article_repo
from storage.repos.articles import Published

log = logging.getLogger("switchboard.kb")


class KnowledgeBase:
    def __init__(self, db: Database, semantic: Encoder | None = None) -> None:
        """``semantic``: the sentence encoder every index this knowledge base builds re-ranks
        with (``knowledge_base.semantic.encoder_for(bot.semantic)``), or None."""
        self._db = db
        self._semantic = semantic
        self._index = SearchIndex([])
        self._revision = -1
        self._lock = asyncio.Lock()

    @property
    def index(self) -> SearchIndex:
        return self._index

    @property
    def encoder(self) -> Encoder | None:
        """The sentence encoder the indexes are built with, or None."""
        return self._semantic

    def search(
        self, question: str, limit: int = 5, locales: Sequence[str] | None = None
    ) -> list[Match]:
        return self._index.search(question, limit=limit, locales=locales)

    async def refresh(self, force: bool = False) -> bool:
        """Rebuild the index if the KB changed since the last build. Returns whether it did."""
        async with self._lock:
            async with self._db.transaction() as session:
                revision = await article_repo.revision(session)
                if revision == self._revision and not force:
                    return False
                rows = await article_repo.published(session)
            indexed = [indexed_article(r) for r in rows]
            # Building is CPU work: keep the event loop answering meanwhile.
            self._index = await asyncio.to_thread(
                functools.partial(SearchIndex, indexed, semantic=self._semantic)
            )
            self._revision = revision
            log.info(
                "kb_index_built", extra={"fields": {"articles": len(indexed), "revision": revision}}
            )
            return True

    async def run_refresher(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # the index keeps serving its last good build
                log.exception("kb_refresh_failed")

    async def import_articles(
        self,
        articles: Sequence[dict[str, Any]],
        now: datetime,
        progress: Callable[[int, int], None] | None = None,
        *,
        actor: str = "import",
        note: str = "import",
        default_status: ArticleStatus = ArticleStatus.PUBLISHED,
    ) -> dict[str, int]:
        """Upsert by (id, locale) in batches; idempotent. Returns counts per outcome."""
        editor = KnowledgeEditor(self._db, lambda: now)
        return await editor.import_articles(
            articles, actor=actor, note=note, default_status=default_status, progress=progress
        )


def indexed_article(row: Published | Article) -> IndexedArticle:
    """An article version as the index holds it: the body as channels send it (no Markdown)."""
    return IndexedArticle(
        id=row.id,
        locale=row.locale,
        title=row.title,
        body=markdown.to_text(row.body),
        questions=tuple(row.questions or ()),
        tags=tuple(row.tags or ()),
    )
