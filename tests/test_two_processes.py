"""Two real ``switchboard serve`` processes on one PostgreSQL database and one Redis, on two
ports, the way two instances run behind a load balancer: what one process does is seen live on
the other; racing claims through both never give a conversation to two agents, and
automatic-assignment passes running in both at once never do either, nor fill an agent past
capacity.

The schema and the agents are set up with the CLI; both servers are started once for the module
and always stopped (SIGTERM, then SIGKILL) at the end. A failing test carries both servers' logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from routing.assignment import DEFAULT_CAPACITY, ChannelKind
from routing.desk import channel_kind
from storage.db import Database
from tests import databases
from tests.conftest import PASSWORD
from tests.fakes.server import free_port
from tests.helpers import WAIT, ChatClient

# Seven Python processes start before the first test (two servers and the CLI), which on a
# loaded machine takes longer than the suite's default timeout allows.
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_TIMEOUT = 60.0  # for a server to answer /healthz
STOP_TIMEOUT = 15.0  # after SIGTERM, before SIGKILL
CLI_TIMEOUT = 60.0
LOG_TAIL = 150  # lines of each server's log attached to a failure

# The documented command, the console script installed next to this interpreter.
_SCRIPT = Path(sys.executable).with_name("switchboard")
SWITCHBOARD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "switchboard.cli"]

# general is manual: automatic assignment would pre-empt the manual claims tested there, so no
# other test's message may say "express". express is automatic, for the automatic-assignment
# race; a sweep every second picks up anything a wake-up missed, so the queue settles quickly.
WORKSPACE_YAML = """\
default_team: general
teams:
  general: {assignment: manual}
  express: {assignment: auto}
rules:
  - team: express
    keywords: [express]
assignment:
  sweep_seconds: 1
"""

# Redis pub/sub channels are global (the hub's prefix is fixed), so another Switchboard on the
# same Redis (another test run) can publish into ours: events are matched on names unique to
# this module, never on small ids alone.
RUN = uuid.uuid4().hex[:6]
AGENTS = [("alpha", "A"), ("bravo", "B"), ("charlie", "A"), ("delta", "B")]  # name, home process
# Only in the express team, with room for two chats each.
AUTO_AGENTS = [("auto1", "A"), ("auto2", "B")]
AUTO_CAPACITY = 2


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def _unavailable(message: str) -> None:
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _admin_sql(sql: str) -> None:
    async def go() -> None:
        db = Database(databases.pg_admin_url())
        try:
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(sql))
        finally:
            await db.dispose()

    databases.run(go)


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(content[-lines:]) or "(empty)"


@dataclasses.dataclass
class Server:
    name: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclasses.dataclass
class Cluster:
    servers: dict[str, Server]
    dsn: str  # for asyncpg, straight to the shared database

    def logs(self) -> str:
        parts = []
        for server in self.servers.values():
            state = server.proc.poll()
            status = "running" if state is None else f"exited with {state}"
            parts.append(
                f"--- process {server.name} on :{server.port} ({status}), last lines of "
                f"{server.log} ---\n{_tail(server.log)}"
            )
        return "\n".join(parts)

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """Attach both servers' logs to whatever fails inside."""
        try:
            yield
        except Exception as exc:
            exc.add_note(self.logs())
            raise


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SWITCHBOARD, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], stdin: str | None = None) -> None:
    """Wait for a CLI command; it must succeed."""
    try:
        out, err = proc.communicate(stdin, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args!r} hung:\n{out!s}\n{err!s}") from None
    assert proc.returncode == 0, f"{proc.args!r} exited {proc.returncode}:\n{out!s}\n{err!s}"


