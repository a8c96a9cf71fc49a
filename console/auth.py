"""Agent passwords (argon2) and bearer tokens (random, stored only as a SHA-256 hash)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from routing.clock import Clock
from routing.errors import RoutingError
from storage.db import Database
from storage.models import Agent
from storage.repos import agents as agent_repo

_hasher = PasswordHasher()
# Verifying against a real hash when the email is unknown keeps the timing the same.
_DUMMY_HASH = _hasher.hash("switchboard-dummy-password")


CONSOLE = "console"  # the staff console's sign-ins: they set presence
API = "api"  # anything else (scripts, integrations): presence is left alone
CLIENTS = (CONSOLE, API)


class Unauthorized(RoutingError):
    status = 401


class BadCredentials(Unauthorized):
    """Wrong email or password; ``agent_id`` names the account when the email is known."""

    def __init__(self, agent_id: int | None) -> None:
        super().__init__("bad_credentials", "wrong email or password")
        self.agent_id = agent_id


def set_hasher(hasher: PasswordHasher) -> None:
    """Use other argon2 parameters for new hashes. The test suite sets the cheapest, as
    Django's test settings swap in a fast hasher; a hash made with any parameters still
    verifies, since argon2 hashes carry their own."""
    global _hasher
    _hasher = hasher


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(
    db: Database,
    clock: Clock,
    email: str,
    password: str,
    ttl: timedelta,
    *,
    client: str = CONSOLE,
) -> tuple[str, Agent, datetime]:
    async with db.transaction() as session:
        agent = await agent_repo.by_email(session, email)
        ok = verify_password(agent.password_hash if agent else _DUMMY_HASH, password)
        if agent is None or not ok or not agent.active:
            raise BadCredentials(agent.id if agent else None)
        token = secrets.token_urlsafe(32)
        now = clock.now()
        row = await agent_repo.add_token(
            session, agent_id=agent.id, token_hash=_digest(token), now=now, ttl=ttl, client=client
        )
        await agent_repo.touch(session, agent.id, now)
    return token, agent, row.expires_at


async def authenticate(db: Database, clock: Clock, token: str) -> Agent:
    async with db.transaction() as session:
        row = await agent_repo.token(session, _digest(token))
        now = clock.now()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("invalid_token", "the token is not valid; log in again")
        if row.expires_at <= now:
            raise Unauthorized("token_expired", "the token has expired; log in again")
        agent = await agent_repo.get(session, row.agent_id)
        if agent is None or not agent.active:
            raise Unauthorized("invalid_token", "the agent is no longer active")
        # Any authenticated call counts as presence; cheap enough not to batch for now.
        await agent_repo.touch(session, agent.id, now)
    return agent


async def logout(db: Database, clock: Clock, token: str) -> str:
    """Revoke the token; returns which client it was for (``console`` or ``api``)."""
    async with db.transaction() as session:
        row = await agent_repo.token(session, _digest(token))
        await agent_repo.revoke_token(session, _digest(token), clock.now())
    return row.client or CONSOLE if row is not None else API


async def create_agent(
    db: Database,
    clock: Clock,
    *,
    email: str,
    name: str,
    password: str,
    role: str,
    phone: str | None = None,
    voice_client: str | None = None,
    teams: list[str] | None = None,
    skills: list[str] | None = None,
    capacity: dict[str, int] | None = None,
) -> Agent:
    async with db.transaction() as session:
        if await agent_repo.by_email(session, email):
            raise RoutingError("agent_exists", f"an agent with email {email} already exists")
        agent = await agent_repo.add(
            session,
            email=email,
            name=name,
            password_hash=hash_password(password),
            role=role,
            now=clock.now(),
            phone=phone,
            voice_client=voice_client,
        )
        agent.teams, agent.skills, agent.capacity = teams or [], skills or [], capacity
        return agent
