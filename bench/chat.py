#!/usr/bin/env python3
"""Web-chat load benchmark: N concurrent customers asking FAQ questions over /chat/ws.

Starts a real Switchboard (``switchboard serve``) on a fresh database prepared by
``switchboard db upgrade`` and ``switchboard demo``, connects N customers (half English, half
Thai), lets each ask demo-KB questions one at a time (send, wait for the ``ack`` and the bot's
``message``), and measures answered questions per second and answer latency (send -> bot
message). Then it drives a bare aiohttp WebSocket echo server the same way as a baseline and
prints both, with the ratios.

Everything listens on 127.0.0.1 only, every wait has a timeout, and the servers are stopped
(and a PostgreSQL throwaway database dropped) on the way out.

    .venv/bin/python bench/chat.py                      # SQLite, 200 customers x 5 questions
    .venv/bin/python bench/chat.py --customers 50 --messages 10
    .venv/bin/python bench/chat.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
VENV = ROOT / ".venv"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # a server must answer /healthz within this
CLI_TIMEOUT = 60.0  # switchboard db upgrade / demo
STOP_TIMEOUT = 10.0
CONNECT_TIMEOUT = 15.0  # per customer: TCP + WebSocket handshake + hello/welcome
CONNECT_PARALLEL = 50  # at most this many handshakes at once (listen backlog is 128)
LOCALES = ("en", "th")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark Switchboard's web chat against a bare aiohttp WebSocket echo server.",
        epilog="Progress goes to stderr, the result table to stdout. Exit status 0 when every "
        "question was answered, 1 when some were not (the table is printed anyway).",
    )
    p.add_argument("--customers", type=int, default=200, help="concurrent customers (default 200)")
    p.add_argument("--messages", type=int, default=5, help="questions per customer (default 5)")
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="run against PostgreSQL: postgresql+asyncpg://USER@127.0.0.1[:PORT]/DBNAME. DBNAME is "
        "only used to connect; a throwaway database switchboard_bench_<random> is created on "
        "that server and dropped afterwards. Default: a fresh SQLite file in a temp directory.",
    )
    p.add_argument(
        "--answer-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="give up on a customer whose answer takes longer than this (default 20 s)",
    )
    p.add_argument(
        "--phase-timeout",
        type=float,
        default=75.0,
        metavar="S",
        help="hard limit for each server's whole question phase (default 75 s)",
    )
    p.add_argument(
        "--receipts",
        action="store_true",
        help="also send a 'delivered' receipt after each answer, as the real widget does "
        "(not timed; adds a database write per answer on Switchboard)",
    )
    p.add_argument(
        "--baseline-rounds",
        type=int,
        default=3,
        metavar="N",
        help="drive the echo baseline N times (same customers and questions) and report the "
        "median round by throughput: one round lasts well under a second, so one alone is "
        "noisy (default 3)",
    )
    p.add_argument(
        "--skip-baseline", action="store_true", help="only run the Switchboard measurement"
    )
    p.add_argument(
        "--profile",
        metavar="FILE",
        type=Path,
        help="run the Switchboard server under cProfile and write its stats to FILE "
        "(slows it down; read with python -m pstats FILE)",
    )
    p.add_argument("--seed", type=int, default=1, help="question choice seed (default 1)")
    p.add_argument("--echo-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.customers < 1 or args.messages < 1:
        p.error("--customers and --messages must be at least 1")
    if args.database_url and not args.database_url.startswith("postgresql+asyncpg://"):
        p.error("--database-url must be postgresql+asyncpg://... (SQLite is the default)")
    return args


def ensure_venv() -> None:
    """Re-run under the project's venv when started by a Python without its packages."""
    try:
        import aiohttp  # noqa: F401

        import knowledge_base  # noqa: F401
    except ImportError:
        python = VENV / "bin" / "python"
        if python.exists() and Path(sys.prefix) != VENV and not os.environ.get("_BENCH_REEXEC"):
            os.environ["_BENCH_REEXEC"] = "1"
            os.execv(python, [str(python), str(SCRIPT), *sys.argv[1:]])
        sys.exit(f"bench: needs the project's packages; run `make` first or use {python}")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---- questions -----------------------------------------------------------------------------


