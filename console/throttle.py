"""Sign-in throttling: growing waits, then a temporary lock, per account and per client address.

Each attempt is counted as a failure *before* the password is checked, under a row lock in the
database every process shares, and taken back when the password was right: a burst of parallel
guesses is counted one by one and cannot slip past the limit, on one process or many.

Per key (the account's email, the client's address): the first ``free`` failures cost nothing;
each further one holds the key off for ``delay``, doubling (1 s, 2 s, 4 s …); at ``lock``
failures it is locked for ``lock_for``. Failures are forgotten ``lock_for`` after the last one,
and a right password clears the account's count (not the address's: one good account must not
wipe out the guesses made from that address at others). An attempt while a key is held off is
refused with 429 and ``Retry-After`` without looking at the password, so the lock holds even
for the right one; once it has passed, the owner signs in as usual. Failures and locks are
audited (``auth.login_failed``, ``auth.locked``).
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web

from routing.clock import Clock
from routing.errors import RoutingError
from storage.db import Database
from storage.models import LoginThrottle as ThrottleRow
from storage.repos import audit
from storage.repos import login_throttles as repo

log = logging.getLogger("switchboard.auth")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Limits:
    free: int  # failures that cost nothing
    lock: int  # failures that lock the key


@dataclass(frozen=True)
class ThrottlePolicy:
    account: Limits = Limits(free=5, lock=10)
    # An office behind one address has many people: more room before the address is held off.
    address: Limits = Limits(free=20, lock=50)
    delay: timedelta = timedelta(seconds=1)
    lock_for: timedelta = timedelta(minutes=15)
    trusted_proxies: tuple[Network, ...] = field(default=())

    def hold(self, failures: int, limits: Limits) -> timedelta | None:
        """How long a key with ``failures`` is held off (None: not at all)."""
        if failures >= limits.lock:
            return self.lock_for
        if failures <= limits.free:
            return None
        return min(self.delay * 2 ** (failures - limits.free - 1), self.lock_for)


class TooManyAttempts(RoutingError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too_many_attempts",
            f"too many failed sign-ins; try again in {retry_after} seconds",
        )
        self.retry_after = retry_after

    def response(self) -> web.Response:
        return web.json_response(
            {"error": {"code": self.code, "message": self.message}},
            status=self.status,
            headers={"Retry-After": str(self.retry_after)},
        )


@dataclass(frozen=True)
class Attempt:
    """A sign-in counted in advance: what the counts became, to audit or take back."""

    email: str
    address: str
    account_failures: int
    address_failures: int
    account_locked_until: datetime | None
    address_locked_until: datetime | None


def account_key(email: str) -> str:
    return f"account:{email.strip().lower()[:320]}"


def address_key(address: str) -> str:
    return f"address:{address}"


class LoginThrottle:
    def __init__(self, db: Database, clock: Clock, policy: ThrottlePolicy) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy

    async def begin(self, email: str, address: str) -> Attempt:
        """Count the attempt as a failure, or raise TooManyAttempts if a key is held off."""
        now = self.clock.now()
        keys = {account_key(email): self.policy.account, address_key(address): self.policy.address}
        async with self.db.transaction() as session:
            rows = {r.key: r for r in await repo.locked(session, keys, now)}
            for row in rows.values():
                if row.last_failure_at <= now - self.policy.lock_for and not _held(row, now):
                    row.failures, row.blocked_until = 0, None
            waits = [
                row.blocked_until - now
                for row in rows.values()
                if row.blocked_until is not None and row.blocked_until > now
            ]
            if waits:
                retry = max(1, math.ceil(max(waits).total_seconds()))
                log.info("login_throttled", extra={"fields": {"retry_after": retry}})
                raise TooManyAttempts(retry)
            for key, limits in keys.items():
                row = rows[key]
                row.failures += 1
                row.last_failure_at = now
                hold = self.policy.hold(row.failures, limits)
                row.blocked_until = now + hold if hold else None
            account, at = rows[account_key(email)], rows[address_key(address)]
            await repo.forget_older(session, now - 2 * self.policy.lock_for)
            return Attempt(
                email=email.strip().lower(),
                address=address,
                account_failures=account.failures,
                address_failures=at.failures,
                account_locked_until=_lock_end(account, self.policy.account),
                address_locked_until=_lock_end(at, self.policy.address),
            )

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: clear the account's count, take the attempt back from the
        address's."""
        now = self.clock.now()
        key = address_key(attempt.address)
        async with self.db.transaction() as session:
            await repo.forget(session, account_key(attempt.email))
            for row in await repo.locked(session, [key], now):
                row.failures = max(0, row.failures - 1)
                if self.policy.hold(row.failures, self.policy.address) is None:
                    row.blocked_until = None

    async def failed(self, attempt: Attempt, agent_id: int | None) -> None:
        """The attempt failed (it is already counted): audit it, and any lock it caused."""
        now = self.clock.now()
        account = f"agent:{agent_id}" if agent_id is not None else account_key(attempt.email)
        actor = address_key(attempt.address)
        async with self.db.transaction() as session:
            await audit.record(
                session,
                actor=actor,
                action="auth.login_failed",
                target=account[:200],
                now=now,
                data={
                    "account_failures": attempt.account_failures,
                    "address_failures": attempt.address_failures,
                },
            )
            locks = (
                (account, attempt.account_locked_until, attempt.account_failures),
                (actor, attempt.address_locked_until, attempt.address_failures),
            )
            for target, until, failures in locks:
                if until is not None:
                    log.warning("login_locked", extra={"fields": {"target": target}})
                    await audit.record(
                        session,
                        actor="system",
                        action="auth.locked",
                        target=target[:200],
                        now=now,
                        data={"until": until.isoformat(), "failures": failures},
                    )


def _held(row: ThrottleRow, now: datetime) -> bool:
    return row.blocked_until is not None and row.blocked_until > now


def _lock_end(row: ThrottleRow, limits: Limits) -> datetime | None:
    """When the lock this failure started ends; None if it started none."""
    return row.blocked_until if row.failures == limits.lock else None


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.168.1.5"`` → networks; ValueError naming a bad entry."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return tuple(networks)


def client_address(request: web.Request, trusted: Sequence[Network]) -> str:
    """The client's address: the socket's peer, or when that is a trusted proxy, the nearest
    address in X-Forwarded-For that is not one (a client can forge the rest of the header)."""
    peer = request.remote or "unknown"
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    chain = [*(h.strip() for h in forwarded.split(",") if h.strip()), peer]
    for hop in reversed(chain):
        try:
            ip = ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a garbled header (or no IP peer, a Unix socket): the peer only
        if not any(ip in net for net in trusted):
            return str(ip)
    return chain[0]


__all__ = [
    "Attempt",
    "Limits",
    "LoginThrottle",
    "ThrottlePolicy",
    "TooManyAttempts",
    "client_address",
    "parse_networks",
]
