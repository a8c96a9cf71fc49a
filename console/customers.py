"""One customer: the profile (attributes, tags, identities and consent, lifetime figures,
notes), editing it, merging duplicates and undoing a merge, and the history across channels.
Every change is audited. See console/openapi.yaml."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from channels.phone import InvalidPhoneNumber, normalize_phone
from console import customer_input
from console.http import BadRequest, int_param, read_json
from routing import views
from routing.errors import Conflict
from routing.hub import CONSOLE
from routing.inbound import PHONE_CHANNELS
from routing.segments import reprofile
from storage.db import RecordNotFound
from storage.models import Agent, AuthorKind, Customer, CustomerNote, Direction, TouchpointKind
from storage.repos import agents as agent_repo
from storage.repos import audit
from storage.repos import conversations as conv_repo
from storage.repos import customer_profile as profile_repo
from storage.repos import customers as customer_repo
from storage.repos import merges as merge_repo
from storage.repos import segments as segment_repo
from storage.repos import touchpoints as tp_repo

if TYPE_CHECKING:
    from console.api import ConsoleApi

log = logging.getLogger("switchboard.customers")
EMAIL_CHANNELS = ("email",)
REASON_MAX = 500
HISTORY_MAX = 1000
PROFILE_CONVERSATIONS = 100  # the latest ones listed on a profile (conversations_more: the rest)
SCORES = {"email": 0.9, "phone": 0.9, "name": 0.4}
# A change to these recomputes the customer's segment and lifecycle (a cleared segment goes
# back to the rules).
REPROFILED = frozenset({"attributes", "tags", "segment"})
_PATCH_FIELDS: dict[str, type | tuple[type, ...]] = {
    "display_name": (str, type(None)),
    "locale": (str, type(None)),
    "segment": (str, type(None)),
    "attributes": dict,
    "tags": list,
}


def _bad(exc: customer_input.InvalidField) -> BadRequest:
    return BadRequest(f"bad_{exc.field.split('.')[0].split('[')[0]}", str(exc))


class CustomersApi:
    def __init__(self, console: ConsoleApi) -> None:
        self.console = console
        self.db = console.db
        self.clock = console.clock

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/customers/{id}", self.profile)
        r.add_patch("/api/v1/customers/{id}", self.update)
        r.add_patch("/api/v1/customers/{id}/identities/{identity_id}", self.consent)
        r.add_post("/api/v1/customers/{id}/notes", self.add_note)
        r.add_get("/api/v1/customers/{id}/duplicates", self.duplicates)
        r.add_post("/api/v1/customers/{id}/merge", self.merge)
        r.add_post("/api/v1/customers/merges/{merge_id}/undo", self.undo)
        r.add_get("/api/v1/customers/{id}/history", self.history)

    async def _audit(
        self, session: AsyncSession, agent: Agent, action: str, customer_id: int, data: Any
    ) -> None:
        await audit.record(
            session,
            actor=agent.email,
            action=f"customer.{action}",
            target=audit.customer_target(customer_id),
            now=self.clock.now(),
            data=data,
        )

    async def profile(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        customer_id = int_param(request, "id")
        async with self.db.transaction() as session:
            body = await self._profile(session, customer_id)
        return web.json_response(body)

    async def _profile(self, session: AsyncSession, customer_id: int) -> dict[str, Any]:
        customer = await customer_repo.get_customer(session, customer_id)
        identities = await customer_repo.identities_of(session, customer_id)
        convs = await conv_repo.list_for(
            session, customer_id=customer_id, limit=PROFILE_CONVERSATIONS
        )
        figures = await profile_repo.lifetime(session, customer_id)
        notes = await profile_repo.notes_of(session, customer_id)
        merges = await merge_repo.merges_of(session, customer_id)
        merged_into = await merge_repo.merged_into(session, customer_id)
        locales = figures.pop("conversation_locales")
        languages = list(dict.fromkeys([x for x in [customer.locale, *locales] if x]))
        return {
            "id": customer.id,
            "display_name": customer.display_name,
            "locale": customer.locale,
            "languages": languages,
            "segment": customer.segment,
            "value_tier": customer.value_tier,
            "lifecycle": customer.lifecycle,
            "profiled_at": views.iso(customer.profiled_at),
            "attributes": dict(customer.attributes or {}),
            "tags": list(customer.tags or []),
            "created_at": views.iso(customer.created_at),
            "updated_at": views.iso(customer.updated_at),
            "erased_at": views.iso(customer.erased_at),
            "merged_into": merged_into.target_id if merged_into else None,
            "lifetime": figures,
            "identities": [
                {
                    "id": i.id,
                    "channel": i.channel,
                    "address": i.address,
                    "display_name": i.display_name,
                    "opted_out": i.opted_out_at is not None,
                    "opted_out_at": views.iso(i.opted_out_at),
                    "created_at": views.iso(i.created_at),
                }
                for i in identities
            ],
            "conversations": [
                {
                    "id": c.id,
                    "status": c.status.value,
                    "channel": c.channel,
                    "locale": c.locale,
                    "csat_score": c.csat_score,
                    "created_at": views.iso(c.created_at),
                }
                for c in convs
            ],
            # The list holds the latest PROFILE_CONVERSATIONS; the history pages through all.
            "conversations_more": max(0, figures["conversations"] - len(convs)),
            "notes": [_note(n) for n in notes],
            "merges": [merge_repo.merge_view(m) for m in merges],
        }

    async def update(self, request: web.Request) -> web.Response:
        agent = await self.console.agent(request)
        customer_id = int_param(request, "id")
        body = await read_json(request, _PATCH_FIELDS, set())
        if not body:
            raise BadRequest("missing_field", f"send one of {', '.join(_PATCH_FIELDS)}")
        async with self.db.transaction() as session:
            customer = await self._live(session, customer_id)
            try:
                changed = _apply(customer, body)
            except customer_input.InvalidField as exc:
                raise _bad(exc) from None
            now = self.clock.now()
            customer.updated_at = now
            if "segment" in body:  # pinned by hand: recomputes keep it until it is cleared
                await segment_repo.record_hand_set(
                    session, customer_id, customer.segment, agent.email, now
                )
            if REPROFILED & body.keys():  # what the rules read: the profile follows at once
                policy = self.console.router.desk.policy.segments
                await reprofile(session, [customer_id], now, policy)
                await session.refresh(customer)
            # Field names and attribute keys only: the audit log outlives an erasure.
            await self._audit(session, agent, "update", customer_id, {"changed": changed})
            result = await self._profile(session, customer_id)
        return web.json_response(result)

    async def consent(self, request: web.Request) -> web.Response:
        """Staff record a customer's wish about one address: opted out (nothing is sent there,
        as after STOP) or back in. In the history and the audit log."""
        agent = await self.console.agent(request)
        customer_id = int_param(request, "id")
        identity_id = int_param(request, "identity_id")
        body = await read_json(request, {"opted_out": bool, "reason": str}, {"opted_out"})
        reason = (body.get("reason") or "").strip()[:REASON_MAX] or None
        async with self.db.transaction() as session:
            await self._live(session, customer_id)
            identity = await customer_repo.get_identity(session, identity_id)
            if identity.customer_id != customer_id:
                raise RecordNotFound("identity", identity_id)
            now = self.clock.now()
            wanted = bool(body["opted_out"])
            if wanted != (identity.opted_out_at is not None):
                identity.opted_out_at = now if wanted else None
                what = "Opted out of" if wanted else "Opted back in to"
                await tp_repo.add(
                    session,
                    customer_id=customer_id,
                    conversation_id=None,
                    channel=identity.channel,
                    kind=TouchpointKind.SYSTEM,
                    direction=Direction.INTERNAL,
                    author_kind=AuthorKind.AGENT,
                    agent_id=agent.id,
                    now=now,
                    text=f"{what} {identity.channel} ({identity.address}), recorded by "
                    f"{agent.name}" + (f": {reason}" if reason else ""),
                    meta={"consent": {"identity_id": identity.id, "opted_out": wanted}},
                )
                data = {"identity_id": identity.id, "channel": identity.channel}
                await self._audit(
                    session, agent, "consent", customer_id, {**data, "opted_out": wanted}
                )
            result = await self._profile(session, customer_id)
            open_conv = await conv_repo.open_for_identity(session, identity.id)
        # The open conversation on that address shows whether a reply can go out.
        await self._announce([open_conv.id] if open_conv else [], (customer_id,))
        return web.json_response(result)

    async def _live(self, session: AsyncSession, customer_id: int) -> Customer:
        customer = await customer_repo.get_customer(session, customer_id)
        if customer.erased_at is not None:
            raise Conflict("customer_erased", f"customer {customer_id} was erased")
        return customer

    async def add_note(self, request: web.Request) -> web.Response:
        agent = await self.console.agent(request)
        customer_id = int_param(request, "id")
        body = await read_json(request, {"text": str}, {"text"})
        try:
            text = customer_input.note_text(body["text"])
        except customer_input.InvalidField as exc:
            raise _bad(exc) from None
        async with self.db.transaction() as session:
            await self._live(session, customer_id)
            note = await profile_repo.add_note(
                session,
                customer_id,
                agent_id=agent.id,
                author=agent.name,
                text=text,
                now=self.clock.now(),
            )
            await self._audit(session, agent, "note", customer_id, {"note_id": note.id})
            result = _note(note)
        return web.json_response(result, status=201)

    async def merge(self, request: web.Request) -> web.Response:
        """Merge customer ``other_id`` into this one."""
        agent = await self.console.agent(request)
        target_id = int_param(request, "id")
        body = await read_json(request, {"other_id": int, "reason": str}, {"other_id"})
        source_id = body["other_id"]
        if isinstance(source_id, bool) or not 1 <= source_id <= 2**62:
            raise BadRequest("bad_other_id", "other_id must be a customer id")
        if source_id == target_id:
            raise BadRequest("same_customer", "other_id: a customer cannot be merged into itself")
        reason = (body.get("reason") or "").strip()[:REASON_MAX] or None
        async with self.db.transaction() as session:
            try:
                row = await merge_repo.merge(
                    session,
                    source_id,
                    target_id,
                    self.clock.now(),
                    actor=agent.email,
                    reason=reason,
                )
            except merge_repo.MergeRefused as exc:
                raise Conflict(exc.code, exc.message) from None
            view = merge_repo.merge_view(row)
            for customer_id in (target_id, source_id):
                await self._audit(session, agent, "merge", customer_id, view)
            result = {"merge": view, "customer": await self._profile(session, target_id)}
        await self._announce(row.moved.get("conversations", []), (target_id, source_id))
        return web.json_response(result)

    async def undo(self, request: web.Request) -> web.Response:
        agent = await self.console.agent(request)
        merge_id = int_param(request, "merge_id")
        async with self.db.transaction() as session:
            try:
                row = await merge_repo.undo(session, merge_id, self.clock.now(), agent.email)
            except merge_repo.MergeRefused as exc:
                raise Conflict(exc.code, exc.message) from None
            view = merge_repo.merge_view(row)
            for customer_id in (row.target_id, row.source_id):
                await self._audit(session, agent, "merge_undo", customer_id, view)
            result = {
                "merge": view,
                "source": await self._profile(session, row.source_id),
                "target": await self._profile(session, row.target_id),
            }
            # What went back: the merge's conversations and any opened on them since.
            moved_back = await conv_repo.ids_of_customer(session, row.source_id)
        await self._announce(moved_back, (row.target_id, row.source_id))
        return web.json_response(result)

    async def _announce(self, conversation_ids: Iterable[int], customer_ids: Iterable[int]) -> None:
        """After commit: consoles showing these conversations or customers fetch them again."""
        events = [{"type": "conversation", "conversation_id": i} for i in conversation_ids]
        events += [{"type": "customer", "customer_id": i} for i in customer_ids]
        for event in events:
            try:
                await self.console.router.hub.publish(CONSOLE, event)
            except Exception:  # consoles refetch; the data is committed
                log.exception("console_event_failed")

    async def duplicates(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        customer_id = int_param(request, "id")
        async with self.db.transaction() as session:
            customer = await customer_repo.get_customer(session, customer_id)
            identities = await customer_repo.identities_of(session, customer_id)
            found = await self._duplicates(session, customer, identities)
        return web.json_response({"customer_id": customer_id, "items": found})

    async def _duplicates(
        self, session: AsyncSession, customer: Customer, identities: list[Any]
    ) -> list[dict[str, Any]]:
        reasons: dict[int, list[tuple[str, str]]] = {}
        emails = {i.address for i in identities if i.channel in EMAIL_CHANNELS}
        owners = await profile_repo.owners_of(session, EMAIL_CHANNELS, emails)
        for owner_id, rows in owners.items():
            for row in rows:
                reasons.setdefault(owner_id, []).append(("email", f"same email {row.address}"))
        phones = {
            number
            for i in identities
            if i.channel in PHONE_CHANNELS and (number := self._e164(i.address))
        }
        digits = {p.lstrip("+") for p in phones}
        for row in await profile_repo.phone_identities(session, PHONE_CHANNELS, digits):
            number = self._e164(row.address)
            if number in phones:
                reasons.setdefault(row.customer_id, []).append(
                    ("phone", f"same phone {number} ({row.channel})")
                )
        if customer.display_name:
            for other_customer in await profile_repo.customers_named(
                session, customer.display_name, customer.id
            ):
                reasons.setdefault(other_customer.id, []).append(
                    ("name", f"same name {other_customer.display_name}")
                )
        reasons.pop(customer.id, None)
        items: list[dict[str, Any]] = []
        for other_id, why in reasons.items():
            other = await customer_repo.get_customer(session, other_id)
            if other.erased_at is not None or await merge_repo.merged_into(session, other_id):
                continue
            kinds = {kind for kind, _ in why}
            miss = 1.0
            for kind in kinds:
                miss *= 1 - SCORES[kind]
            items.append(
                {
                    "customer_id": other_id,
                    "display_name": other.display_name,
                    "score": round(1 - miss, 3),
                    "reasons": [text for _, text in dict.fromkeys(why)],
                    "channels": sorted(
                        {i.channel for i in await customer_repo.identities_of(session, other_id)}
                    ),
                }
            )
        items.sort(key=lambda d: (-d["score"], d["customer_id"]))
        return items[:20]

    def _e164(self, address: str) -> str | None:
        raw = address.strip()
        candidates = [raw] if raw.startswith("+") else [raw, "+" + raw.lstrip("0")]
        for candidate in candidates:
            try:
                return normalize_phone(candidate, self.console.default_region)
            except InvalidPhoneNumber:
                continue
        return None

    async def history(self, request: web.Request) -> web.Response:
        await self.console.agent(request)
        customer_id = int_param(request, "id")
        limit = _limit(request.query.get("limit", "500"))
        before = int_param(request, "before") if "before" in request.query else None
        channel = request.query.get("channel") or None
        kinds = _kinds(request.query.get("kind", ""))
        async with self.db.transaction() as session:
            await customer_repo.get_customer(session, customer_id)
            items = await tp_repo.for_customer(
                session,
                customer_id,
                before_id=before,
                channel=channel,
                kinds=kinds,
                limit=limit + 1,
            )
            more = len(items) > limit
            items = items[-limit:]
            names = await agent_repo.names(session, {t.agent_id for t in items if t.agent_id})
        return web.json_response(
            {
                "customer_id": customer_id,
                "items": [views.staff_message(t, names.get(t.agent_id or 0)) for t in items],
                "next_before": items[0].id if more and items else None,
            }
        )


def _apply(customer: Customer, body: dict[str, Any]) -> list[str]:
    changed: list[str] = []
    if "display_name" in body:
        customer.display_name = customer_input.display_name(body["display_name"])
        changed.append("display_name")
    if "locale" in body:
        customer.locale = customer_input.locale(body["locale"])
        changed.append("locale")
    if "segment" in body:
        customer.segment = customer_input.segment(body["segment"])
        changed.append("segment")
    if "attributes" in body:
        customer.attributes = customer_input.merge_attributes(
            customer.attributes or {}, body["attributes"]
        )
        changed += [f"attributes.{k}" for k in body["attributes"]]
    if "tags" in body:
        customer.tags = customer_input.tags(body["tags"])
        changed.append("tags")
    return changed


def _note(note: CustomerNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "author": note.author,
        "agent_id": note.agent_id,
        "text": note.text,
        "created_at": views.iso(note.created_at),
    }


def _kinds(text: str) -> list[TouchpointKind] | None:
    names = [k.strip() for k in text.split(",") if k.strip()]
    if not names:
        return None
    kinds: list[TouchpointKind] = []
    for name in names:
        try:
            kinds.append(TouchpointKind(name))
        except ValueError:
            raise BadRequest(
                "bad_kind",
                f"kind {name!r} is not a touchpoint kind; kinds: "
                + ", ".join(k.value for k in TouchpointKind),
            ) from None
    return kinds


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest("bad_limit", "limit must be a whole number") from None
    if not 1 <= limit <= HISTORY_MAX:
        raise BadRequest("bad_limit", f"limit must be 1..{HISTORY_MAX}")
    return limit