def demo_questions() -> dict[str, list[str]]:
    """The demo KB's question phrasings per locale, minus those the bot treats as small talk or
    a request for a human (those hand the conversation to the queue, where the bot stops
    answering, so they would measure the queue, not the bot)."""
    from bot import smalltalk
    from knowledge_base.importer import read_articles

    pool: dict[str, list[str]] = {loc: [] for loc in LOCALES}
    skipped: list[str] = []
    for article in read_articles(ROOT / "config" / "demo_kb.yaml"):
        if article["locale"] not in pool:
            continue
        for q in article["questions"]:
            if smalltalk.classify(q) is None:
                pool[article["locale"]].append(q)
            else:
                skipped.append(f"{q!r} ({article['id']}, {smalltalk.classify(q).value})")
    say(
        "questions from config/demo_kb.yaml: "
        + ", ".join(f"{len(v)} {k}" for k, v in pool.items())
        + (f"; left out {len(skipped)} that the bot does not answer: " if skipped else "")
        + "; ".join(skipped)
    )
    return pool


def plan(customers: int, messages: int, seed: int) -> list[tuple[str, list[str]]]:
    """Each customer's locale (alternating en / th) and questions (deterministic)."""
    pool = demo_questions()
    rng = random.Random(seed)
    out = []
    for n in range(customers):
        locale = LOCALES[n % len(LOCALES)]
        qs = pool[locale]
        picked = rng.sample(qs, messages) if messages <= len(qs) else rng.choices(qs, k=messages)
        out.append((locale, picked))
    return out


