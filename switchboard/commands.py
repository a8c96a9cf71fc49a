"""The CLI commands that work on the database (everything but ``serve``)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from channels.errors import SwitchboardError
from channels.phone import InvalidPhoneNumber, normalize_phone
from channels.telegram import set_webhook
from console.auth import create_agent
from knowledge_base import semantic
from knowledge_base.importer import dumps, read_articles
from knowledge_base.service import KnowledgeBase
from routing.clock import SystemClock
from routing.privacy import Privacy, RetentionWorker
from routing.segments import Segmenter
from storage import migrate
from storage.db import Database, RecordNotFound
from storage.models import ArticleStatus
from storage.repos import agents as agent_repo
from storage.repos import articles as article_repo
from switchboard import customer_csv
from switchboard.settings import Settings
from switchboard.workspace import load_workspace

DEMO_AGENT = ("demo@example.com", "Demo Agent", "demo-password")
DEMO_SUPERVISOR = ("supervisor@example.com", "Demo Supervisor", "demo-password")
DEMO_MANAGER = ("knowledge@example.com", "Demo Knowledge Manager", "demo-password")
DEMO_SKILLS = ["lang:en", "lang:th", "lang:zh", "lang:fa", "channel:voice", "product:cards"]


@asynccontextmanager
async def _database(settings: Settings, *, check: bool = True) -> AsyncIterator[Database]:
    db = Database(settings.effective_database_url)
    try:
        if check:
            current, head = await migrate.current_revision(db), migrate.head_revision()
            if current != head:
                raise SwitchboardError(
                    f"database schema is at {current or 'nothing'}, expected {head}: run `switchboard db upgrade`"
                )
        yield db
    finally:
        await db.dispose()


async def db(settings: Settings, action: str) -> int:
    async with _database(settings, check=False) as database:
        if action == "upgrade":
            await migrate.upgrade(database)
        print(f"schema revision: {await migrate.current_revision(database)}")
    return 0


async def agent_add(
    settings: Settings,
    email: str,
    name: str,
    role: str,
    password: str,
    *,
    phone: str | None = None,
    voice_client: str | None = None,
    teams: list[str] | None = None,
    skills: list[str] | None = None,
    capacity: dict[str, int] | None = None,
) -> int:
    if teams:
        known = load_workspace(_source_file(settings.workspace_file)).team_names()
        for team in teams:
            if team not in known:
                raise SwitchboardError(
                    f"--team: no team {team!r} in {settings.workspace_file}; teams: "
                    f"{', '.join(known) or 'none'}"
                )
    if phone:
        try:
            phone = normalize_phone(phone, settings.twilio.default_region)
        except InvalidPhoneNumber as exc:
            raise SwitchboardError(f"--phone: {exc}") from None
    async with _database(settings) as database:
        agent = await create_agent(
            database,
            SystemClock(),
            email=email,
            name=name,
            password=password,
            role=role,
            phone=phone,
            voice_client=voice_client,
            teams=teams,
            skills=skills,
            capacity=capacity,
        )
    print(f"agent {agent.id} created: {agent.email} ({agent.role})")
    return 0


async def kb_import(settings: Settings, path: Path, status: str = "published") -> int:
    articles = read_articles(path)  # all validated before anything is written
    async with _database(settings) as database:
        counts = await KnowledgeBase(database).import_articles(
            articles,
            SystemClock().now(),
            _progress(len(articles)),
            actor="cli",
            note=f"import {path.name}",
            default_status=ArticleStatus(status),
        )
    print(
        f"imported {len(articles)} article(s) from {path}: "
        f"{counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged"
    )
    return 0


async def kb_export(settings: Settings, path: Path, fmt: str | None, statuses: list[str]) -> int:
    fmt = fmt or {".yml": "yaml", ".yaml": "yaml", ".json": "json", ".csv": "csv"}.get(
        path.suffix.lower()
    )
    if fmt is None:
        raise SwitchboardError(f"{path}: say --format yaml, json or csv")
    async with _database(settings) as database, database.transaction() as session:
        articles = await article_repo.export_rows(session, statuses)
    text = dumps(articles, fmt)
    if await _write_out(path, text):
        print(f"exported {len(articles)} article(s) to {path}", file=sys.stderr)
    return 0


async def kb_search(settings: Settings, question: str, *, as_json: bool, limit: int) -> int:
    async with _database(settings) as database:
        # The same index as the bot's, sentence model included (bot.semantic).
        kb = KnowledgeBase(database, semantic.encoder_for(settings.bot.semantic))
        await kb.refresh(force=True)
    threshold = settings.bot.threshold
    questions = (line.rstrip("\n") for line in sys.stdin) if question == "-" else iter([question])
    for q in questions:
        if not q.strip():
            continue
        matches = kb.search(q, limit=limit)
        answered = bool(matches) and matches[0].score >= threshold
        if as_json:
            results = [
                {"id": m.article.id, "locale": m.article.locale, "score": m.score} for m in matches
            ]
            print(
                json.dumps(
                    {"question": q, "answered": answered, "results": results}, ensure_ascii=False
                ),
                flush=True,
            )
            continue
        verdict = "answered" if answered else f"not answered (below threshold {threshold})"
        print(f"{q}\n  {verdict}")
        for rank, m in enumerate(matches, start=1):
            print(
                f"  {rank}. {m.score:.3f}  {m.article.id} [{m.article.locale}]  {m.article.title}"
            )
        if not matches:
            print("  no matching article")
    return 0


def _demo_file(settings: Settings) -> Path:
    return _source_file(settings.kb.demo_file)


def _source_file(name: str) -> Path:
    """A file named in the settings, relative to the working directory or the source tree."""
    path = Path(name)
    if not path.is_absolute() and not path.exists():
        path = Path(__file__).resolve().parent.parent / name
    return path


async def demo(settings: Settings) -> int:
    await kb_import(settings, _demo_file(settings))
    async with _database(settings) as database:
        for (email, name, password), role in (
            (DEMO_AGENT, "agent"),
            (DEMO_SUPERVISOR, "supervisor"),
            (DEMO_MANAGER, "knowledge_manager"),
        ):
            async with database.transaction() as session:
                exists = await agent_repo.by_email(session, email)
            if not exists:
                # Every language of the demo workspace, in every team (no teams: all of them).
                await create_agent(
                    database,
                    SystemClock(),
                    email=email,
                    name=name,
                    password=password,
                    role=role,
                    skills=DEMO_SKILLS,
                )
    print(f"demo agent: {DEMO_AGENT[0]} / {DEMO_AGENT[2]}")
    print(f"demo supervisor: {DEMO_SUPERVISOR[0]} / {DEMO_SUPERVISOR[2]}")
    print(f"demo knowledge manager: {DEMO_MANAGER[0]} / {DEMO_MANAGER[2]}")
    return 0


def _progress(total: int):  # type: ignore[no-untyped-def]
    """Progress on stderr: a live bar on a terminal, a line per 10 % otherwise."""
    tty = sys.stderr.isatty()
    last = [-1]

    def report(done: int, count: int) -> None:
        percent = done * 100 // max(count, 1)
        if tty:
            bar = "#" * (percent // 4)
            print(
                f"\rimporting [{bar:<25}] {done}/{count} ({percent}%)",
                end="" if done < count else "\n",
                file=sys.stderr,
                flush=True,
            )
        elif count >= 1000 and percent // 10 != last[0]:
            last[0] = percent // 10
            print(f"importing {done}/{count} ({percent}%)", file=sys.stderr, flush=True)

    return report if total else None


async def telegram_set_webhook(settings: Settings) -> int:
    tg = settings.telegram
    if not tg.enabled or tg.mode != "webhook":
        raise SwitchboardError("set telegram.token and telegram.webhook_secret (webhook mode)")
    if not settings.public_url.startswith("https://"):
        raise SwitchboardError("public_url must be the https:// address Telegram can reach")
    url = settings.effective_public_url + "/webhooks/telegram"
    await set_webhook(
        token=tg.token, api_base_url=tg.api_base_url, url=url, secret=tg.webhook_secret
    )
    print(f"Telegram now delivers updates to {url}")
    return 0


async def customer_export(settings: Settings, customer_id: int, path: Path) -> int:
    async with _database(settings) as database:
        try:
            data = await Privacy(database, SystemClock()).export(customer_id, "cli")
        except RecordNotFound as exc:
            raise SwitchboardError(str(exc)) from None
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if await _write_out(path, text):
        print(
            f"exported customer {customer_id} to {path}: "
            f"{len(data['touchpoints'])} touchpoint(s), "
            f"{len(data['conversations'])} conversation(s), "
            f"{len(data['attachments'])} attachment(s)",
            file=sys.stderr,
        )
    return 0


async def customer_erase(settings: Settings, customer_id: int, reason: str) -> int:
    if not reason.strip():
        raise SwitchboardError("--reason: say why the customer's data is erased")
    async with _database(settings) as database:
        try:
            counts = await Privacy(database, SystemClock()).erase(
                customer_id, "cli", reason.strip()
            )
        except RecordNotFound as exc:
            raise SwitchboardError(str(exc)) from None
    print(
        f"customer {customer_id} erased: "
        + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
    )
    return 0


async def customer_import(settings: Settings, path: Path) -> int:
    # Every row is checked before anything is written; the import is one transaction.
    rows = await asyncio.to_thread(customer_csv.read_rows, path, settings.twilio.default_region)
    segments = load_workspace(_source_file(settings.workspace_file)).segments
    async with _database(settings) as database:
        counts = await customer_csv.import_rows(
            database, rows, SystemClock().now(), _progress(len(rows)), segments
        )
    print(
        f"imported {len(rows)} customer row(s) from {path}: "
        f"{counts['created']} created, {counts['updated']} updated"
    )
    return 0


async def customer_export_csv(settings: Settings, path: Path) -> int:
    async with _database(settings) as database:
        text, count = await customer_csv.export_text(database)
    if await _write_out(path, text):
        print(f"exported {count} customer(s) to {path}", file=sys.stderr)
    return 0


async def retention_run(settings: Settings, *, dry_run: bool) -> int:
    limits = settings.retention.limits()
    if not limits:
        print("no retention limit is set (retention.<channel>_days are all 0): nothing removed")
        return 0

    def progress(channel: str, done: dict[str, int]) -> None:
        print(f"{channel}: removed {done['touchpoints']} so far", file=sys.stderr, flush=True)

    async with _database(settings) as database:
        worker = RetentionWorker(database, SystemClock(), settings.retention)
        report = await worker.run_once(dry_run=dry_run, progress=progress)
    verb = "would remove" if dry_run else "removed"
    for channel, counts in report.items():
        print(
            f"{channel} (older than {limits[channel]} days): {verb} "
            f"{counts['touchpoints']} message body(ies), {counts['attachments']} attachment(s)"
        )
    return 0


async def segments_recompute(settings: Settings) -> int:
    """Every customer's value tier, lifecycle stage and segment, now; progress on stderr."""
    policy = load_workspace(_source_file(settings.workspace_file)).segments

    def progress(done: int, total: int) -> None:
        print(f"profiled {done}/{total} customers", file=sys.stderr, flush=True)

    async with _database(settings) as database:
        summary = await Segmenter(database, SystemClock(), policy).recompute(progress)
    print(
        f"{summary['customers']} customer(s) profiled, {summary['segments_changed']} segment(s) changed"
    )
    for title, key in (("value tiers", "value_tiers"), ("lifecycle", "lifecycle")):
        print(f"{title}: " + ", ".join(f"{k} {n}" for k, n in summary[key].items()))
    matched = summary["matched"]
    print("segments by rule: " + (", ".join(f"{k} {n}" for k, n in matched.items()) or "none"))
    return 0


async def _write_out(path: Path, text: str) -> bool:
    """Write ``text`` to ``path``, or to stdout for "-"; True when it went to a file."""
    if str(path) == "-":
        sys.stdout.write(text)
        return False
    try:
        await asyncio.to_thread(path.write_text, text, encoding="utf-8")
    except OSError as exc:
        raise SwitchboardError(f"{path}: cannot write ({exc.strerror})") from None
    return True