def _die_with_us() -> None:
    """Linux: a server gets SIGTERM when the test run is killed before its teardown."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    problem = "no answer yet"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(
                f"process {server.name} exited with {server.proc.returncode} before answering "
                f"/healthz:\n{_tail(server.log)}"
            )
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
                problem = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}: {exc.read()[:200]!r}"
        except OSError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    pytest.fail(
        f"process {server.name} did not answer /healthz with 200 within {START_TIMEOUT}s "
        f"({problem}):\n{_tail(server.log)}"
    )


def _stop(servers: list[Server]) -> None:
    """SIGTERM to all, then SIGKILL whatever has not stopped within the bound."""
    running = [s for s in servers if s.proc.poll() is None]
    for server in running:
        server.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for server in running:
        try:
            server.proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(STOP_TIMEOUT)


# Session-scoped: a worker starts one pair of servers however it interleaves these tests with
# others (under xdist each worker that runs some of them starts its own pair: own database,
# own Redis channel).
@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    problem = databases.postgres_available()
    if problem:
        _unavailable(f"PostgreSQL at {databases.pg_admin_url()} is not reachable: {problem}")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except Exception as exc:
        _unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
    finally:
        client.close()

    tmp = tmp_path_factory.mktemp("two_processes")
    name = f"switchboard_two_proc_{os.getpid()}"
    admin = make_url(databases.pg_admin_url())
    url = admin.set(database=name).render_as_string(hide_password=False)
    dsn = admin.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    workspace = tmp / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_DATABASE_URL=url,
        SWITCHBOARD_REDIS_URL=REDIS_URL,
        SWITCHBOARD_REDIS_CHANNEL=name,  # this pair only: other runs may share the Redis
        SWITCHBOARD_DATA_DIR=str(tmp),
        SWITCHBOARD_WORKSPACE_FILE=str(workspace),
        SWITCHBOARD_LOG_FORMAT="text",
        SWITCHBOARD_OUTBOX__POLL_SECONDS="0.05",
        SWITCHBOARD_OUTBOX__BACKOFF_SECONDS="0.05",
        SWITCHBOARD_OUTBOX__BACKOFF_MAX_SECONDS="0.2",
        PYTHONUNBUFFERED="1",
    )

    _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin_sql(f'CREATE DATABASE "{name}"')
    servers: dict[str, Server] = {}
    adding: list[subprocess.Popen[str]] = []
    try:
        _finish(_cli(env, "db", "upgrade"))
        # The servers need the schema, not the agents: add those while the servers start.
        adding += [
            _cli(env, "agent", "add", "--email", f"{agent}@example.com", "--name", _name(agent))
            for agent, _ in AGENTS
        ]
        adding += [
            _cli(
                env,
                *("agent", "add", "--email", f"{agent}@example.com", "--name", _name(agent)),
                *("--team", "express", "--capacity", f"chat={AUTO_CAPACITY}"),
            )
            for agent, _ in AUTO_AGENTS
        ]
        for server_name in ("A", "B"):
            port = free_port()
            log = tmp / f"server_{server_name}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [*SWITCHBOARD, "serve", "--port", str(port)],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_us,
                )
            servers[server_name] = Server(server_name, port, log, proc)
        for cli in adding:
            _finish(cli, PASSWORD + "\n")
        for server in servers.values():
            _wait_healthy(server)
        yield Cluster(servers, dsn)
    finally:
        for cli in adding:
            if cli.poll() is None:
                cli.kill()
                cli.communicate()
        _stop(list(servers.values()))
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _name(agent: str) -> str:
    return f"{agent.title()} {RUN}"


@dataclasses.dataclass
class LoggedIn:
    key: str
    id: int
    name: str
    token: str
    home: str  # the process it logged in through

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def sessions(cluster: Cluster) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    timeout = aiohttp.ClientTimeout(total=WAIT * 3)
    opened = {
        name: aiohttp.ClientSession(base_url=server.url, timeout=timeout)
        for name, server in cluster.servers.items()
    }
    try:
        yield opened
    finally:
        for session in opened.values():
            await session.close()


async def _login(session: aiohttp.ClientSession, agent: str, home: str) -> LoggedIn:
    async with session.post(
        "/api/v1/auth/login",
        json={"email": f"{agent}@example.com", "password": PASSWORD, "client": "console"},
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, (resp.status, body)
    assert body["agent"]["name"] == _name(agent), body
    return LoggedIn(agent, body["agent"]["id"], body["agent"]["name"], body["token"], home)


async def _call(
    session: aiohttp.ClientSession, method: str, path: str, agent: LoggedIn, **kwargs: Any
) -> tuple[int, str, Any]:
    """(status, content type, JSON body) without judging the status."""
    async with session.request(method, path, headers=agent.headers, **kwargs) as resp:
        raw = await resp.text()
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = raw
        return resp.status, resp.content_type, body


async def _fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def _conversation_of(dsn: str, touchpoint_id: int) -> int:
    rows = await _fetch(dsn, "SELECT conversation_id FROM touchpoints WHERE id = $1", touchpoint_id)
    assert len(rows) == 1 and rows[0]["conversation_id"] is not None, (touchpoint_id, rows)
    return int(rows[0]["conversation_id"])


async def _escalate(session: aiohttp.ClientSession, dsn: str) -> tuple[ChatClient, int]:
    """A web-chat customer asks for a person; returns the open chat and its conversation."""
    customer = ChatClient(session)  # type: ignore[arg-type]  # a ClientSession with base_url
    await customer.connect()
    ack = await customer.say("I need a human")
    await customer.reply()  # told they are waiting for an agent
    return customer, await _conversation_of(dsn, ack["message"]["id"])


async def _console_event(
    ws: aiohttp.ClientWebSocketResponse, matches: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(WAIT):
            while True:
                msg = await ws.receive()
                assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, seen)
                frame = json.loads(msg.data)
                if matches(frame):
                    return frame
                seen.append(frame)
    except TimeoutError:
        raise AssertionError(f"the console never got the event; it got {seen}") from None


async def test_claim_on_one_process_is_live_on_the_other(
    cluster: Cluster, sessions: dict[str, aiohttp.ClientSession]
) -> None:
    a, b = sessions["A"], sessions["B"]
    with cluster.explained():
        watcher = await _login(a, "alpha", "A")
        claimer = await _login(b, "bravo", "B")
        console = await a.ws_connect("/api/v1/ws")
        customer: ChatClient | None = None
        try:
            await console.send_json({"type": "auth", "token": watcher.token})
            ready = await console.receive_json(timeout=WAIT)
            assert ready["type"] == "ready", ready

            customer, conversation_id = await _escalate(a, cluster.dsn)
            rows = await _fetch(
                cluster.dsn,
                "SELECT status, assignee_id FROM conversations WHERE id = $1",
                conversation_id,
            )
            assert [tuple(r) for r in rows] == [("queued", None)], (
                f"conversation {conversation_id} should wait for a manual claim: {rows} "
                "(was the manual workspace taken?)"
            )

            status, _, body = await _call(
                b, "POST", f"/api/v1/conversations/{conversation_id}/claim", claimer
            )
            assert status == 200, body
            assert body["assignee"] == {"id": claimer.id, "name": claimer.name}, body

            frame = await _console_event(
                console,
                lambda f: (
                    f.get("type") == "message"
                    and f.get("conversation_id") == conversation_id
                    and f["message"]["kind"] == "claim"
                    and f["message"]["author_name"] == claimer.name
                ),
            )
            assert frame["message"]["agent_id"] == claimer.id, frame

            words = f"Hello from process B ({RUN})"
            status, _, body = await _call(
                b,
                "POST",
                f"/api/v1/conversations/{conversation_id}/messages",
                claimer,
                json={"text": words},
            )
            assert status == 201, body
            reply = await customer.reply(lambda m: m["author"] == "agent")
            assert reply["text"] == words, reply
            assert reply["author_name"] == claimer.name, reply

            # Process A serves the conversation as process B left it.
            status, _, body = await _call(
                a, "GET", f"/api/v1/conversations/{conversation_id}", watcher
            )
            assert status == 200, body
            assert body["status"] == "assigned", body
            assert body["assignee"]["id"] == claimer.id, body
        finally:
            if customer is not None:
                await customer.close()
            await console.close()


CONVERSATIONS = 10
QUEUE_CLAIMS = 12  # more "take the next one" requests than there is work


async def test_racing_claims_through_both_processes_never_double_assign(
    cluster: Cluster, sessions: dict[str, aiohttp.ClientSession]
) -> None:
    with cluster.explained():
        agents = await asyncio.gather(*(_login(sessions[home], key, home) for key, home in AGENTS))
        by_id = {agent.id: agent for agent in agents}

        # Nothing from an earlier test may be waiting: the race is over these conversations only.
        for row in await _fetch(
            cluster.dsn, "SELECT id FROM conversations WHERE status = 'queued'"
        ):
            await _call(
                sessions["A"], "POST", f"/api/v1/conversations/{row['id']}/claim", agents[0]
            )

        escalated = await asyncio.gather(
            *(_escalate(sessions["AB"[i % 2]], cluster.dsn) for i in range(CONVERSATIONS))
        )
        customers = [c for c, _ in escalated]
        try:
            waiting = sorted({cid for _, cid in escalated})
            assert len(waiting) == CONVERSATIONS, escalated
            rows = await _fetch(
                cluster.dsn,
                "SELECT id, status, assignee_id FROM conversations WHERE status = 'queued'",
            )
            assert sorted(r["id"] for r in rows) == waiting, rows
            assert all(r["assignee_id"] is None for r in rows), rows

            # Every conversation is claimed by id through both processes by two different
            # agents, while more queue claims than there is work go through both too.
            attempts: list[tuple[str, int | None, LoggedIn]] = []
            for n, cid in enumerate(waiting):
                attempts.append(("A", cid, agents[n % 4]))
                attempts.append(("B", cid, agents[(n + 1) % 4]))
            for n in range(QUEUE_CLAIMS):
                attempts.append(("AB"[n % 2], None, agents[(n + 2) % 4]))
            random.Random(RUN).shuffle(attempts)

            async def attempt(port: str, cid: int | None, agent: LoggedIn) -> Any:
                path = (
                    "/api/v1/queue/claim" if cid is None else f"/api/v1/conversations/{cid}/claim"
                )
                return (port, cid, agent, *(await _call(sessions[port], "POST", path, agent)))

            results = await asyncio.gather(*(attempt(*a) for a in attempts))
            report = "\n".join(
                f"{port} {'queue' if cid is None else cid} {agent.key}: {status} {body}"
                for port, cid, agent, status, _, body in results
            )

            winners: dict[int, list[int]] = {}
            for port, cid, agent, status, content_type, body in results:
                if status == 200:
                    assert body["status"] == "assigned", (port, cid, body)
                    assert body["assignee"]["id"] == agent.id, (port, cid, agent.key, body)
                    assert cid is None or body["id"] == cid, (port, cid, body)
                    winners.setdefault(body["id"], []).append(agent.id)
                else:
                    assert status == 409, f"{port} {cid} {agent.key}: {status} {body}\n{report}"
                    assert content_type == "application/json", (status, content_type, body)
                    expected = "queue_empty" if cid is None else "already_claimed"
                    assert body["error"]["code"] == expected, (port, cid, body)
                    assert isinstance(body["error"]["message"], str) and body["error"]["message"]

            doubles = {cid: ids for cid, ids in winners.items() if len(ids) != 1}
            assert not doubles, f"claimed more than once: {doubles}\n{report}"
            assert sorted(winners) == waiting, f"claims {sorted(winners)}\n{report}"

            # The database agrees: one assignee each, the winner, and one claim touchpoint each.
            rows = await _fetch(
                cluster.dsn,
                "SELECT id, status, assignee_id FROM conversations WHERE id = ANY($1::bigint[])",
                waiting,
            )
            assert len(rows) == CONVERSATIONS, rows
            for row in rows:
                assert row["status"] == "assigned", row
                assert [row["assignee_id"]] == winners[row["id"]], (row, winners[row["id"]])
            claims = await _fetch(
                cluster.dsn,
                "SELECT conversation_id, agent_id, author_kind FROM touchpoints "
                "WHERE kind = 'claim' AND conversation_id = ANY($1::bigint[]) ORDER BY id",
                waiting,
            )
            per_conversation: dict[int, list[int]] = {}
            for claim in claims:
                assert claim["author_kind"] == "agent", claim
                per_conversation.setdefault(claim["conversation_id"], []).append(claim["agent_id"])
            assert per_conversation == winners, f"claim touchpoints {per_conversation}\n{report}"

            # And each process answers with the same owner.
            for cid in waiting:
                for port in ("A", "B"):
                    status, _, body = await _call(
                        sessions[port], "GET", f"/api/v1/conversations/{cid}", agents[0]
                    )
                    assert status == 200, body
                    assert body["assignee"]["id"] == winners[cid][0], (port, body)
                    assert by_id[winners[cid][0]].name == body["assignee"]["name"], body
        finally:
            for customer in customers:
                await customer.close()


EXPRESS_CUSTOMERS = 6
EXPRESS_WORDS = "express delivery problem, I need a human"
SETTLE_QUIET = 3.0  # unchanged this long (three sweeps in each process): settled
SETTLE_BOUND = WAIT * 3


def _json(value: Any) -> Any:
    """asyncpg hands JSON columns over as text."""
    return json.loads(value) if isinstance(value, str) else value


async def _chat_loads(dsn: str) -> dict[int, int]:
    """Open (assigned) chat-kind conversations per agent."""
    rows = await _fetch(
        dsn,
        "SELECT assignee_id, channel, count(*) AS n FROM conversations "
        "WHERE status = 'assigned' AND assignee_id IS NOT NULL GROUP BY assignee_id, channel",
    )
    loads: dict[int, int] = {}
    for row in rows:
        if channel_kind(row["channel"]) is ChannelKind.CHAT:
            loads[row["assignee_id"]] = loads.get(row["assignee_id"], 0) + row["n"]
    return loads


async def _express_state(dsn: str, ids: list[int]) -> tuple[tuple[Any, ...], ...]:
    """(id, status, team, assignee, claim touchpoints as (agent, meta)) for each conversation."""
    convs = await _fetch(
        dsn,
        "SELECT id, status, team, assignee_id FROM conversations "
        "WHERE id = ANY($1::bigint[]) ORDER BY id",
        ids,
    )
    claims = await _fetch(
        dsn,
        "SELECT conversation_id, agent_id, author_kind, meta FROM touchpoints "
        "WHERE kind = 'claim' AND conversation_id = ANY($1::bigint[]) ORDER BY id",
        ids,
    )
    by_conv: dict[int, list[tuple[Any, ...]]] = {}
    for c in claims:
        by_conv.setdefault(c["conversation_id"], []).append(
            (c["agent_id"], c["author_kind"], _json(c["meta"]))
        )
    return tuple(
        (r["id"], r["status"], r["team"], r["assignee_id"], tuple(by_conv.get(r["id"], [])))
        for r in convs
    )


async def _settled(dsn: str, ids: list[int]) -> tuple[tuple[Any, ...], ...]:
    """The express conversations once every one has left the bot and none has changed for
    SETTLE_QUIET seconds (bounded)."""
    deadline = time.monotonic() + SETTLE_BOUND
    last: tuple[tuple[Any, ...], ...] | None = None
    since = time.monotonic()
    while True:
        state = await _express_state(dsn, ids)
        now = time.monotonic()
        if state != last:
            last, since = state, now
        elif now - since >= SETTLE_QUIET and all(s[1] in ("queued", "assigned") for s in state):
            return state
        if now > deadline:
            raise AssertionError(
                f"the express conversations did not settle within {SETTLE_BOUND}s: {state}"
            )
        await asyncio.sleep(0.1)


_AUTO_CLAIM = re.compile(r"\bclaimed conversation=(\d+) agent=(\d+) auto=True\b")


def _auto_claims(server: Server, ids: list[int]) -> list[tuple[int, int]]:
    """What the server's log says its assignment passes took (for the report, not the verdict:
    the line is written before the transaction commits)."""
    try:
        text = server.log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = [(int(c), int(a)) for c, a in _AUTO_CLAIM.findall(text)]
    return [(c, a) for c, a in found if c in ids]


async def test_automatic_assignment_in_both_processes_never_double_assigns_or_overfills(
    cluster: Cluster, sessions: dict[str, aiohttp.ClientSession]
) -> None:
    with cluster.explained():
        auto = await asyncio.gather(
            *(_login(sessions[home], key, home) for key, home in AUTO_AGENTS)
        )
        rows = await _fetch(
            cluster.dsn,
            "SELECT id, presence, teams, capacity FROM agents WHERE id = ANY($1::bigint[])",
            [a.id for a in auto],
        )
        for row in rows:
            assert row["presence"] == "online", row
            assert _json(row["teams"]) == ["express"], row
            assert _json(row["capacity"]) == {"chat": AUTO_CAPACITY}, row

        # Agents of earlier tests (in no team, so working every queue) may be online too and
        # may hold more chats than their capacity by manual claims, which have no limit.
        before = await _chat_loads(cluster.dsn)

        customers: list[ChatClient] = []
        try:

            async def write(port: str) -> tuple[ChatClient, int]:
                customer = ChatClient(sessions[port])  # type: ignore[arg-type]
                customers.append(customer)
                await customer.connect()
                ack = await customer.say(EXPRESS_WORDS)
                return customer, await _conversation_of(cluster.dsn, ack["message"]["id"])

            written = await asyncio.gather(*(write("AB"[i % 2]) for i in range(EXPRESS_CUSTOMERS)))
            customer_of = {cid: customer for customer, cid in written}
            ids = sorted(customer_of)
            assert len(ids) == EXPRESS_CUSTOMERS, written

            state = await _settled(cluster.dsn, ids)
            agents = {
                r["id"]: r
                for r in await _fetch(cluster.dsn, "SELECT id, name, capacity FROM agents")
            }
            after = await _chat_loads(cluster.dsn)
            taken: dict[int, int] = {}
            for _, _, _, assignee, _ in state:
                if assignee is not None:
                    taken[assignee] = taken.get(assignee, 0) + 1
            capacity = {
                aid: int(
                    (_json(r["capacity"]) or {}).get("chat", DEFAULT_CAPACITY[ChannelKind.CHAT])
                )
                for aid, r in agents.items()
            }
            report = "\n".join(
                [
                    *(f"conversation {s}" for s in state),
                    *(
                        f"agent {aid} {r['name']}: capacity {capacity[aid]}, chats before "
                        f"{before.get(aid, 0)}, express taken {taken.get(aid, 0)}, "
                        f"chats after {after.get(aid, 0)}"
                        for aid, r in sorted(agents.items())
                    ),
                    *(
                        f"process {name} logged automatic claims (conversation, agent): "
                        f"{_auto_claims(server, ids)}"
                        for name, server in cluster.servers.items()
                    ),
                ]
            )

            # Each conversation: routed to express, then queued, or assigned once, automatically.
            assigned: dict[int, int] = {}
            for cid, status, team, assignee, claims in state:
                assert team == "express", f"{cid} was routed to {team}\n{report}"
                if status == "queued":
                    assert assignee is None and not claims, f"{cid}\n{report}"
                else:
                    assert status == "assigned" and assignee is not None, f"{cid}\n{report}"
                    assert claims == ((assignee, "agent", {"auto": True}),), (
                        f"{cid}: claims {claims}\n{report}"
                    )
                    assigned[cid] = assignee

            # No agent filled past capacity by automatic assignment: whoever got an express
            # conversation is within capacity, and nobody holds more than before or capacity.
            for aid in agents:
                limit = max(capacity[aid], before.get(aid, 0))
                assert after.get(aid, 0) <= limit, f"agent {aid} over capacity\n{report}"
                if taken.get(aid):
                    assert after.get(aid, 0) <= capacity[aid], (
                        f"agent {aid} filled past capacity\n{report}"
                    )
                    assert after.get(aid, 0) == before.get(aid, 0) + taken[aid], report

            # auto1 and auto2 have four slots between them, and are full if anything still waits.
            assert len(assigned) >= 2 * AUTO_CAPACITY, f"too few assigned\n{report}"
            if len(assigned) < EXPRESS_CUSTOMERS:
                for agent in auto:
                    assert after.get(agent.id, 0) == AUTO_CAPACITY, (
                        f"{agent.key} has room while conversations wait\n{report}"
                    )

            # Each assigned customer is told on its own socket, whichever process assigned it.
            async def told(cid: int, agent_id: int) -> None:
                words = f"{agents[agent_id]['name']} has joined the conversation."
                try:
                    await customer_of[cid].reply(lambda m: m["text"] == words)
                except TimeoutError:
                    raise AssertionError(
                        f"the customer of {cid} was never told {words!r}; it got "
                        f"{customer_of[cid].buffer}\n{report}"
                    ) from None

            await asyncio.gather(*(told(cid, aid) for cid, aid in assigned.items()))
        finally:
            for customer in customers:
                await customer.close()