# ---- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server subprocess with its output in a log file; stopped with SIGINT, then harder."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log_path = cwd / (re.sub(r"\W+", "-", name).strip("-") + ".log")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    async def wait_healthy(self, base: str, session: aiohttp.ClientSession) -> float:
        import aiohttp

        started = time.perf_counter()
        deadline = started + START_TIMEOUT
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(
                    f"{base}/healthz", timeout=aiohttp.ClientTimeout(total=2)
                ) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - started
            await asyncio.sleep(0.1)
        raise RuntimeError(
            f"{self.name} not healthy after {START_TIMEOUT:.0f} s:\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc; NaN elsewhere)."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                say(f"{self.name} ignored SIGINT for {STOP_TIMEOUT:.0f} s; killing it")
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self._log.close()


def switchboard_env(database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    # Inherited SWITCHBOARD_* variables (a Redis URL, another database) must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_CONFIG=str(ROOT / "config" / "switchboard.yaml"),
        SWITCHBOARD_DATABASE_URL=database_url,
        SWITCHBOARD_DATA_DIR=str(data_dir),
        SWITCHBOARD_HOST=HOST,
        SWITCHBOARD_PORT=str(port),
        SWITCHBOARD_LOG_LEVEL="WARNING",
        SWITCHBOARD_LOG_FORMAT="text",
        SWITCHBOARD_KB__DEMO_FILE=str(ROOT / "config" / "demo_kb.yaml"),
    )
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> None:
    cmd = [str(VENV / "bin" / "switchboard"), *args]
    try:
        done = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"`switchboard {' '.join(args)}` took over {CLI_TIMEOUT:.0f} s"
        ) from None
    if done.returncode != 0:
        raise RuntimeError(
            f"`switchboard {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A throwaway database on the server of ``admin_url``, dropped on exit."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = make_url(admin_url)
    if admin.host not in (None, "127.0.0.1", "localhost", "::1"):
        raise SystemExit("bench: --database-url must point at 127.0.0.1")
    if not admin.database:
        admin = admin.set(database="postgres")
    name = f"switchboard_bench_{uuid.uuid4().hex[:10]}"

    async def execute(sql: str) -> None:
        engine = create_async_engine(
            admin.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )
        try:
            async with asyncio.timeout(30), engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    say(f"created PostgreSQL database {name}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        say(f"dropped PostgreSQL database {name}")


# ---- the baseline: a bare aiohttp WebSocket echo server -------------------------------------


def run_echo_server(port: int) -> None:
    """Speaks just enough of the chat protocol: welcome on hello; ack, typing and an echoed
    ``message`` for each message. No database, no bot."""
    from aiohttp import WSMsgType, web

    async def socket_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=65536)
        await ws.prepare(request)
        next_id = 0
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            kind = frame.get("type")
            if kind == "hello":
                visitor = frame.get("visitor_id") or secrets.token_urlsafe(24)
                await ws.send_json(
                    {"type": "welcome", "visitor_id": visitor, "conversation": None, "history": []}
                )
            elif kind == "message":
                now = datetime.now(UTC).isoformat()
                next_id += 2
                base = {"author_name": None, "created_at": now, "suggestions": []}
                mine = {**base, "id": next_id - 1, "author": "customer", "text": frame["text"]}
                mine.update(state="sent", client_id=frame["client_id"])
                await ws.send_json(
                    {"type": "ack", "client_id": frame["client_id"], "message": mine}
                )
                await ws.send_json({"type": "typing", "author": "bot", "on": True})
                echo = {**base, "id": next_id, "author": "bot", "text": frame["text"]}
                echo.update(state="sent", client_id=None)
                await ws.send_json({"type": "message", "message": echo})
            elif kind == "ping":
                await ws.send_json({"type": "pong"})
        return ws

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/chat/ws", socket_handler)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


# ---- the load ------------------------------------------------------------------------------


@dataclass
class Result:
    server: str
    customers: int
    asked: int = 0
    answered: int = 0  # bot replies
    other_replies: int = 0  # system notices (escalation)
    latencies: list[float] = field(default_factory=list)  # send -> bot message, seconds
    ack_latencies: list[float] = field(default_factory=list)  # send -> ack
    failures: list[str] = field(default_factory=list)
    connect_seconds: float = 0.0
    seconds: float = 0.0  # the question phase, first send to last answer
    server_cpu: float = math.nan  # CPU seconds the server used in the question phase
    client_cpu: float = 0.0  # CPU seconds this (client) process used in the question phase

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


class Progress:
    """A stderr line each time another 20 % of the customers is done."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.step = label, total, 0, 0
        self.started = time.perf_counter()

    def customer_done(self) -> None:
        self.done += 1
        step = self.done * 5 // self.total
        if step > self.step:
            self.step = step
            say(
                f"{self.label}: {self.done}/{self.total} customers done ({step * 20}%) "
                f"after {time.perf_counter() - self.started:.1f} s"
            )


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    from aiohttp import WSMsgType

    msg = await ws.receive()
    if msg.type is not WSMsgType.TEXT:
        raise ConnectionError(f"socket ended: {msg.type.name} {msg.data!r}")
    return json.loads(msg.data)


async def connect(
    session: aiohttp.ClientSession, url: str, locale: str, gate: asyncio.Semaphore
) -> aiohttp.ClientWebSocketResponse:
    async with gate, asyncio.timeout(CONNECT_TIMEOUT):
        ws = await session.ws_connect(url, autoping=True, max_msg_size=1 << 20)
        try:
            await ws.send_json({"type": "hello", "locale": locale})
            while (await receive_json(ws))["type"] != "welcome":
                pass
        except BaseException:
            await ws.close()
            raise
        return ws


async def ask_all(
    ws: aiohttp.ClientWebSocketResponse,
    questions: list[str],
    result: Result,
    answer_timeout: float,
    receipts: bool,
) -> None:
    for text in questions:
        client_id = uuid.uuid4().hex
        sent = time.perf_counter()
        await ws.send_str(json.dumps({"type": "message", "client_id": client_id, "text": text}))
        result.asked += 1
        acked = replied = None
        reply: dict[str, Any] = {}
        async with asyncio.timeout(answer_timeout):
            # The bot's message comes from the outbox worker on its own task: do not assume it
            # arrives after the ack.
            while acked is None or replied is None:
                frame = await receive_json(ws)
                kind = frame.get("type")
                if kind == "ack" and frame.get("client_id") == client_id:
                    acked = time.perf_counter()
                elif kind == "message" and frame["message"]["author"] in ("bot", "system"):
                    replied = time.perf_counter()
                    reply = frame["message"]
                elif kind == "error":
                    raise RuntimeError(f"error frame: {frame}")
        result.ack_latencies.append(acked - sent)
        if reply["author"] == "bot":
            result.answered += 1
            result.latencies.append(replied - sent)
        else:
            result.other_replies += 1
            raise RuntimeError(f"not a bot answer to {text!r}: {reply['text'][:80]!r}")
        if receipts:
            await ws.send_json({"type": "delivered", "ids": [reply["id"]]})


async def drive(
    server: Server,
    base: str,
    work: list[tuple[str, list[str]]],
    session: aiohttp.ClientSession,
    args: argparse.Namespace,
) -> Result:
    label = server.name
    url = base.replace("http://", "ws://") + "/chat/ws"
    result = Result(label, len(work))
    gate = asyncio.Semaphore(CONNECT_PARALLEL)
    say(f"{label}: connecting {len(work)} customers")
    started = time.perf_counter()
    sockets = await asyncio.gather(
        *(connect(session, url, locale, gate) for locale, _ in work), return_exceptions=True
    )
    result.connect_seconds = time.perf_counter() - started
    open_ = [ws for ws in sockets if not isinstance(ws, BaseException)]
    for ws in sockets:
        if isinstance(ws, BaseException):
            result.failures.append(f"connect: {type(ws).__name__}: {ws}")
    say(
        f"{label}: {len(open_)}/{len(work)} customers greeted in {result.connect_seconds:.1f} s; "
        f"asking {sum(len(q) for _, q in work)} questions"
    )
    progress = Progress(label, len(work))

    async def customer(ws: Any, questions: list[str]) -> None:
        try:
            if isinstance(ws, BaseException):
                return
            await ask_all(ws, questions, result, args.answer_timeout, args.receipts)
        except TimeoutError:
            result.failures.append(f"no answer within {args.answer_timeout:.0f} s")
        except Exception as exc:
            result.failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            progress.customer_done()

    started, server_cpu, client_cpu = (
        time.perf_counter(),
        server.cpu_seconds(),
        time.process_time(),
    )
    tasks = [
        asyncio.create_task(customer(ws, qs)) for ws, (_, qs) in zip(sockets, work, strict=True)
    ]
    try:
        async with asyncio.timeout(args.phase_timeout):
            await asyncio.gather(*tasks)
    except TimeoutError:
        result.failures.append(f"question phase cut off after {args.phase_timeout:.0f} s")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    result.seconds = time.perf_counter() - started
    result.server_cpu = server.cpu_seconds() - server_cpu
    result.client_cpu = time.process_time() - client_cpu
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await asyncio.gather(*(ws.close() for ws in open_), return_exceptions=True)
    say(
        f"{label}: {result.answered}/{result.asked} answered in {result.seconds:.1f} s, "
        f"{len(result.failures)} failure(s)"
    )
    return result


# ---- server-side evidence ------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-z_]+)(?:\{([^}]*)\})? ([0-9.e+-]+|NaN|\+Inf)$")


def parse_metrics(text: str) -> dict[tuple[str, str], float]:
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def _sent(metrics: dict[tuple[str, str], float]) -> float:
    return sum(
        v
        for (metric, labels), v in metrics.items()
        if metric == "switchboard_outbox_deliveries_total" and 'result="sent"' in labels
    )


def histogram_summary(metrics: dict[tuple[str, str], float], name: str) -> str:
    count = metrics.get((f"{name}_count", ""), 0.0)
    if not count:
        return "no samples"
    mean = metrics[(f"{name}_sum", "")] / count
    buckets = sorted(
        (float(labels.split('"')[1]), value)
        for (metric, labels), value in metrics.items()
        if metric == f"{name}_bucket" and "+Inf" not in labels
    )

    def upper(q: float) -> str:
        for le, cumulative in buckets:
            if cumulative >= q * count:
                return f"<= {le * 1000:g} ms"
        return f"> {buckets[-1][0] * 1000:g} ms"

    return f"n={count:.0f}, mean {mean * 1000:.1f} ms, p50 {upper(0.5)}, p99 {upper(0.99)}"


async def server_evidence(base: str, session: aiohttp.ClientSession, answered: int) -> list[str]:
    import aiohttp

    # The outbox records a delivery just after publishing it: give the last batch a moment.
    for _ in range(10):
        try:
            async with session.get(f"{base}/metrics", timeout=aiohttp.ClientTimeout(total=10)) as r:
                metrics = parse_metrics(await r.text())
        except (aiohttp.ClientError, TimeoutError) as exc:
            return [f"/metrics unavailable: {exc}"]
        if _sent(metrics) >= answered:
            break
        await asyncio.sleep(0.5)
    outcomes = {
        labels.split('"')[1]: value
        for (metric, labels), value in metrics.items()
        if metric == "switchboard_bot_outcomes_total"
    }
    sent = _sent(metrics)
    return [
        "store + decide (router.handle_inbound, server-side): "
        + histogram_summary(metrics, "switchboard_inbound_seconds"),
        "bot outcomes: "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(outcomes.items()))
        + f"; outbox deliveries sent: {sent:.0f}",
    ]


# ---- main ----------------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def report(results: list[Result], args: argparse.Namespace, backend: str, extra: list[str]) -> None:
    cores = os.cpu_count()
    print()
    print(
        f"Web chat: {args.customers} customers x {args.messages} questions, one at a time "
        f"({backend}; client and servers share this {cores}-core machine)"
    )
    header = (
        f"{'server':<24} {'msgs/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'answered':>10} {'ack p50':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.server:<24} {fmt(r.rate):>9} {fmt(percentile(r.latencies, 50) * 1000):>9} "
            f"{fmt(percentile(r.latencies, 99) * 1000):>9} {f'{r.answered}/{r.asked}':>10} "
            f"{fmt(percentile(r.ack_latencies, 50) * 1000):>8}"
        )
    if len(results) == 2 and results[1].rate and results[1].latencies:
        sb, base = results
        print(
            f"{'switchboard / baseline':<24} {fmt(sb.rate / base.rate, 3) + 'x':>9} "
            f"{fmt(percentile(sb.latencies, 50) / percentile(base.latencies, 50), 1) + 'x':>9} "
            f"{fmt(percentile(sb.latencies, 99) / percentile(base.latencies, 99), 1) + 'x':>9}"
        )
    print(
        "msgs/s = answered questions per second of the question phase; p50/p99 = send -> bot "
        "message; ack p50 = send -> ack (message stored)."
    )
    for r in results:
        print(
            f"{r.server}: greeting {r.customers} customers took {r.connect_seconds:.2f} s; "
            f"question phase {r.seconds:.2f} s, server CPU {fmt(r.server_cpu, 2)} s "
            f"({fmt(100 * r.server_cpu / r.seconds, 0)}% of one core, "
            f"{fmt(1000 * r.server_cpu / max(r.answered, 1), 2)} ms per answer), "
            f"client CPU {r.client_cpu:.2f} s ({100 * r.client_cpu / r.seconds:.0f}%)"
        )
    for line in extra:
        print(line)
    for r in results:
        if r.failures:
            print(f"{r.server}: {len(r.failures)} failure(s), first: {r.failures[0]}")


async def measure(args: argparse.Namespace, database_url: str, tmp: Path) -> int:
    import aiohttp

    work = plan(args.customers, args.messages, args.seed)
    results: list[Result] = []
    every_run: list[Result] = []  # results plus the baseline rounds not shown
    extra: list[str] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        port = free_port()
        env = switchboard_env(database_url, tmp, port)
        say("switchboard db upgrade && switchboard demo")
        run_cli(["db", "upgrade"], env, tmp)
        run_cli(["demo"], env, tmp)
        cmd = [str(VENV / "bin" / "switchboard"), "serve"]
        if args.profile:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(args.profile.resolve()), *cmd]
        server = Server("switchboard", cmd, env, tmp)
        try:
            base = f"http://{HOST}:{port}"
            ready = await server.wait_healthy(base, session)
            say(f"switchboard healthy on {base} after {ready:.1f} s")
            results.append(await drive(server, base, work, session, args))
            extra += await server_evidence(base, session, results[-1].answered)
        finally:
            server.stop()
        warnings = [line for line in server.log_lines() if line.startswith(("warning", "error"))]
        if warnings:
            extra.append(
                f"switchboard logged {len(warnings)} warning/error line(s), first: {warnings[0]}"
            )

        if not args.skip_baseline:
            port = free_port()
            echo = Server(
                "aiohttp echo (baseline)",
                [sys.executable, str(SCRIPT), "--echo-server", str(port)],
                {**os.environ},
                tmp,
            )
            try:
                base = f"http://{HOST}:{port}"
                ready = await echo.wait_healthy(base, session)
                say(f"echo baseline healthy on {base} after {ready:.1f} s")
                rounds = [
                    await drive(echo, base, work, session, args)
                    for _ in range(max(args.baseline_rounds, 1))
                ]
            finally:
                echo.stop()
            every_run += rounds
            extra += [f"baseline round: {r.failures[0]}" for r in rounds if r.failures]
            rounds.sort(key=lambda r: r.rate)
            results.append(rounds[len(rounds) // 2])
            if len(rounds) > 1:
                extra.append(
                    f"baseline rounds, msgs/s: {', '.join(f'{r.rate:,.0f}' for r in rounds)} "
                    "(the median round is in the table)"
                )
    backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    report(results, args, backend, extra)
    every_run += results[:1]
    return 0 if all(not r.failures and r.answered == r.asked for r in every_run) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.echo_server:
        run_echo_server(args.echo_server)
        return 0
    ensure_venv()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as folder:
        tmp = Path(folder)
        with contextlib.ExitStack() as stack:
            if args.database_url:
                url = stack.enter_context(postgres_database(args.database_url))
            else:
                url = f"sqlite+aiosqlite:///{tmp / 'switchboard.db'}"
            status = asyncio.run(measure(args, url, tmp))
    say(f"done in {time.perf_counter() - started:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
