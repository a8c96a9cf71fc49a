"""The application factory: the only place that knows every package and wires them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.faq import FaqAssistant
from channels.base import ChannelRegistry
from channels.webchat import WebChatAdapter, WebChatEndpoint
from console.api import ConsoleApi
from console.http import errors_middleware
from console.ws import ConsoleSocket
from knowledge_base.service import KnowledgeBase
from routing.clock import Clock, SystemClock
from routing.hub import Hub, RedisHub
from routing.metrics import Metrics
from routing.outbox import OutboxWorker
from routing.router import Router, RoutingPolicy
from storage import migrate
from storage.db import Database
from storage.repos import conversations as conv_repo
from storage.repos import outbox as outbox_repo
from switchboard.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
HUB = web.AppKey("hub", Hub)
KB = web.AppKey("kb", KnowledgeBase)
ROUTER = web.AppKey("router", Router)
OUTBOX = web.AppKey("outbox", OutboxWorker)
METRICS = web.AppKey("metrics", Metrics)
CHANNELS = web.AppKey("channels", ChannelRegistry)
CONSOLE_STATIC = Path(__file__).resolve().parent.parent / "console" / "static"


class SchemaOutOfDate(RuntimeError):
    pass


def create_app(
    settings: Settings, *, clock: Clock | None = None, run_workers: bool = True
) -> web.Application:
    """Build the app; nothing connects until it starts (see the cleanup contexts)."""
    app = web.Application(
        middlewares=[errors_middleware],
        client_max_size=max(settings.chat.max_message_chars * 8, 64 * 1024),
    )
    app[SETTINGS] = settings
    metrics_ = app[METRICS] = Metrics()
    clock = clock or SystemClock()
    # Constructors only build objects; connections are opened in the cleanup context below.
    db = app[DB] = Database(settings.effective_database_url)
    hub = app[HUB] = RedisHub(settings.redis_url) if settings.redis_url else Hub()
    kb = app[KB] = KnowledgeBase(db)
    channels = app[CHANNELS] = ChannelRegistry()
    channels.register(WebChatAdapter(hub))
    outbox = app[OUTBOX] = OutboxWorker(db, channels, hub, clock, metrics_, settings.outbox)
    assistant = FaqAssistant(
        kb, default_locale=settings.bot.default_locale, suggestions=settings.bot.suggestions
    )
    router = app[ROUTER] = Router(
        db, assistant, hub, clock, metrics_, _routing_policy(settings), wake_outbox=outbox.wake
    )
    _add_routes(app, settings, router, hub)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        try:
            await _check_schema(db)
            await hub.start()
            await kb.refresh(force=True)
            if run_workers:
                tasks = [
                    asyncio.create_task(outbox.run(), name="outbox"),
                    asyncio.create_task(
                        kb.run_refresher(settings.kb.refresh_seconds), name="kb-refresh"
                    ),
                ]
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await hub.stop()
            await db.dispose()

    app.cleanup_ctx.append(resources)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", _redirect("/chat/"))
    app.router.add_get("/console", _redirect("/console/"))
    app.router.add_get("/console/", _console_file("index.html", "text/html"))
    app.router.add_get("/console/console.js", _console_file("console.js", "application/javascript"))
    app.router.add_get("/console/console.css", _console_file("console.css", "text/css"))
    app.router.add_get("/api/v1/openapi.json", openapi)
    return app


def _add_routes(app: web.Application, settings: Settings, router: Router, hub: Hub) -> None:
    # Routes that need the started resources are added on start-up, before the router freezes.
    WebChatEndpoint(
        router,
        hub,
        max_chars=settings.chat.max_message_chars,
        max_frame_bytes=settings.chat.max_frame_bytes,
    ).add_routes(app)
    ConsoleApi(
        router,
        token_ttl=timedelta(hours=settings.auth.token_ttl_hours),
        presence_timeout=timedelta(seconds=settings.auth.presence_timeout_seconds),
        max_chars=settings.chat.max_message_chars,
    ).add_routes(app)
    ConsoleSocket(router, hub).add_routes(app)


async def _check_schema(db: Database) -> None:
    current, head = await migrate.current_revision(db), migrate.head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'nothing'}, expected {head}: run `switchboard db upgrade`"
        )


def _routing_policy(settings: Settings) -> RoutingPolicy:
    return RoutingPolicy(
        threshold=settings.bot.threshold,
        max_misses=settings.bot.max_misses,
        presence_timeout=timedelta(seconds=settings.auth.presence_timeout_seconds),
        default_locale=settings.bot.default_locale,
    )


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[DB].ping()
    except Exception as exc:
        return web.json_response(
            {"status": "unhealthy", "database": f"error: {type(exc).__name__}"}, status=503
        )
    return web.json_response(
        {"status": "ok", "database": "ok", "kb_articles": len(request.app[KB].index)}
    )


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    m = app[METRICS]
    async with app[DB].transaction() as session:
        length, oldest = await conv_repo.queue_stats(session, app[ROUTER].clock.now())
        backlog = await outbox_repo.backlog(session)
    m.queue_length.set(length)
    m.queue_oldest_wait.set(oldest)
    for status, count in backlog.items():
        m.outbox_backlog.labels(status).set(count)
    return web.Response(
        body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def openapi(_request: web.Request) -> web.Response:
    import yaml

    spec = yaml.safe_load((CONSOLE_STATIC.parent / "openapi.yaml").read_text(encoding="utf-8"))
    return web.json_response(spec)


def _console_file(name: str, content_type: str):  # type: ignore[no-untyped-def]
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(
            body=(CONSOLE_STATIC / name).read_bytes(),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    return handler


def _redirect(location: str):  # type: ignore[no-untyped-def]
    async def handler(_request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler
