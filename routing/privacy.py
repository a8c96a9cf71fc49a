"""Privacy: a customer's export, erasure on request (both audited), and the retention worker
that removes old message bodies per channel. The console API and the CLI share these."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from routing.clock import Clock
from routing.desk import Desk, close_unattended
from routing.errors import Conflict
from storage.db import Database
from storage.models import Touchpoint
from storage.repos import audit
from storage.repos import conversations as conv_repo
from storage.repos import privacy as privacy_repo

log = logging.getLogger("switchboard.privacy")


@dataclass(frozen=True)
class RetentionPolicy:
    """Days a message body is kept, per channel (0: forever), and how often to look."""

    email_days: int = 0
    sms_days: int = 0
    webchat_days: int = 0
    voice_days: int = 0
    telegram_days: int = 0
    whatsapp_days: int = 0
    messenger_days: int = 0
    line_days: int = 0
    interval_seconds: float = 3600.0
    batch_size: int = 500

    def limits(self) -> dict[str, int]:
        """The channels with a limit, and their days."""
        return {
            f.name.removesuffix("_days"): getattr(self, f.name)
            for f in fields(self)
            if f.name.endswith("_days") and getattr(self, f.name) > 0
        }


Progress = Callable[[str, dict[str, int]], None]


ERASED_CLOSE = "the customer's data was erased"


class Privacy:
    """``desk``, where there is one (the server, not the CLI), hears of the conversations an
    erasure closes, to tell the consoles."""

    def __init__(self, db: Database, clock: Clock, desk: Desk | None = None) -> None:
        self.db = db
        self.clock = clock
        self.desk = desk

    async def export(self, customer_id: int, actor: str) -> dict[str, Any]:
        """Everything held about the customer; the export itself is audited (after it is
        taken, so it lists the earlier ones)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            data = await privacy_repo.export(session, customer_id, now)
            await audit.record(
                session,
                actor=actor,
                action="customer.export",
                target=audit.customer_target(customer_id),
                now=now,
            )
        return data

    async def erase(self, customer_id: int, actor: str, reason: str) -> dict[str, int]:
        now = self.clock.now()
        closed: list[Touchpoint] = []
        async with self.db.transaction() as session:
            try:
                counts = await privacy_repo.erase(session, customer_id, actor=actor, now=now)
            except privacy_repo.AlreadyErased as exc:
                raise Conflict("already_erased", str(exc)) from None
            # Nobody is left to answer: open conversations close and leave the queue.
            for conv in await conv_repo.open_for_customer(session, customer_id):
                tp = await close_unattended(
                    session, conv, ERASED_CLOSE, privacy_repo.ERASED_CLOSE_REASON, now
                )
                if tp is not None:
                    closed.append(tp)
            counts["conversations_closed"] = len(closed)
            await audit.record(
                session,
                actor=actor,
                action="customer.erase",
                target=audit.customer_target(customer_id),
                now=now,
                data={"reason": reason, "counts": counts},
            )
        log.info("customer_erased", extra={"fields": {"customer": customer_id, **counts}})
        if self.desk is not None:
            await self.desk.announce_closed(closed)
        return counts


class RetentionWorker:
    """Removes message bodies older than their channel's limit, in batches, from
    conversations closed that long ago."""

    def __init__(self, db: Database, clock: Clock, policy: RetentionPolicy) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy

    async def run_once(
        self, *, dry_run: bool = False, progress: Progress | None = None
    ) -> dict[str, dict[str, int]]:
        """One pass over every channel with a limit: what was removed (or, dry, would be)."""
        now = self.clock.now()
        report: dict[str, dict[str, int]] = {}
        for channel, days in self.policy.limits().items():
            before = now - timedelta(days=days)
            if dry_run:
                async with self.db.transaction() as session:
                    report[channel] = await privacy_repo.count_due(session, channel, before)
                continue
            total = {"touchpoints": 0, "attachments": 0}
            while True:
                async with self.db.transaction() as session:
                    done = await privacy_repo.redact_due(
                        session, channel, before, now, self.policy.batch_size
                    )
                for key, n in done.items():
                    total[key] += n
                if progress is not None and done["touchpoints"]:
                    progress(channel, dict(total))
                if done["touchpoints"] < self.policy.batch_size:
                    break
            report[channel] = total
            if total["touchpoints"]:
                log.info("retention_removed", extra={"fields": {"channel": channel, **total}})
        return report

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; try again next time
                log.exception("retention_cycle_failed")
            await asyncio.sleep(self.policy.interval_seconds)
