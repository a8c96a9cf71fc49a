"""The knowledge-base editor's API: list and search, edit (every save a version), the
workflow, versions with diffs and rollback, Markdown preview, and import/export in YAML, CSV
and JSON. See console/openapi.yaml."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.helpers import content_disposition_header

from console.http import BadRequest, read_json
from knowledge_base import markdown
from knowledge_base.editor import TRANSITIONS, KnowledgeEditor, can_publish, diff
from knowledge_base.importer import FORMATS, STATUSES, ArticleImportError, dumps, loads
from knowledge_base.service import KnowledgeBase
from routing.errors import Forbidden
from storage.db import RecordNotFound
from storage.models import Agent, Article, ArticleEvent, ArticleStatus, ArticleVersion
from storage.repos import articles as article_repo
from storage.repos import audit
from storage.repos import feedback as feedback_repo

if TYPE_CHECKING:
    from console.api import ConsoleApi

_CONTENT: dict[str, type | tuple[type, ...]] = {
    "title": str,
    "body": str,
    "questions": list,
    "tags": list,
    "category": (str, type(None)),
}
_MEDIA = {
    "yaml": "application/yaml",
    "json": "application/json",
    "csv": "text/csv",
}
MAX_IMPORT_BYTES = 20 * 1024 * 1024
_VERSION = re.compile(r"[1-9][0-9]{0,8}")
MAX_VERSION = 999_999_999  # the most _VERSION takes; larger overflows the column


UNHELPFUL_SHOWN = 10  # latest "not helpful" votes in an article's detail


class KbApi:
    def __init__(self, console: ConsoleApi, kb: KnowledgeBase) -> None:
        self.console = console
        self.db = console.db
        self.kb = kb
        self.editor = KnowledgeEditor(console.db, console.clock.now)
        self._refreshes: set[asyncio.Task[bool]] = set()

    def _refresh_soon(self) -> None:
        """Rebuild this process's index now, not at the next poll, when what the bot answers
        from may have changed (other processes follow within ``kb.refresh_seconds``). In the
        background: a big KB takes a moment to index."""
        task = asyncio.create_task(self.kb.refresh(), name="kb-refresh-now")
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        base = "/api/v1/kb/articles"
        r.add_get(base, self.list_articles)
        r.add_post(base, self.create)
        r.add_get("/api/v1/kb/facets", self.facets)
        r.add_post("/api/v1/kb/preview", self.preview)
        r.add_get("/api/v1/kb/export", self.export)
        r.add_post("/api/v1/kb/import", self.import_file)
        one = base + "/{id}/{locale}"
        r.add_get(one, self.article)
        r.add_patch(one, self.update)
        r.add_get(one + "/versions", self.versions)
        r.add_get(one + "/versions/{version}", self.version)
        r.add_get(one + "/diff", self.diff)
        r.add_post(one + "/rollback", self.rollback)
        for action in TRANSITIONS:
            r.add_post(f"{one}/{action}", self._transition_handler(action))

    # ---- reading ------------------------------------------------------------------------

    async def list_articles(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        q = request.query
        statuses = [s for s in q.get("status", "").split(",") if s]
        for status in statuses:
            if status not in STATUSES:
                raise BadRequest("bad_status", f"status must be one of {', '.join(STATUSES)}")
        limit = _int_query(request, "limit", 50, 1, 500)
        offset = _int_query(request, "offset", 0, 0, 10**9)
        async with self.db.transaction() as session:
            rows, total = await article_repo.search(
                session,
                text=q.get("q", "").strip() or None,
                statuses=statuses,
                category=q.get("category") or None,
                tag=q.get("tag") or None,
                locale=q.get("locale") or None,
                limit=limit,
                offset=offset,
            )
            votes = await _votes(session, [(r.id, r.locale) for r in rows])
        return web.json_response(
            {
                "items": [_summary(r, votes.get((r.id, r.locale))) for r in rows],
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

    async def facets(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        async with self.db.transaction() as session:
            body = await article_repo.facets(session)
        return web.json_response(body)

    async def article(self, request: web.Request) -> web.Response:
        agent = await self.console.agent(request)
        article_id, locale = _key(request)
        return web.json_response(await self._detail(agent, article_id, locale))

    async def _detail(self, agent: Agent, article_id: str, locale: str) -> dict[str, Any]:
        async with self.db.transaction() as session:
            row = await _get(session, article_id, locale)
            variants = await article_repo.variants(session, article_id)
            events = await article_repo.events(session, article_id, locale)
            live = (
                await article_repo.version(session, article_id, locale, row.published_version)
                if row.published_version and row.published_version != row.version
                else None
            )
            votes = await _votes(session, [(article_id, locale)])
            unhelpful = await feedback_repo.unhelpful(
                session, article_id=article_id, locale=locale, limit=UNHELPFUL_SHOWN
            )
        body = _summary(row, votes.get((article_id, locale)))
        body.update(
            body=row.body,
            body_html=markdown.to_html(row.body),
            questions=list(row.questions or []),
            created_by=row.created_by,
            created_at=row.created_at.isoformat(),
            variants=[{"locale": v.locale, "title": v.title, "status": v.status} for v in variants],
            history=[_event(e) for e in events],
            # What customers get now, when the working copy differs from it.
            published=_version(live) if live else None,
            actions=_actions(row, can_publish(agent)),
            # What the customers who voted "not helpful" had asked: why the answer missed.
            unhelpful_questions=[
                {
                    "question": vote.question,
                    "channel": vote.channel,
                    "conversation_id": vote.conversation_id,
                    "version": vote.article_version,
                    "at": vote.updated_at.isoformat(),
                }
                for vote in unhelpful
            ],
        )
        return body

    async def versions(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        article_id, locale = _key(request)
        async with self.db.transaction() as session:
            row = await _get(session, article_id, locale)
            items = await article_repo.versions(session, article_id, locale)
        return web.json_response(
            {
                "current": row.version,
                "published_version": row.published_version,
                "items": [
                    {
                        "version": v.version,
                        "created_by": v.created_by,
                        "created_at": v.created_at.isoformat(),
                        "note": v.note,
                        "title": v.title,
                    }
                    for v in items
                ],
            }
        )

    async def version(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        article_id, locale = _key(request)
        number = _version_number(request.match_info["version"], "version")
        async with self.db.transaction() as session:
            await _get(session, article_id, locale)
            row = await article_repo.version(session, article_id, locale, number)
            if row is None:
                raise RecordNotFound("version", f"{article_id}/{locale} v{number}")
        return web.json_response(_version(row))

    async def diff(self, request: web.Request) -> web.Response:
        """``from`` and ``to`` versions (default: the one before ``to``, and the current)."""
        await self.console.agent(request)
        article_id, locale = _key(request)
        async with self.db.transaction() as session:
            row = await _get(session, article_id, locale)
            to = _version_number(request.query.get("to", str(row.version)), "to")
            default_from = str(max(to - 1, 1))
            start = _version_number(request.query.get("from", default_from), "from")
            old = await article_repo.version(session, article_id, locale, start)
            new = await article_repo.version(session, article_id, locale, to)
            for number, found in ((start, old), (to, new)):
                if found is None:
                    raise RecordNotFound("version", f"{article_id}/{locale} v{number}")
        assert old is not None and new is not None
        return web.json_response(
            {
                "from": start,
                "to": to,
                "changes": diff(article_repo.content_of(old), article_repo.content_of(new)),
            }
        )

    async def preview(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        body = await read_json(request, {"body": str}, {"body"})
        return web.json_response(
            {"html": markdown.to_html(body["body"]), "text": markdown.to_text(body["body"])}
        )

    # ---- writing ------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        agent = await self.console.agent(request)
        fields = {**_CONTENT, "id": str, "locale": str}
        body = await read_json(request, fields, {"locale", "title", "body"})
        row = await self.editor.create(agent, body)
        return await self._article_response(agent, row, status=201)

    async def update(self, request: web.Request) -> web.Response:
        agent = await self.console.agent(request)
        article_id, locale = _key(request)
        body = await read_json(request, {**_CONTENT, "base_version": int}, set())
        base = body.pop("base_version", None)
        if not body:
            raise BadRequest("missing_field", f"change at least one of {', '.join(_CONTENT)}")
        row, _changed = await self.editor.update(agent, article_id, locale, body, base)
        return await self._article_response(agent, row)

    def _transition_handler(self, action: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            agent = await self.console.agent(request)
            article_id, locale = _key(request)
            body = await _optional_json(request, {"comment": str})
            row = await self.editor.transition(
                agent, article_id, locale, action, body.get("comment")
            )
            self._refresh_soon()
            return await self._article_response(agent, row)

        return handler

    async def rollback(self, request: web.Request) -> web.Response:
        agent = await self.console.agent(request)
        article_id, locale = _key(request)
        body = await read_json(request, {"version": int, "comment": str}, {"version"})
        if not 1 <= body["version"] <= MAX_VERSION:
            raise BadRequest("bad_version", f"version must be a version number (1..{MAX_VERSION})")
        row = await self.editor.rollback(
            agent, article_id, locale, body["version"], body.get("comment")
        )
        self._refresh_soon()
        return await self._article_response(agent, row)

    async def _article_response(
        self, agent: Agent, row: Article, status: int = 200
    ) -> web.Response:
        return web.json_response(await self._detail(agent, row.id, row.locale), status=status)

    # ---- import and export --------------------------------------------------------------

    async def export(self, request: web.Request) -> web.StreamResponse:
        await self.console.agent(request)
        fmt = request.query.get("format", "yaml")
        if fmt not in FORMATS:
            raise BadRequest("bad_format", f"format must be one of {', '.join(FORMATS)}")
        statuses = [s for s in request.query.get("status", "").split(",") if s]
        for status in statuses:
            if status not in STATUSES:
                raise BadRequest("bad_status", f"status must be one of {', '.join(STATUSES)}")
        async with self.db.transaction() as session:
            articles = await article_repo.export_rows(session, statuses)
        text = dumps(articles, fmt)
        return web.Response(
            text=text,
            content_type=_MEDIA[fmt],
            charset="utf-8",
            headers={
                "Content-Disposition": content_disposition_header(
                    "attachment", filename=f"knowledge-base.{fmt}"
                )
            },
        )

    async def import_file(self, request: web.Request) -> web.Response:
        """The file is the request body; ``format`` names it (or the Content-Type does).
        Items without a ``status`` take ``?status=`` (default published)."""
        agent = await self.console.agent(request)
        if not can_publish(agent):
            raise Forbidden("not_allowed", "only knowledge managers and admins may import")
        fmt = request.query.get("format") or _format_of(request.content_type)
        if fmt not in FORMATS:
            raise BadRequest("bad_format", f"format must be one of {', '.join(FORMATS)}")
        default_status = request.query.get("status", ArticleStatus.PUBLISHED.value)
        if default_status not in STATUSES:
            raise BadRequest("bad_status", f"status must be one of {', '.join(STATUSES)}")
        if request.content_length and request.content_length > MAX_IMPORT_BYTES:
            raise BadRequest("too_large", f"import at most {MAX_IMPORT_BYTES} bytes at a time")
        raw = await request.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequest("invalid_utf8", f"the file is not UTF-8 (byte {exc.start})") from None
        name = request.query.get("name") or f"upload.{fmt}"
        try:
            articles = loads(text, fmt, name)  # all validated before anything is written
        except ArticleImportError as exc:
            raise BadRequest("invalid_file", str(exc)) from None
        counts = await self.editor.import_articles(
            articles,
            actor=agent.email,
            note=f"import {name}",
            default_status=ArticleStatus(default_status),
        )
        self._refresh_soon()
        async with self.db.transaction() as session:
            await audit.record(
                session,
                actor=agent.email,
                action="article.import",
                target=f"kb:{name}",
                now=self.console.clock.now(),
                data={"articles": len(articles), **counts},
            )
        return web.json_response({"articles": len(articles), **counts})


# ---- helpers ----------------------------------------------------------------------------


def _key(request: web.Request) -> tuple[str, str]:
    return request.match_info["id"], request.match_info["locale"]


async def _get(session: Any, article_id: str, locale: str) -> Article:
    row = await article_repo.get(session, article_id, locale)
    if row is None:
        raise RecordNotFound("article", f"{article_id}/{locale}")
    return row


async def _votes(
    session: Any, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Helpful / not helpful per article from the customers' feedback."""
    return await feedback_repo.counts(session, keys)


def _summary(row: Article, votes: tuple[int, int] | None) -> dict[str, Any]:
    helpful, unhelpful = votes if votes else (0, 0)
    rated = helpful + unhelpful
    return {
        "id": row.id,
        "locale": row.locale,
        "title": row.title,
        "category": row.category,
        "tags": list(row.tags or []),
        "status": row.status,
        "version": row.version,
        "published_version": row.published_version,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at.isoformat(),
        "status_changed_by": row.status_changed_by,
        "status_changed_at": (row.status_changed_at.isoformat() if row.status_changed_at else None),
        "helpful": helpful,
        "unhelpful": unhelpful,
        "helpfulness": round(helpful / rated, 4) if rated else None,
    }


def _version(row: ArticleVersion) -> dict[str, Any]:
    return {
        "version": row.version,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "note": row.note,
        **article_repo.content_of(row),
        "body_html": markdown.to_html(row.body),
    }


def _event(row: ArticleEvent) -> dict[str, Any]:
    return {
        "action": row.action,
        "from": row.from_status,
        "to": row.to_status,
        "version": row.version,
        "actor": row.actor,
        "comment": row.comment,
        "at": row.created_at.isoformat(),
    }


def _actions(row: Article, publisher: bool) -> list[str]:
    """What this agent may do to the article now, for the editor's buttons."""
    status = ArticleStatus(row.status)
    actions = [
        name
        for name, rule in TRANSITIONS.items()
        if status in rule.sources and (publisher or not rule.publisher_only)
    ]
    if status is not ArticleStatus.ARCHIVED:
        actions.insert(0, "edit")
        if publisher and row.version > 1:
            actions.append("rollback")
    return actions


def _version_number(value: str, name: str) -> int:
    if not _VERSION.fullmatch(value):
        raise BadRequest("bad_version", f"{name} must be a version number (1, 2, …)")
    return int(value)


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"bad_{name}", f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"bad_{name}", f"{name} must be {low}..{high}")
    return value


async def _optional_json(
    request: web.Request, fields: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    if not (await request.read()).strip():
        return {}
    return await read_json(request, fields, set())


def _format_of(content_type: str) -> str:
    for fmt, media in _MEDIA.items():
        if content_type == media:
            return fmt
    return {"text/yaml": "yaml", "application/x-yaml": "yaml"}.get(content_type, "")
