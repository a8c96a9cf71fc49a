"""Agents, their login tokens and presence."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Agent, AgentToken


async def add(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password_hash: str,
    role: str,
    now: datetime,
    phone: str | None = None,
    voice_client: str | None = None,
) -> Agent:
    agent = Agent(
        email=email,
        name=name,
        password_hash=password_hash,
        role=role,
        phone=phone,
        voice_client=voice_client,
        active=True,
        created_at=now,
    )
    session.add(agent)
    await session.flush()
    return agent


async def by_email(session: AsyncSession, email: str) -> Agent | None:
    return (
        await session.execute(select(Agent).where(func.lower(Agent.email) == email.lower()))
    ).scalar_one_or_none()


async def get(session: AsyncSession, agent_id: int) -> Agent | None:
    return await session.get(Agent, agent_id)


async def add_token(
    session: AsyncSession,
    *,
    agent_id: int,
    token_hash: str,
    now: datetime,
    ttl: timedelta,
    client: str | None = None,
) -> AgentToken:
    token = AgentToken(
        agent_id=agent_id,
        token_hash=token_hash,
        created_at=now,
        expires_at=now + ttl,
        client=client,
    )
    session.add(token)
    await session.flush()
    return token


async def token(session: AsyncSession, token_hash: str) -> AgentToken | None:
    return (
        await session.execute(select(AgentToken).where(AgentToken.token_hash == token_hash))
    ).scalar_one_or_none()


async def revoke_token(session: AsyncSession, token_hash: str, now: datetime) -> None:
    await session.execute(
        update(AgentToken).where(AgentToken.token_hash == token_hash).values(revoked_at=now)
    )


async def revoke_tokens(session: AsyncSession, agent_id: int, now: datetime) -> None:
    """Sign the agent out everywhere (a deactivated account)."""
    await session.execute(
        update(AgentToken)
        .where(AgentToken.agent_id == agent_id, AgentToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def admins_for_update(session: AsyncSession) -> list[Agent]:
    """The active admins, locked: whoever demotes or deactivates one holds them all until
    commit, so the last admin cannot be removed by two requests at once."""
    rows = await session.execute(
        select(Agent)
        .where(Agent.active.is_(True), Agent.role == "admin")
        .order_by(Agent.id)
        .with_for_update()
    )
    return list(rows.scalars())


# last_seen_at only needs this precision against a presence timeout of a minute; skipping the
# write otherwise keeps API calls from queueing behind an assignment pass that holds the row.
TOUCH_EVERY = timedelta(seconds=5)


async def touch(session: AsyncSession, agent_id: int, now: datetime) -> None:
    await session.execute(
        update(Agent)
        .where(
            Agent.id == agent_id,
            Agent.last_seen_at.is_(None) | (Agent.last_seen_at <= now - TOUCH_EVERY),
        )
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


ONLINE = "online"


async def count_online(session: AsyncSession, since: datetime) -> int:
    """Agents who set themselves online and whose console was heard from since ``since``."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Agent)
            .where(Agent.active.is_(True), Agent.presence == ONLINE, Agent.last_seen_at >= since)
        )
        or 0
    )


async def active(session: AsyncSession) -> list[Agent]:
    rows = await session.execute(select(Agent).where(Agent.active.is_(True)).order_by(Agent.id))
    return list(rows.scalars())


async def online_for_update(session: AsyncSession, since: datetime) -> list[Agent]:
    """Online agents, locked in id order: assignment passes in several processes take turns,
    so two can never fill the same agent's last free slot."""
    rows = await session.execute(
        select(Agent)
        .where(Agent.active.is_(True), Agent.presence == ONLINE, Agent.last_seen_at >= since)
        .order_by(Agent.id)
        .with_for_update(key_share=True)
    )
    return list(rows.scalars())


async def silent(session: AsyncSession, before: datetime) -> list[Agent]:
    """Agents shown online or away whose console has not been heard from since ``before``;
    locked, skipping any another process is already handling."""
    rows = await session.execute(
        select(Agent)
        .where(
            Agent.presence != "offline",
            (Agent.last_seen_at < before) | Agent.last_seen_at.is_(None),
        )
        .order_by(Agent.id)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return list(rows.scalars())


async def set_offline(session: AsyncSession, agent_id: int) -> None:
    await session.execute(
        update(Agent)
        .where(Agent.id == agent_id)
        .values(last_seen_at=None)
        .execution_options(synchronize_session=False)
    )


async def names(session: AsyncSession, agent_ids: set[int]) -> dict[int, str]:
    if not agent_ids:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
    return {int(i): str(n) for i, n in rows}
