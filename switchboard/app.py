"""The application factory: the only place that knows every package and wires them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import io
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.assistant import Assistant
from bot.faq import FaqAssistant
from bot.rasa import RasaAssistant
from channels import line, messenger, telegram, whatsapp
from channels.base import ChannelRegistry, ChannelTraits, Report
from channels.email.adapter import EmailAdapter, EmailTemplates, SmtpSettings
from channels.email.imap import ImapPoller, ImapSettings
from channels.email.inbound import EmailIngest
from channels.email.receiver import SmtpReceiver
from channels.feedback_links import FeedbackLinks
from channels.sms import SmsAdapter
from channels.twilio_api import TwilioApi
from channels.twilio_webhooks import SmsWebhooks, TwilioSignature
from channels.visitor_ids import VisitorIds
from channels.webchat import WebChatAdapter, WebChatEndpoint
from console.api import ConsoleApi
from console.canned import CannedApi
from console.http import errors_middleware
from console.kb import KbApi
from console.kb_try import RANKED, KbTryApi
from console.privacy import PrivacyApi
from console.ws import ConsoleSocket
from ivr.engine import Engine
from ivr.flow import Flow, FlowError, load_flow
from ivr.webhooks import VoiceAdapter, VoiceWebhooks
from knowledge_base import semantic
from knowledge_base.service import KnowledgeBase
from routing.clock import Clock, SystemClock
from routing.hub import Hub, RedisHub
from routing.identify import ChatIdentity, IdentifyPolicy
from routing.metrics import Metrics
from routing.outbox import OutboxPolicy, OutboxWorker
from routing.policy import DeskPolicy
from routing.privacy import RetentionWorker
from routing.router import Router, RoutingPolicy
from routing.segments import Segmenter
from storage import migrate
from storage.db import Database
from storage.repos import agents as agent_repo
from storage.repos import conversations as conv_repo
from storage.repos import outbox as outbox_repo
from switchboard import logs, secret_key
from switchboard.headers import add_security_headers
from switchboard.settings import EmailSettings, Settings, SettingsError
from switchboard.workspace import WorkspaceError, load_workspace

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
HUB = web.AppKey("hub", Hub)
KB = web.AppKey("kb", KnowledgeBase)
ROUTER = web.AppKey("router", Router)
OUTBOX = web.AppKey("outbox", OutboxWorker)
METRICS = web.AppKey("metrics", Metrics)
CHANNELS = web.AppKey("channels", ChannelRegistry)
EMAIL_RECEIVER = web.AppKey("email_receiver", SmtpReceiver)
EMAIL_INGEST = web.AppKey("email_ingest", EmailIngest)
TWILIO = web.AppKey("twilio", TwilioApi)
ROOT = Path(__file__).resolve().parent.parent
SHUTDOWN_TIMEOUT = 10.0
log = logging.getLogger("switchboard")
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
    app.on_response_prepare.append(add_security_headers)
    # A request aiohttp cannot parse (an over-long URL or header) is one INFO line, not a
    # traceback at ERROR (switchboard.logs.BadRequestLine).
    logs.quiet_bad_requests()
    app[SETTINGS] = settings
    metrics_ = app[METRICS] = Metrics()
    clock = clock or SystemClock()
    # Constructors only build objects; connections are opened in the cleanup context below.
    db = app[DB] = Database(settings.effective_database_url)
    hub = app[HUB] = (
        RedisHub(settings.redis_url, settings.redis_channel) if settings.redis_url else Hub()
    )
    # The sentence model (bot.semantic) re-ranks in the bot's index; it loads lazily, at the
    # first build big enough to calibrate it.
    kb = app[KB] = KnowledgeBase(db, semantic.encoder_for(settings.bot.semantic))
    channels = app[CHANNELS] = ChannelRegistry()
    channels.register(WebChatAdapter(hub))
    outbox = app[OUTBOX] = OutboxWorker(
        db, channels, hub, clock, metrics_, _outbox_policy(settings)
    )
    rasa = _rasa(settings, kb, metrics_) if settings.bot.backend == "rasa" else None
    assistant: Assistant = rasa or _faq(settings, kb)
    if settings.email.enabled:
        channels.register(
            _email_adapter(settings.email, clock, settings.effective_public_url),
            _email_traits(settings.email),
        )
    closers = _register_messengers(settings, channels)
    twilio = None
    if settings.twilio.enabled:
        twilio = app[TWILIO] = TwilioApi(
            settings.twilio.account_sid,
            settings.twilio.auth_token,
            settings.twilio.api_base_url,
            timeout=settings.twilio.timeout_seconds,
        )
        channels.register(
            SmsAdapter(
                twilio,
                from_number=settings.twilio.phone_number,
                status_callback_url=settings.effective_public_url + "/webhooks/twilio/sms/status",
            ),
            # Texts cost the customer: only answers, never agent events.
            ChannelTraits(live=False, address_kind="phone"),
        )
        # Phone calls: answers are spoken in the call, and a question the bot cannot answer
        # goes to a person at once (nobody rephrases to a machine on the phone).
        channels.register(
            VoiceAdapter(),
            ChannelTraits(live=False, outbound=False, max_misses=1, address_kind="phone"),
        )
    router = app[ROUTER] = Router(
        db,
        assistant,
        hub,
        clock,
        metrics_,
        _routing_policy(settings),
        wake_outbox=outbox.wake,
        traits=channels.traits,
        kin=channels.kin,
        desk=_workspace(settings),
    )
    _add_routes(app, settings, router, hub)
    receivers = _email_receivers(app, settings.email, router)
    _add_messenger_webhooks(app, settings, router)
    if settings.twilio.enabled:
        signature = TwilioSignature(settings.twilio.auth_token, settings.effective_public_url)
        SmsWebhooks(
            signature,
            router.handle_inbound,
            router.provider_status,
            default_region=settings.twilio.default_region,
            help_text=settings.twilio.sms_help_text,
        ).add_routes(app)
        assert twilio is not None
        VoiceWebhooks(
            Engine(_ivr_flow(settings)),
            router,
            signature,
            twilio,
            public_url=settings.effective_public_url,
            default_region=settings.twilio.default_region,
            presence_timeout=timedelta(seconds=settings.auth.presence_timeout_seconds),
        ).add_routes(app)

    workers = _Workers(db)

    async def shutdown(app: web.Application) -> None:
        # Before aiohttp cuts off open requests: sockets hang up and workers finish what they
        # are writing, so nothing is cancelled inside a transaction.
        await hub.close_sockets()
        await workers.stop()

    app.on_shutdown.append(shutdown)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        try:
            await _check_schema(db)
            await hub.start()
            await kb.refresh(force=True)
            if rasa is not None:
                await rasa.start()
            if run_workers:
                workers.start(outbox.run(), "outbox")
                workers.start(router.desk.run(), "desk")
                workers.start(kb.run_refresher(settings.kb.refresh_seconds), "kb-refresh")
                segmenter = Segmenter(db, clock, router.desk.policy.segments)
                workers.start(segmenter.run(), "segments")
                if settings.retention.limits():
                    retention = RetentionWorker(db, clock, settings.retention)
                    workers.start(retention.run(), "retention")
                if receivers.poller is not None:
                    workers.start(receivers.poller.run(), "imap")
                if settings.telegram.enabled and settings.telegram.mode == "polling":
                    poller = telegram.TelegramPoller(
                        handle=router.handle_inbound,
                        token=settings.telegram.token,
                        api_base_url=settings.telegram.api_base_url,
                        attachment_max_bytes=settings.email.attachment_max_bytes,
                    )
                    workers.start(poller.run(), "telegram-poll")
            if receivers.smtp is not None:
                await receivers.smtp.start()
            yield
        finally:
            if receivers.smtp is not None:
                await receivers.smtp.stop()
            await workers.stop()  # already stopped on shutdown, unless start-up failed
            if twilio is not None:
                await twilio.close()
            if rasa is not None:
                await rasa.close()
            for close in closers:
                await close()
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
    app.router.add_get("/console/reports.js", _console_file("reports.js", "application/javascript"))
    app.router.add_get("/console/kb_try.js", _console_file("kb_try.js", "application/javascript"))
    app.router.add_get("/api/v1/openapi.json", openapi)
    return app


def _config_path(name: str) -> Path:
    """A file named in the settings, relative to the working directory or the source tree."""
    path = Path(name)
    if not path.is_absolute() and not path.exists():
        path = ROOT / name
    return path


def _faq(settings: Settings, kb: KnowledgeBase, suggestions: int | None = None) -> FaqAssistant:
    """The embedded bot; ``suggestions``: other articles it lists (default bot.suggestions)."""
    return FaqAssistant(
        kb,
        default_locale=settings.bot.default_locale,
        suggestions=settings.bot.suggestions if suggestions is None else suggestions,
    )


def _rasa(settings: Settings, kb: KnowledgeBase, metrics_: Metrics) -> RasaAssistant:
    """Rasa over HTTP, with the embedded FAQ bot answering whenever Rasa cannot."""
    bot = settings.bot
    return RasaAssistant(
        bot.rasa_url,
        _faq(settings, kb),
        timeout=bot.rasa_timeout_seconds,
        handoff_intents=bot.rasa_handoff_intent_names,
        threshold=bot.threshold,
        default_locale=bot.default_locale,
        on_fallback=lambda reason: metrics_.bot_fallbacks.labels("rasa", reason).inc(),
    )


def _workspace(settings: Settings) -> DeskPolicy:
    try:
        return load_workspace(_config_path(settings.workspace_file))
    except WorkspaceError as exc:
        raise SettingsError(f"setting workspace_file: {exc}") from None


def _ivr_flow(settings: Settings) -> Flow:
    try:
        return load_flow(_config_path(settings.twilio.ivr_file))
    except FlowError as exc:
        raise SettingsError(f"setting twilio.ivr_file: {exc}") from None


def _register_messengers(
    settings: Settings, channels: ChannelRegistry
) -> list[Callable[[], Awaitable[None]]]:
    """Each messenger whose credentials are set: its adapter and traits. Returns the closers."""
    closers: list[Callable[[], Awaitable[None]]] = []
    wa = settings.whatsapp
    if wa.enabled:
        wa_adapter = whatsapp.WhatsAppAdapter(
            api_base_url=wa.api_base_url,
            access_token=wa.access_token,
            phone_number_id=wa.phone_number_id,
            api_version=wa.api_version,
        )
        channels.register(wa_adapter, whatsapp.TRAITS)
        closers.append(wa_adapter.close)
    tg = settings.telegram
    if tg.enabled:
        tg_adapter = telegram.TelegramAdapter(api_base_url=tg.api_base_url, token=tg.token)
        channels.register(tg_adapter, telegram.TRAITS)
        closers.append(tg_adapter.close)
    ln = settings.line
    if ln.enabled:
        line_adapter = line.LineAdapter(
            api_base_url=ln.api_base_url, channel_access_token=ln.channel_access_token
        )
        channels.register(line_adapter, line.TRAITS)
        closers.append(line_adapter.close)
    fb = settings.messenger
    if fb.enabled:
        adapter = messenger.MessengerAdapter(
            api_base_url=fb.api_base_url,
            page_access_token=fb.page_access_token,
            api_version=fb.api_version,
            app_secret=fb.app_secret,
        )
        channels.register(adapter, messenger.TRAITS)
        closers.append(adapter.close)
    return closers


def _add_messenger_webhooks(app: web.Application, settings: Settings, router: Router) -> None:
    def report(channel: str) -> Report:
        return functools.partial(router.provider_status_by_id, channel)

    wa = settings.whatsapp
    if wa.enabled:
        whatsapp.WhatsAppWebhooks(
            handle=router.handle_inbound,
            report=report(whatsapp.CHANNEL),
            verify_token=wa.verify_token,
            app_secret=wa.app_secret,
            default_region=settings.twilio.default_region,
            api_base_url=wa.api_base_url,
            api_version=wa.api_version,
        ).add_routes(app)
    tg = settings.telegram
    if tg.enabled and tg.mode == "webhook":
        telegram.TelegramWebhooks(
            handle=router.handle_inbound,
            report=report(telegram.CHANNEL),
            token=tg.token,
            webhook_secret=tg.webhook_secret,
            api_base_url=tg.api_base_url,
            attachment_max_bytes=settings.email.attachment_max_bytes,
        ).add_routes(app)
    ln = settings.line
    if ln.enabled:
        line.LineWebhooks(
            handle=router.handle_inbound,
            report=report(line.CHANNEL),
            channel_secret=ln.channel_secret,
            channel_access_token=ln.channel_access_token,
            api_base_url=ln.api_base_url,
            data_api_base_url=ln.data_api_base_url,
        ).add_routes(app)
    fb = settings.messenger
    if fb.enabled:
        messenger.MessengerWebhooks(
            handle=router.handle_inbound,
            report=report(messenger.CHANNEL),
            verify_token=fb.verify_token,
            app_secret=fb.app_secret,
            page_access_token=fb.page_access_token,
            api_base_url=fb.api_base_url,
            api_version=fb.api_version,
            get_started_payload=fb.get_started_payload,
        ).add_routes(app)


def _outbox_policy(settings: Settings) -> OutboxPolicy:
    """The outbox's policy, its lease outliving the slowest email send: a relay may take up to
    its DATA timeout to answer, and no other worker may take the item over (and send the mail
    a second time) meanwhile."""
    if not settings.email.enabled:
        return settings.outbox
    slowest = settings.email.longest_send_seconds + 30.0
    lease = max(settings.outbox.lease_seconds, slowest)
    return dataclasses.replace(settings.outbox, lease_seconds=lease)


def _email_adapter(email: EmailSettings, clock: Clock, public_url: str) -> EmailAdapter:
    try:
        templates = EmailTemplates.load(_config_path(email.templates))
    except ValueError as exc:
        raise SettingsError(f"setting email.templates: {exc}") from None
    smtp = SmtpSettings(
        host=email.smtp_host,
        port=email.smtp_port,
        user=email.smtp_user,
        password=email.smtp_password,
        tls=email.smtp_tls,
        timeout=email.smtp_timeout_seconds,
        data_timeout=email.smtp_data_timeout_seconds,
    )
    return EmailAdapter(
        smtp,
        address=email.address,
        display_name=email.display_name,
        templates=templates,
        clock=clock,
        feedback_url=public_url,
    )


def _email_traits(email: EmailSettings) -> ChannelTraits:
    window = email.auto_reply_window_seconds
    return ChannelTraits(
        live=False,
        threaded=True,
        acknowledges=True,
        # Nobody rephrases an email for a bot: what it cannot answer goes to a person at once.
        max_misses=1,
        auto_reply_window=timedelta(seconds=window) if window > 0 else None,
    )


@dataclasses.dataclass
class _Receivers:
    smtp: SmtpReceiver | None = None
    poller: ImapPoller | None = None


def _email_receivers(app: web.Application, email: EmailSettings, router: Router) -> _Receivers:
    if not email.enabled:
        return _Receivers()
    ingest = app[EMAIL_INGEST] = EmailIngest(
        router.handle_inbound,
        own_addresses=email.all_own_addresses,
        attachment_limit=email.attachment_max_bytes,
    )
    receivers = _Receivers()
    if email.receiver_port:
        receivers.smtp = app[EMAIL_RECEIVER] = SmtpReceiver(
            ingest.deliver,
            host=email.receiver_host,
            port=email.receiver_port,
            domains=email.accepted_domains,
            max_bytes=email.receiver_max_bytes,
            hostname=email.domain,
        )
    if email.imap_host:
        receivers.poller = ImapPoller(
            ImapSettings(
                host=email.imap_host,
                port=email.imap_port,
                user=email.imap_user,
                password=email.imap_password,
                folder=email.imap_folder,
                tls=email.imap_tls,  # type: ignore[arg-type]  # validated by the settings
                poll_seconds=email.imap_poll_seconds,
                processed_folder=email.imap_processed_folder or None,
            ),
            ingest.deliver,
        )
    return receivers


def _add_routes(app: web.Application, settings: Settings, router: Router, hub: Hub) -> None:
    # Routes that need the started resources are added on start-up, before the router freezes.
    FeedbackLinks(router).add_routes(app)
    identity = ChatIdentity(
        router.db,
        hub,
        router.clock,
        IdentifyPolicy(
            secret=settings.chat.identity_secret,
            by_code=settings.chat.verify_email and settings.email.enabled,
            code_ttl=timedelta(minutes=settings.chat.verification_minutes),
        ),
        wake_outbox=app[OUTBOX].wake,
    )
    WebChatEndpoint(
        router,
        hub,
        identity,
        VisitorIds(secret_key.load(settings)),
        max_chars=settings.chat.max_message_chars,
        max_frame_bytes=settings.chat.max_frame_bytes,
    ).add_routes(app)
    console_api = ConsoleApi(
        router,
        token_ttl=timedelta(hours=settings.auth.token_ttl_hours),
        presence_timeout=timedelta(seconds=settings.auth.presence_timeout_seconds),
        max_chars=settings.chat.max_message_chars,
        default_region=settings.twilio.default_region,
        login_throttle=settings.auth.login_throttle,
    )
    console_api.add_routes(app)
    CannedApi(console_api).add_routes(app)
    PrivacyApi(console_api).add_routes(app)
    KbApi(console_api, app[KB]).add_routes(app)
    channels = app[CHANNELS]
    KbTryApi(
        console_api,
        app[KB],
        _faq(settings, app[KB], suggestions=RANKED),  # the bot's choice, and the runners-up
        max_misses=lambda name: channels.traits(name).max_misses or router.policy.max_misses,
        channels=channels.names,
    ).add_routes(app)
    ConsoleSocket(router, hub).add_routes(app)


class _Workers:
    """The process's background tasks (outbox, desk, refreshers, pollers)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    async def stop(self) -> None:
        """Cancel them between transactions (see Database.between_transactions). Bounded: a
        library that swallows a cancellation must not hang the shutdown."""
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        async with self._db.between_transactions(SHUTDOWN_TIMEOUT):
            for task in tasks:
                task.cancel()
            done, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT)
        for task in stuck:
            where = io.StringIO()
            task.print_stack(limit=8, file=where)
            log.warning(
                "worker_did_not_stop %s",
                task.get_name(),
                extra={"fields": {"task": task.get_name(), "stack": where.getvalue()}},
            )
        for task in done:
            with contextlib.suppress(asyncio.CancelledError):
                task.result()


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
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    # Redis away is degraded, not down: chats and the console work, and sockets catch up from
    # the database once the fan-out is back, so a load balancer should keep the process.
    components = await request.app[HUB].health()
    body |= components
    if any(state != "ok" for state in components.values()):
        body["status"] = "degraded"
    body["kb_articles"] = len(request.app[KB].index)
    return web.json_response(body)


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    m = app[METRICS]
    async with app[DB].transaction() as session:
        length, oldest = await conv_repo.queue_stats(session, app[ROUTER].clock.now())
        backlog = await outbox_repo.backlog(session)
        presence = Counter(a.presence for a in await agent_repo.active(session))
    for state in ("online", "away", "offline"):
        m.agents.labels(state).set(presence.get(state, 0))
    m.queue_length.set(length)
    m.queue_oldest_wait.set(oldest)
    for status, count in backlog.items():
        m.outbox_backlog.labels(status).set(count)
    return web.Response(
        body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


@functools.cache
def _openapi_json() -> str:
    """The OpenAPI document as JSON, parsed once per process (the file ships with the code)."""
    import yaml

    from knowledge_base.importer import YAML_LOADER

    text = (CONSOLE_STATIC.parent / "openapi.yaml").read_text(encoding="utf-8")
    return json.dumps(yaml.load(text, Loader=YAML_LOADER))


async def openapi(_request: web.Request) -> web.Response:
    return web.Response(text=_openapi_json(), content_type="application/json")


def _console_file(name: str, content_type: str):  # type: ignore[no-untyped-def]
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(
            body=(CONSOLE_STATIC / name).read_bytes(),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},  # security headers: switchboard.headers
        )

    return handler


def _redirect(location: str):  # type: ignore[no-untyped-def]
    async def handler(_request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler
