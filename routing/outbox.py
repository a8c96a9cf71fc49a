"""The outbox worker: delivers replies through the channel adapters, with retries and backoff.

Only errors that a later try may cure are retried: the adapter's ``TransientChannelError``
and transport errors (connection refused or reset, timeouts, HTTP 408/429/5xx; see
``channels.errors.retry_can_help``). A ``PermanentChannelError`` and any programming or data
error fail the item at once, with the reason on the touchpoint for the agent to see.

Items are leased, not deleted: a worker that dies mid-send leaves a lease that runs out, and
the item is delivered by the next worker (at-least-once; adapters pass the touchpoint id as an
idempotency key where the provider supports one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import (
    ChannelRegistry,
    DeliveryReceipt,
    OutboundMessage,
    PermanentChannelError,
    Suggestion,
    TransientChannelError,
)
from channels.errors import RecipientOptedOut, retry_can_help
from routing.clock import Clock
from routing.hub import CONSOLE, Hub
from routing.metrics import Metrics
from storage.db import Database
from storage.models import (
    AuthorKind,
    DeliveryState,
    Direction,
    OutboxItem,
    OutboxStatus,
    Touchpoint,
    TouchpointKind,
)
from storage.repos import customers as customer_repo
from storage.repos import outbox as outbox_repo
from storage.repos import touchpoints as tp_repo

# What a threaded channel (email) needs beyond the text, passed through to the adapter.
_THREAD_KEYS = (
    "subject",
    "in_reply_to",
    "references",
    "acknowledgement",
    "to_name",
    "reply_context",
    "asks_feedback",  # an answer the customer may rate: the adapter adds its feedback buttons
    "feedback_token",  # ... and the token its "was this helpful?" links carry
    "verification_code",  # an email proving a chat visitor's address (routing.identify)
    "verification_minutes",
)
log = logging.getLogger("switchboard.outbox")


@dataclass(frozen=True)
class OutboxPolicy:
    max_attempts: int = 10
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    poll_seconds: float = 1.0
    lease_seconds: float = 60.0
    batch_size: int = 50


@dataclass(frozen=True)
class _Outcome:
    item: OutboxItem
    receipt: DeliveryReceipt | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False
    opted_out: bool = False  # the provider says the customer opted out


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        channels: ChannelRegistry,
        hub: Hub,
        clock: Clock,
        metrics: Metrics,
        policy: OutboxPolicy,
    ) -> None:
        self._db = db
        self._channels = channels
        self._hub = hub
        self._clock = clock
        self._metrics = metrics
        self._policy = policy
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; try again after a pause
                log.exception("outbox_cycle_failed")
                done = 0
            if done < self._policy.batch_size:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that lands as the event is set, and shutdown would then hang.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._policy.poll_seconds):
                        await self._wakeup.wait()
                # On 3.11 a cancellation landing as the timeout expires comes out as the
                # TimeoutError suppressed above; the task still counts it: honour it.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError
                self._wakeup.clear()

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many items were attempted."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            items = await outbox_repo.claim_due(
                session, now, timedelta(seconds=self._policy.lease_seconds), self._policy.batch_size
            )
        if not items:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(item) for item in items))
        await self._record(outcomes)
        return len(items)

    async def _deliver(self, item: OutboxItem) -> _Outcome:
        payload: dict[str, Any] = item.payload or {}
        message = OutboundMessage(
            channel=item.channel,
            address=item.address,
            text=payload.get("text", ""),
            touchpoint_id=item.touchpoint_id,
            author_kind=AuthorKind(payload.get("author_kind", "system")),
            author_name=payload.get("author_name"),
            created_at=item.created_at,
            reference=payload.get("reference"),
            suggestions=tuple(
                Suggestion(s["article_id"], s["title"], s.get("summary", ""))
                for s in payload.get("suggestions", [])
            ),
            meta={"locale": payload.get("locale")}
            | {key: payload[key] for key in _THREAD_KEYS if key in payload},
        )
        try:
            adapter = self._channels.get(item.channel)
            return _Outcome(item, receipt=await adapter.send(message))
        except TransientChannelError as exc:
            return _Outcome(item, error=str(exc), retry_after=exc.retry_after)
        except PermanentChannelError as exc:
            opted_out = isinstance(exc, RecipientOptedOut)
            return _Outcome(item, error=str(exc), permanent=True, opted_out=opted_out)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if retry_can_help(exc):  # a transport error the adapter did not name: retry
                log.warning(
                    "outbox_transport_error",
                    extra={"fields": {"channel": item.channel, "error": reason}},
                )
                return _Outcome(item, error=reason)
            # A programming or data error fails the same way every time: retrying would only
            # delay the agent learning that this reply never left. Fail it now, saying why.
            log.exception("outbox_adapter_crashed", extra={"fields": {"channel": item.channel}})
            return _Outcome(item, error=f"not sent: {reason}", permanent=True)

    async def _record(self, outcomes: list[_Outcome]) -> None:
        now = self._clock.now()
        sent = [o for o in outcomes if o.receipt is not None]
        failed = [o for o in outcomes if o.receipt is None and self._gives_up(o)]
        retry = [o for o in outcomes if o.receipt is None and not self._gives_up(o)]
        events: list[dict[str, Any]] = []
        async with self._db.transaction() as session:
            if sent:
                # The common case is a whole batch delivered: a few statements, not a few per item.
                await outbox_repo.mark_sent(session, [o.item.id for o in sent], now)
                for state in {o.receipt.state for o in sent if o.receipt}:
                    ids = [
                        o.item.touchpoint_id for o in sent if o.receipt and o.receipt.state is state
                    ]
                    changed = await tp_repo.set_delivery_state(
                        session, ids, state, only_from=[DeliveryState.PENDING]
                    )
                    events += [_delivery_event(tp_id, state) for tp_id in changed]
                for o in sent:
                    if o.receipt and o.receipt.provider_message_id:
                        if not await tp_repo.set_provider_id(
                            session, o.item.touchpoint_id, o.receipt.provider_message_id
                        ):
                            log.warning(
                                "provider_id_taken",
                                extra={"fields": {"touchpoint": o.item.touchpoint_id}},
                            )
            for o in failed:
                await outbox_repo.finish(
                    session, o.item.id, status=OutboxStatus.FAILED, now=now, error=o.error
                )
                await tp_repo.set_delivery_state(
                    session, [o.item.touchpoint_id], DeliveryState.FAILED
                )
                tp = await tp_repo.get(session, o.item.touchpoint_id)
                if tp is not None:
                    tp.meta = {**(tp.meta or {}), "delivery_error": o.error}
                if o.opted_out and tp is not None:
                    await self._opted_out(session, o.item, tp, now)
                events.append(_delivery_event(o.item.touchpoint_id, DeliveryState.FAILED))
                log.warning(
                    "outbox_failed",
                    extra={
                        "fields": {"item": o.item.id, "channel": o.item.channel, "error": o.error}
                    },
                )
            for o in retry:
                delay = self._backoff(o.item.attempts, o.retry_after)
                await outbox_repo.finish(
                    session,
                    o.item.id,
                    status=OutboxStatus.PENDING,
                    now=now,
                    error=o.error,
                    next_attempt_at=now + timedelta(seconds=delay),
                )
                log.info(
                    "outbox_retry",
                    extra={
                        "fields": {
                            "item": o.item.id,
                            "attempt": o.item.attempts,
                            "delay": round(delay, 1),
                        }
                    },
                )
        for group, result in ((sent, "sent"), (failed, "failed"), (retry, "retry")):
            for o in group:
                self._metrics.outbox_deliveries.labels(o.item.channel, result).inc()
                if result == "sent":
                    self._metrics.messages.labels(o.item.channel, "outbound").inc()
        for event in events:
            await self._hub.publish(CONSOLE, event)

    async def _opted_out(
        self, session: AsyncSession, item: OutboxItem, tp: Touchpoint, now: datetime
    ) -> None:
        """The customer opted out at the provider (a STOP we never saw): record the consent, so
        the bot stays quiet and agents are told, as if they had texted STOP to us."""
        identity = await customer_repo.find_identity(session, item.channel, item.address)
        if identity is None or identity.opted_out_at is not None:
            return
        identity.opted_out_at = now
        await tp_repo.add(
            session,
            customer_id=tp.customer_id,
            conversation_id=tp.conversation_id,
            channel=item.channel,
            kind=TouchpointKind.SYSTEM,
            direction=Direction.INTERNAL,
            author_kind=AuthorKind.SYSTEM,
            now=now,
            text=f"{item.channel} reports the customer opted out: nothing more is sent to "
            f"{item.address} until they opt back in",
            meta={"consent": "opted_out", "source": "provider"},
        )

    def _gives_up(self, outcome: _Outcome) -> bool:
        return outcome.permanent or outcome.item.attempts >= self._policy.max_attempts

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        base = self._policy.backoff_seconds * (2 ** max(attempts - 1, 0))
        delay = min(self._policy.backoff_max_seconds, base) * random.uniform(0.8, 1.0)
        return max(delay, retry_after or 0.0)


def _delivery_event(touchpoint_id: int, state: DeliveryState) -> dict[str, Any]:
    return {"type": "delivery", "touchpoint_id": touchpoint_id, "state": state.value}
