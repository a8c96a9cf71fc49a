"""Who may do what to staff accounts and queues, end to end through the HTTP API on SQLite and
PostgreSQL: role changes (admins only, never one's own, never the last admin), the audit trail
of staff edits, sign-in throttling per account and per address (FrozenClock, no sleeping),
who comes online on sign-in and takes work, and team-scoped queues.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from console.auth import create_agent
from routing.clock import FrozenClock
from routing.router import Router
from storage.db import Database
from storage.models import AuditEvent
from switchboard.app import ROUTER, create_app
from tests.conftest import PASSWORD, seed
from tests.helpers import AgentApi, ChatClient, eventually

WORKSPACE = """
default_team: general
teams:
  general: {assignment: auto}
  billing: {assignment: auto}
rules:
  - team: billing
    keywords: [refund]
close:
  require_disposition: false
csat:
  enabled: false
assignment:
  sweep_seconds: 0.1
"""
LOGIN = "/api/v1/auth/login"
STAFF = (
    ("admin@example.com", "admin"),
    ("admin2@example.com", "admin"),
    ("boss@example.com", "supervisor"),
    ("kim@example.com", "knowledge_manager"),
)


class Site:
    def __init__(self, client: TestClient, clock: FrozenClock) -> None:
        self.client = client
        self.clock = clock
        self.chats: list[ChatClient] = []

    @property
    def router(self) -> Router:
        return self.client.server.app[ROUTER]

    async def login(self, email: str, app: str = "console") -> AgentApi:
        return await AgentApi.login(self.client, email, PASSWORD, app=app)

    async def attempt(self, email: str, password: str, **headers: str) -> tuple[int, Any, Any]:
        resp = await self.client.post(
            LOGIN, json={"email": email, "password": password}, headers=headers
        )
        return resp.status, await resp.json(), resp.headers.get("Retry-After")

    async def customer(self, *lines: str) -> int:
        chat = ChatClient(self.client)
        self.chats.append(chat)
        await chat.connect()
        for line in lines:
            await chat.say(line)
        welcome = await ChatClient(self.client).connect(visitor_id=chat.visitor_id)
        return int(welcome["conversation"]["id"])

    async def audit(self, action: str) -> list[AuditEvent]:
        async with self.router.db.transaction() as session:
            rows = await session.execute(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
            return list(rows.scalars())


@pytest.fixture
def make_site(aiohttp_client: Any, make_settings: Any, tmp_path: Path) -> Callable[..., Any]:
    made: list[Site] = []

    async def build(workspace: str = WORKSPACE, **settings_overrides: Any) -> Site:
        path = tmp_path / "workspace.yaml"
        path.write_text(workspace, encoding="utf-8")
        settings = make_settings(workspace_file=str(path), **settings_overrides)
        await seed(settings.effective_database_url, agents=2, kb=None)
        clock = FrozenClock()
        db = Database(settings.effective_database_url)
        try:
            for email, role in STAFF:
                name = email.split("@")[0].title()
                await create_agent(db, clock, email=email, name=name, password=PASSWORD, role=role)
        finally:
            await db.dispose()
        site = Site(await aiohttp_client(create_app(settings, clock=clock)), clock)
        made.append(site)
        return site

    return build


@pytest.fixture
async def site(make_site: Callable[..., Any]) -> AsyncIterator[Site]:
    s = await make_site()
    yield s
    for chat in s.chats:
        await chat.close()


async def _me(agent: AgentApi) -> dict[str, Any]:
    return await agent.call("GET", "/api/v1/me")


async def _id(site: Site, email: str) -> int:
    agents = await (await site.login("admin@example.com", "api")).call("GET", "/api/v1/agents")
    return next(a["id"] for a in agents["items"] if a["email"] == email)


# ---- roles ------------------------------------------------------------------------------------


async def test_a_supervisor_can_neither_make_themselves_admin_nor_demote_an_admin(
    site: Site,
) -> None:
    boss = await site.login("boss@example.com")
    boss_id = (await _me(boss))["id"]
    admin_id = await _id(site, "admin@example.com")
    denied = await boss.call(
        "PATCH", f"/api/v1/agents/{boss_id}", expect=403, json={"role": "admin"}
    )
    assert denied["error"]["code"] == "admins_only"
    denied = await boss.call(
        "PATCH", f"/api/v1/agents/{admin_id}", expect=403, json={"role": "agent"}
    )
    assert denied["error"]["code"] == "admins_only"
    denied = await boss.call(
        "PATCH", f"/api/v1/agents/{admin_id}", expect=403, json={"active": False}
    )
    assert denied["error"]["code"] == "admins_only"
    assert (await _me(boss))["role"] == "supervisor"
    erase = await boss.call("POST", "/api/v1/customers/1/erase", expect=403, json={"reason": "x"})
    assert erase["error"]["code"] == "forbidden"
    assert await site.audit("agent.role") == []


async def test_an_admin_changes_roles_but_not_their_own_and_every_change_is_audited(
    site: Site,
) -> None:
    admin = await site.login("admin@example.com")
    admin_id = (await _me(admin))["id"]
    boss_id = await _id(site, "boss@example.com")
    denied = await admin.call(
        "PATCH", f"/api/v1/agents/{admin_id}", expect=403, json={"role": "supervisor"}
    )
    assert denied["error"]["code"] == "own_role"
    denied = await admin.call(
        "PATCH", f"/api/v1/agents/{admin_id}", expect=403, json={"active": False}
    )
    assert denied["error"]["code"] == "own_account"

    edited = await admin.call(
        "PATCH",
        f"/api/v1/agents/{boss_id}",
        json={
            "role": "admin",
            "teams": ["billing"],
            "skills": ["lang:th"],
            "capacity": {"chat": 1},
        },
    )
    assert edited["role"] == "admin" and edited["teams"] == ["billing"]
    trail = {
        a: [(e.actor, e.target, e.data) for e in await site.audit(f"agent.{a}")]
        for a in ("role", "teams", "skills", "capacity")
    }
    target = f"agent:{boss_id}"
    assert trail == {
        "role": [("admin@example.com", target, {"from": "supervisor", "to": "admin"})],
        "teams": [("admin@example.com", target, {"from": [], "to": ["billing"]})],
        "skills": [("admin@example.com", target, {"from": [], "to": ["lang:th"]})],
        "capacity": [
            (
                "admin@example.com",
                target,
                {
                    "from": {"chat": 3, "message": 5, "call": 1},
                    "to": {"chat": 1, "message": 5, "call": 1},
                },
            )
        ],
    }
    # Setting what is already there changes nothing and records nothing.
    await admin.call("PATCH", f"/api/v1/agents/{boss_id}", json={"teams": ["billing"]})
    assert len(await site.audit("agent.teams")) == 1


async def test_a_deactivated_agent_is_signed_out_and_cannot_sign_in(site: Site) -> None:
    admin = await site.login("admin@example.com")
    agent1 = await site.login("agent1@example.com")
    id1 = (await _me(agent1))["id"]
    await admin.call("PATCH", f"/api/v1/agents/{id1}", json={"active": False})
    gone = await agent1.call("GET", "/api/v1/me", expect=401)
    assert gone["error"]["code"] == "invalid_token"
    status, body, _ = await site.attempt("agent1@example.com", PASSWORD)
    assert (status, body["error"]["code"]) == (401, "bad_credentials")
    assert [e.data for e in await site.audit("agent.active")] == [{"from": True, "to": False}]
    listed = await admin.call("GET", "/api/v1/agents")
    assert id1 not in [a["id"] for a in listed["items"]]
    back = await admin.call("PATCH", f"/api/v1/agents/{id1}", json={"active": True})
    assert back["id"] == id1
    await site.login("agent1@example.com")


async def test_two_admins_removing_each_other_at_once_leave_one_admin(site: Site) -> None:
    admin = await site.login("admin@example.com")
    admin2 = await site.login("admin2@example.com")
    id1, id2 = (await _me(admin))["id"], (await _me(admin2))["id"]
    first, second = await asyncio.gather(
        admin.call("PATCH", f"/api/v1/agents/{id2}", expect=None, json={"role": "agent"}),
        admin2.call("PATCH", f"/api/v1/agents/{id1}", expect=None, json={"active": False}),
    )
    answers = sorted([first, second], key=lambda b: "error" in b)
    assert "error" not in answers[0]
    # The loser either still passed as admin when it started (the last-admin check) or no
    # longer did (the role check).
    assert answers[1]["error"]["code"] in ("last_admin", "admins_only")
    listed = (await (await site.login("boss@example.com")).call("GET", "/api/v1/agents"))["items"]
    assert [a["role"] for a in listed].count("admin") == 1


# ---- sign-in throttling -------------------------------------------------------------------


async def test_wrong_passwords_slow_down_then_lock_the_account_until_the_lock_passes(
    site: Site,
) -> None:
    answers = [await site.attempt("agent1@example.com", "wrong") for _ in range(6)]
    assert [s for s, _, _ in answers] == [401] * 6  # 5 free, the 6th starts a 1 s wait
    status, body, retry = await site.attempt("agent1@example.com", "wrong")
    assert (status, body["error"]["code"], retry) == (429, "too_many_attempts", "1")
    status, _, retry = await site.attempt("agent1@example.com", PASSWORD)
    assert (status, retry) == (429, "1")  # held off means held off, right password or not
    for wait in (1, 2, 4, 8):  # the waits double
        site.clock.advance(wait)
        assert (await site.attempt("agent1@example.com", "wrong"))[0] == 401
        status, _, retry = await site.attempt("agent1@example.com", "wrong")
        assert status == 429
    assert retry == str(15 * 60)  # the 10th failure locks the account for 15 minutes
    site.clock.advance(14 * 60)
    status, _, retry = await site.attempt("agent1@example.com", PASSWORD)
    assert (status, retry) == (429, "60")
    site.clock.advance(60)
    assert (await site.attempt("agent1@example.com", PASSWORD))[0] == 200
    # A right password clears the account's count.
    assert [(await site.attempt("agent1@example.com", "wrong"))[0] for _ in range(5)] == [401] * 5

    failed = await site.audit("auth.login_failed")
    assert len(failed) == 15
    assert failed[0].actor == "address:127.0.0.1" and failed[0].target.startswith("agent:")
    locked = await site.audit("auth.locked")
    assert [e.target for e in locked] == [failed[0].target]
    # Other accounts are not affected by agent1's lock.
    assert (await site.attempt("agent2@example.com", PASSWORD))[0] == 200


async def test_an_unknown_email_is_throttled_like_a_known_one(site: Site) -> None:
    statuses = [(await site.attempt("nobody@example.com", "x"))[0] for _ in range(7)]
    assert statuses == [401] * 6 + [429]
    failed = await site.audit("auth.login_failed")
    assert failed[-1].target == "account:nobody@example.com"


async def test_one_address_guessing_at_many_accounts_is_held_off(
    make_site: Callable[..., Any],
) -> None:
    site = await make_site(
        auth={"login_address_free_failures": 3, "login_address_lock_failures": 5}
    )
    emails = [f"guess{n}@example.com" for n in range(4)]
    assert [(await site.attempt(e, "x"))[0] for e in emails] == [401] * 4
    status, _, retry = await site.attempt("agent1@example.com", PASSWORD)
    assert (status, retry) == (429, "1")
    site.clock.advance(1)
    assert (await site.attempt("guess9@example.com", "x"))[0] == 401  # the 5th: locked
    locked = await site.audit("auth.locked")
    assert [e.target for e in locked] == ["address:127.0.0.1"]
    site.clock.advance(15 * 60)
    assert (await site.attempt("agent1@example.com", PASSWORD))[0] == 200


async def test_a_burst_of_parallel_guesses_is_counted_one_by_one(site: Site) -> None:
    answers = await asyncio.gather(
        *(site.attempt("agent1@example.com", f"wrong{n}") for n in range(14))
    )
    statuses = sorted(s for s, _, _ in answers)
    # Never more than the free five plus the one that starts the first wait get checked.
    assert statuses.count(401) <= 6 and statuses.count(429) >= 8


async def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    make_site: Callable[..., Any],
) -> None:
    site = await make_site(
        auth={
            "login_address_free_failures": 1,
            "login_address_lock_failures": 3,
            "trusted_proxies": "127.0.0.0/8",
        }
    )
    one = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}
    assert (await site.attempt("a@example.com", "x", **one))[0] == 401
    assert (await site.attempt("b@example.com", "x", **one))[0] == 401
    assert (await site.attempt("c@example.com", "x", **one))[0] == 429
    other = {"X-Forwarded-For": "203.0.113.6"}
    assert (await site.attempt("agent1@example.com", PASSWORD, **other))[0] == 200
    failed = await site.audit("auth.login_failed")
    assert {e.actor for e in failed} == {"address:203.0.113.5"}


async def test_forwarded_addresses_are_ignored_from_an_untrusted_peer(
    make_site: Callable[..., Any],
) -> None:
    site = await make_site(
        auth={"login_address_free_failures": 1, "login_address_lock_failures": 3}
    )
    for n in range(2):
        forged = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert (await site.attempt(f"{n}@example.com", "x", **forged))[0] == 401
    status, _, _ = await site.attempt(
        "agent1@example.com", PASSWORD, **{"X-Forwarded-For": "1.2.3.4"}
    )
    assert status == 429


async def test_bad_throttle_settings_are_refused(make_settings: Any) -> None:
    from switchboard.settings import SettingsError

    with pytest.raises(SettingsError, match=r"auth\.trusted_proxies"):
        make_settings(auth={"trusted_proxies": "10.0.0.0/8, nonsense"})
    with pytest.raises(SettingsError, match=r"auth\.login_lock_failures"):
        make_settings(auth={"login_free_failures": 5, "login_lock_failures": 5})


# ---- who comes to work --------------------------------------------------------------------


async def test_only_queue_workers_come_online_and_take_work(site: Site) -> None:
    kim = await site.login("kim@example.com")
    boss = await site.login("boss@example.com")
    assert (await _me(kim))["presence"] == "offline"  # editing articles is not taking chats
    assert (await _me(boss))["presence"] == "offline"  # a supervisor in no team works no queue
    # Even set online by hand, they are not given customers' conversations.
    await kim.call("PATCH", "/api/v1/me", json={"presence": "online"})
    await boss.call("PATCH", "/api/v1/me", json={"presence": "online"})
    conv_id = await site.customer("agent")
    await site.router.desk.assign_waiting()
    assert (await boss.conversation(conv_id))["status"] == "queued"

    agent1 = await site.login("agent1@example.com")
    assert (await _me(agent1))["presence"] == "online"
    id1 = (await _me(agent1))["id"]
    conv = await eventually(
        lambda: _assigned(agent1, conv_id)  # the agent in no team works every queue
    )
    assert conv["assignee"]["id"] == id1


async def test_a_supervisor_takes_only_their_own_teams_work(site: Site) -> None:
    admin = await site.login("admin@example.com", "api")
    boss = await site.login("boss@example.com")
    boss_id = (await _me(boss))["id"]
    await admin.call("PATCH", f"/api/v1/agents/{boss_id}", json={"teams": ["billing"]})
    await boss.call("PATCH", "/api/v1/me", json={"presence": "online"})
    general = await site.customer("agent")
    billing = await site.customer("I want a refund", "agent")
    await site.router.desk.assign_waiting()
    assert (await boss.conversation(general))["status"] == "queued"
    assert (await boss.conversation(billing))["assignee"]["id"] == boss_id
    # And a supervisor put in a team comes online when signing in.
    await boss.call("PATCH", "/api/v1/me", json={"presence": "offline"})
    assert (await _me(await site.login("boss@example.com")))["presence"] == "online"


async def test_a_scripts_sign_in_and_out_leave_presence_alone(site: Site) -> None:
    script = await site.login("agent1@example.com", "api")
    assert (await _me(script))["presence"] == "offline"
    console = await site.login("agent1@example.com")
    assert (await _me(console))["presence"] == "online"
    await script.call("POST", "/api/v1/auth/logout")
    assert (await _me(console))["presence"] == "online"  # the script leaving is not the human
    bad = await site.client.post(
        LOGIN, json={"email": "agent1@example.com", "password": PASSWORD, "client": "robot"}
    )
    assert (await bad.json())["error"]["code"] == "bad_client"
    await console.call("POST", "/api/v1/auth/logout")
    again = await site.login("agent1@example.com", "api")
    assert (await _me(again))["presence"] == "offline"


# ---- team-scoped queues -------------------------------------------------------------------


async def test_an_agent_sees_and_claims_only_their_teams_queue(site: Site) -> None:
    admin = await site.login("admin@example.com", "api")
    agent1 = await site.login("agent1@example.com", "api")  # offline: nothing auto-assigned
    id1 = (await _me(agent1))["id"]
    await admin.call("PATCH", f"/api/v1/agents/{id1}", json={"teams": ["billing"]})
    general = await site.customer("agent")
    billing = await site.customer("I want a refund", "agent")

    queue = await agent1.queue()
    assert [c["id"] for c in queue["items"]] == [billing]
    listed = await agent1.call("GET", "/api/v1/conversations", params={"status": "queued"})
    assert [c["id"] for c in listed["items"]] == [billing]
    denied = await agent1.call("GET", "/api/v1/queue", expect=403, params={"team": "general"})
    assert denied["error"]["code"] == "not_your_team"
    denied = await agent1.claim(general, expect=403)
    assert denied["error"]["code"] == "not_your_team"
    assert (await agent1.claim_next())["id"] == billing
    empty = await agent1.claim_next(expect=409)  # general's work is not theirs to pull
    assert empty["error"]["code"] == "queue_empty"

    boss = await site.login("boss@example.com")
    assert [c["id"] for c in (await boss.queue())["items"]] == [general]
    assert (await boss.claim(general))["assignee"]["id"] == (await _me(boss))["id"]


async def test_open_queues_let_every_agent_see_and_claim_every_queue(
    make_site: Callable[..., Any],
) -> None:
    site = await make_site(
        WORKSPACE.replace("sweep_seconds: 0.1", "sweep_seconds: 0.1\n  open_queues: true")
    )
    admin = await site.login("admin@example.com", "api")
    agent1 = await site.login("agent1@example.com", "api")
    id1 = (await _me(agent1))["id"]
    await admin.call("PATCH", f"/api/v1/agents/{id1}", json={"teams": ["billing"]})
    general = await site.customer("agent")
    try:
        assert [c["id"] for c in (await agent1.queue())["items"]] == [general]
        assert (await agent1.claim(general))["assignee"]["id"] == id1
    finally:
        for chat in site.chats:
            await chat.close()


async def _assigned(agent: AgentApi, conv_id: int) -> dict[str, Any] | None:
    conv = await agent.conversation(conv_id)
    return conv if conv["assignee"] else None
