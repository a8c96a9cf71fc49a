"""What the bot would do, for the knowledge managers: try a question, and check which of an
article's phrasings the bot would answer from the others (see console/openapi.yaml).

Knowledge managers and admins only (as for publishing): both run the bot's own code over the
live index, and the coverage check rebuilds the index once per phrasing, off the event loop,
one check at a time per process, bounded in phrasings and time, and remembered until the
knowledge base or the article changes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot import smalltalk
from bot.assistant import BotContext, BotReply, Intent
from bot.faq import FaqAssistant, summary
from bot.templates import say
from console.gaps import LOCALE_TAG
from console.http import BadRequest, read_json
from knowledge_base.coverage import OUTCOMES, Check, Coverage, check_coverage
from knowledge_base.editor import can_publish
from knowledge_base.index import IndexedArticle, Match, SearchIndex
from knowledge_base.service import KnowledgeBase, indexed_article
from routing.errors import Forbidden
from routing.router import SMALLTALK
from storage.db import RecordNotFound
from storage.models import Agent, ArticleStatus
from storage.repos import articles as article_repo

if TYPE_CHECKING:
    from console.api import ConsoleApi

log = logging.getLogger("switchboard.kb")

RANKED = 4  # the runner-up and the next ones shown after the bot's choice
DEFAULT_CHANNEL = "webchat"
CACHED = 32  # coverage reports remembered


class KbTryApi:
    """``assistant``: an embedded FAQ bot over the live knowledge base, built like the one
    customers get but listing ``RANKED`` other articles; ``max_misses(channel)``: the misses
    in a row that hand a conversation on that channel to a person; ``channels()``: the
    channels this server serves."""

    def __init__(
        self,
        console: ConsoleApi,
        kb: KnowledgeBase,
        assistant: FaqAssistant,
        *,
        max_misses: Callable[[str], int],
        channels: Callable[[], list[str]],
    ) -> None:
        self.console = console
        self.db = console.db
        self.kb = kb
        self.assistant = assistant
        self.max_misses = max_misses
        self.channels = channels
        self._checking = asyncio.Lock()  # one coverage check at a time: each is CPU-bound
        self._checks: dict[tuple[Any, ...], asyncio.Task[dict[str, Any]]] = {}
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._cached_index: SearchIndex | None = None

    @property
    def threshold(self) -> float:
        return self.console.router.policy.threshold

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/kb/try", self.try_question)
        app.router.add_get("/api/v1/kb/articles/{id}/{locale}/coverage", self.coverage)

    async def _publisher(self, request: web.Request) -> Agent:
        agent = await self.console.agent(request)
        if not can_publish(agent):
            raise Forbidden("not_allowed", "only knowledge managers and admins may try the bot")
        return agent

    # ---- try a question -----------------------------------------------------------------

    async def try_question(self, request: web.Request) -> web.Response:
        await self._publisher(request)
        body = await read_json(
            request, {"question": str, "locale": str, "channel": str}, {"question"}
        )
        question = body["question"].strip()
        if not question:
            raise BadRequest("empty_question", "question is empty")
        if len(question) > self.console.max_chars:
            raise BadRequest(
                "question_too_long",
                f"question: customers may write at most {self.console.max_chars} characters",
            )
        locale = body.get("locale", "").strip() or None
        if locale is not None and not LOCALE_TAG.fullmatch(locale):
            raise BadRequest(
                "bad_locale", f"locale must be a language tag like en or th-TH, got {locale!r}"
            )
        channel = body.get("channel", "").strip() or DEFAULT_CHANNEL
        if channel not in self.channels():
            raise BadRequest(
                "unknown_channel", f"channel must be one of {', '.join(self.channels())}"
            )
        reply = await self.assistant.respond(
            BotContext(question, None, None, channel=channel, locale=locale)
        )
        return web.json_response(self._tried(question, channel, reply))

    def _tried(self, question: str, channel: str, reply: BotReply) -> dict[str, Any]:
        """The bot's proposal and the router's decision on it (``Router._decide``)."""
        misses = self.max_misses(channel)
        answered = reply.intent is Intent.FAQ and reply.confidence >= self.threshold
        sends: str | None
        if reply.handoff:
            outcome, sends = "escalated", None
        elif reply.intent in SMALLTALK:
            outcome, sends = "smalltalk", reply.text
        elif answered:
            outcome, sends = "answered", reply.text
        elif misses <= 1:
            outcome, sends = "escalated", None
        else:
            outcome, sends = "missed", say("not_sure", reply.locale)
        article = None
        if reply.article_id:
            article = {
                "id": reply.article_id,
                "locale": reply.article_locale,
                "title": reply.article_title,
                "text": reply.text,
                "excerpt": summary(reply.text),
            }
        ranked = [
            {
                "id": s.article_id,
                "locale": s.locale,
                "title": s.title,
                "confidence": round(s.score, 4),
                "excerpt": s.summary,
            }
            for s in reply.suggestions
        ]
        return {
            "question": question,
            "channel": channel,
            "locale": reply.locale,
            "intent": reply.intent.value,
            "outcome": outcome,
            "answered": answered,
            "confidence": round(reply.confidence, 4),
            "threshold": self.threshold,
            "max_misses": misses,
            "reply": sends,
            "article": article,
            "runner_up": ranked[0] if ranked else None,
            "others": ranked[1:],
        }

    # ---- coverage -----------------------------------------------------------------------

    async def coverage(self, request: web.Request) -> web.Response:
        await self._publisher(request)
        article_id, locale = request.match_info["id"], request.match_info["locale"]
        async with self.db.transaction() as session:
            variants = await article_repo.variants(session, article_id)
        opened = next((v for v in variants if v.locale == locale), None)
        if opened is None:
            raise RecordNotFound("article", f"{article_id}/{locale}")
        # The article as it is being edited (drafts included: a knowledge manager sees the
        # effect before publishing), its archived translations left out; the rest of the
        # knowledge base as the bot answers from it now.
        judged = [v for v in variants if v is opened or v.status != ArticleStatus.ARCHIVED]
        index = self.kb.index
        if index is not self._cached_index:
            self._cache.clear()
            self._cached_index = index
        key = (article_id, locale, tuple((v.locale, v.version) for v in judged))
        body = self._cache.get(key)
        if body is None:
            running = (id(index), *key)  # the task holds the index: its id is not reused
            task = self._checks.get(running)
            if task is None:
                articles = [
                    *(a for a in index.articles if a.id != article_id),
                    *(indexed_article(v) for v in judged),
                ]
                task = asyncio.create_task(
                    self._check(index, key, articles, first_locale=locale), name="kb-coverage"
                )
                self._checks[running] = task
                task.add_done_callback(lambda done: self._finished(running, done))
            # A check outlives a request that stops waiting: it keeps the one slot until its
            # thread is done (a thread cannot be stopped), and its report is kept.
            body = await asyncio.shield(task)
        unpublished = any(v.version != v.published_version for v in judged)
        return web.json_response(
            {"id": article_id, "locale": locale, "unpublished": unpublished, **body}
        )

    async def _check(
        self,
        index: SearchIndex,
        key: tuple[Any, ...],
        articles: list[IndexedArticle],
        *,
        first_locale: str,
    ) -> dict[str, Any]:
        async with self._checking:
            report = await asyncio.to_thread(
                functools.partial(
                    check_coverage,
                    articles,
                    key[0],
                    threshold=self.threshold,
                    semantic=self.kb.encoder,
                    first_locale=first_locale,
                    intercept=_smalltalk,
                )
            )
        body = _coverage_json(report, self.threshold)
        if self._cached_index is index:  # else the knowledge base moved on meanwhile
            while len(self._cache) >= CACHED:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = body
        return body

    def _finished(self, running: tuple[Any, ...], task: asyncio.Task[dict[str, Any]]) -> None:
        self._checks.pop(running, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("kb_coverage_failed", exc_info=task.exception())


def _smalltalk(text: str) -> str | None:
    intent = smalltalk.classify(text)
    return intent.value if intent is not None else None


def _coverage_json(report: Coverage, threshold: float) -> dict[str, Any]:
    return {
        "threshold": threshold,
        "phrasings": len(report.checks),
        "checked": report.checked,
        "capped": report.capped,
        "seconds": report.seconds,
        "counts": {outcome: report.count(outcome) for outcome in OUTCOMES},
        "items": [_check_json(c) for c in report.checks],
    }


def _check_json(check: Check) -> dict[str, Any]:
    return {
        "locale": check.phrasing.locale,
        "kind": check.phrasing.kind,
        "text": check.phrasing.text,
        "outcome": check.outcome,
        "confidence": check.confidence,
        "top": _match(check.top),
        "runner_up": _match(check.runner_up),
        "intent": check.intent,
    }


def _match(match: Match | None) -> dict[str, Any] | None:
    if match is None:
        return None
    article: IndexedArticle = match.article
    return {
        "id": article.id,
        "locale": article.locale,
        "title": article.title,
        "confidence": match.score,
    }
