"""The ``switchboard`` command: serve, db upgrade, demo, agent add, kb import/export/search,
customer export/erase, retention run, segments recompute."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import InterfaceError, OperationalError

from channels.errors import SwitchboardError
from switchboard.settings import Settings, SettingsError, load_settings


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="settings file (default config/switchboard.yaml)",
    )
    parser = argparse.ArgumentParser(
        prog="switchboard", parents=[common], description="Omnichannel contact center and chatbot."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the web server, bot and workers")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)

    db = sub.add_parser("db", parents=[common], help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", parents=[common], help="apply migrations up to the latest")
    db_sub.add_parser("current", parents=[common], help="print the schema revision")

    sub.add_parser("demo", parents=[common], help="load the demo knowledge base and a demo agent")

    agent = sub.add_parser("agent", parents=[common], help="manage agents")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    add = agent_sub.add_parser("add", parents=[common], help="create an agent")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument(
        "--role", default="agent", choices=["agent", "supervisor", "knowledge_manager", "admin"]
    )
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.add_argument(
        "--phone", help="E.164 number a phone call this agent claims is put through to"
    )
    add.add_argument(
        "--voice-client", help="Twilio Client identity to put calls through to instead"
    )
    add.add_argument(
        "--team", action="append", default=[], help="a team of the workspace (repeatable)"
    )
    add.add_argument(
        "--skill", action="append", default=[], help="a skill such as lang:th (repeatable)"
    )
    add.add_argument(
        "--capacity",
        help="concurrent conversations per kind, e.g. chat=3,message=5,call=1",
    )

    tg = sub.add_parser("telegram", parents=[common], help="Telegram")
    tg_sub = tg.add_subparsers(dest="telegram_command", required=True, metavar="ACTION")
    tg_sub.add_parser(
        "set-webhook",
        parents=[common],
        help="register <public_url>/webhooks/telegram and the secret with Telegram",
    )

    kb = sub.add_parser("kb", parents=[common], help="knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    imp = kb_sub.add_parser(
        "import", parents=[common], help="import articles from YAML, JSON or CSV"
    )
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--status",
        choices=("draft", "in_review", "published", "archived"),
        default="published",
        help="status of items that name none (default: published, answering at once)",
    )
    exp = kb_sub.add_parser(
        "export", parents=[common], help="export every article as YAML, JSON or CSV"
    )
    exp.add_argument("file", type=Path, help="where to write ('-': standard output)")
    exp.add_argument(
        "--format", choices=("yaml", "json", "csv"), help="default: from the file's extension"
    )
    exp.add_argument(
        "--status",
        action="append",
        choices=("draft", "in_review", "published", "archived"),
        help="only articles in this status (repeatable)",
    )
    search = kb_sub.add_parser(
        "search", parents=[common], help="rank articles for a question ('-': one per stdin line)"
    )
    search.add_argument("question")
    search.add_argument("--json", action="store_true", help="one JSON line per question")
    search.add_argument("--limit", type=int, default=5)

    customer = sub.add_parser("customer", parents=[common], help="customers: privacy, CSV")
    customer_sub = customer.add_subparsers(dest="customer_command", required=True, metavar="ACTION")
    cexp = customer_sub.add_parser(
        "export", parents=[common], help="everything held about a customer, as JSON"
    )
    cexp.add_argument("id", type=int)
    cexp.add_argument("file", type=Path, help="where to write ('-': standard output)")
    erase = customer_sub.add_parser(
        "erase", parents=[common], help="erase a customer's personal data and message bodies"
    )
    erase.add_argument("id", type=int)
    erase.add_argument("--reason", required=True, help="why (kept in the audit log)")
    cimp = customer_sub.add_parser(
        "import",
        parents=[common],
        help="create or update customers from CSV (name, email, phone, locale, tags, attr.*)",
    )
    cimp.add_argument("file", type=Path)
    ccsv = customer_sub.add_parser(
        "export-csv", parents=[common], help="every customer as CSV (the import's columns)"
    )
    ccsv.add_argument("file", type=Path, help="where to write ('-': standard output)")

    retention = sub.add_parser("retention", parents=[common], help="message-body retention")
    retention_sub = retention.add_subparsers(
        dest="retention_command", required=True, metavar="ACTION"
    )
    run = retention_sub.add_parser(
        "run", parents=[common], help="remove bodies older than each channel's retention.*_days"
    )
    run.add_argument("--dry-run", action="store_true", help="only count what would be removed")

    segments = sub.add_parser("segments", parents=[common], help="customer segments")
    segments_sub = segments.add_subparsers(dest="segments_command", required=True, metavar="ACTION")
    segments_sub.add_parser(
        "recompute",
        parents=[common],
        help="compute every customer's value tier, lifecycle stage and segment now",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(getattr(args, "config", None))
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            from switchboard.serve import serve

            return serve(settings, host=args.host, port=args.port)
        try:
            return asyncio.run(_run(args, settings))
        except (OSError, OperationalError, InterfaceError) as exc:
            # The database cannot be reached or opened: say so in one line, no traceback.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"switchboard: cannot use the database: {reason}", file=sys.stderr)
            return 1
    except SwitchboardError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from switchboard import commands

    if args.command == "db":
        return await commands.db(settings, args.db_command)
    if args.command == "demo":
        return await commands.demo(settings)
    if args.command == "agent":
        password = _read_password(args.password_stdin)
        return await commands.agent_add(
            settings,
            args.email,
            args.name,
            args.role,
            password,
            phone=args.phone,
            voice_client=args.voice_client,
            teams=[t.strip().lower() for t in args.team],
            skills=[k.strip().lower() for k in args.skill],
            capacity=_capacity(args.capacity) if args.capacity else None,
        )
    if args.command == "telegram":
        return await commands.telegram_set_webhook(settings)
    if args.command == "kb" and args.kb_command == "import":
        return await commands.kb_import(settings, args.file, args.status)
    if args.command == "kb" and args.kb_command == "export":
        return await commands.kb_export(settings, args.file, args.format, args.status or [])
    if args.command == "kb" and args.kb_command == "search":
        if not 1 <= args.limit <= 100:
            raise SwitchboardError("--limit must be 1..100")
        return await commands.kb_search(
            settings, args.question, as_json=args.json, limit=args.limit
        )
    if args.command == "customer" and args.customer_command == "export":
        return await commands.customer_export(settings, args.id, args.file)
    if args.command == "customer" and args.customer_command == "erase":
        return await commands.customer_erase(settings, args.id, args.reason)
    if args.command == "customer" and args.customer_command == "import":
        return await commands.customer_import(settings, args.file)
    if args.command == "customer" and args.customer_command == "export-csv":
        return await commands.customer_export_csv(settings, args.file)
    if args.command == "retention":
        return await commands.retention_run(settings, dry_run=args.dry_run)
    if args.command == "segments":
        return await commands.segments_recompute(settings)
    raise SwitchboardError(f"unknown command {args.command}")  # pragma: no cover - argparse checks


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            raise SwitchboardError("the passwords differ")
    if len(password) < 8:
        raise SwitchboardError("the password must have at least 8 characters")
    return password


def _capacity(text: str) -> dict[str, int]:
    """``chat=3,message=5,call=1`` → {"chat": 3, …}."""
    kinds = ("chat", "message", "call")
    result: dict[str, int] = {}
    for part in text.split(","):
        kind, sep, number = part.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in kinds or not number.strip().isdigit():
            raise SwitchboardError(
                f"--capacity: {part.strip()!r}: write kind=number with kinds {', '.join(kinds)}"
            )
        result[kind] = int(number)
    return result


if __name__ == "__main__":
    sys.exit(main())
