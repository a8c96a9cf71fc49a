"""Customers to and from CSV: ``name, email, phone, locale, tags`` (separated by ``|``) and
``attr.<key>`` columns. An import is checked whole before anything is written, and written in
one transaction: a bad row names its line and nothing is imported."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.errors import SwitchboardError
from channels.phone import InvalidPhoneNumber, normalize_phone
from console import customer_input
from routing.inbound import PHONE_CHANNELS
from routing.segments import SegmentPolicy, reprofile
from storage.db import Database
from storage.models import ContactIdentity, Customer
from storage.repos import customers as customer_repo
from storage.repos import merges as merge_repo

COLUMNS = ("name", "email", "phone", "locale", "tags")
IGNORED = ("id",)  # written by the export, so its file imports again
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,8}")
BATCH = 1000

Progress = Callable[[int, int], None]


@dataclass
class Row:
    line: int
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    tags: list[str] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


def read_rows(path: Path, default_region: str) -> list[Row]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SwitchboardError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SwitchboardError(f"{path}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS + IGNORED and not h.startswith("attr.")]
    if unknown:
        raise SwitchboardError(
            f"{path}: unknown column(s) {', '.join(unknown)}; columns are "
            f"{', '.join(COLUMNS)} and attr.<key>"
        )
    if "email" not in header and "phone" not in header:
        raise SwitchboardError(f"{path}: an email or a phone column is needed")
    rows: list[Row] = []
    try:
        for raw in reader:
            line = reader.line_num
            cells = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
            rows.append(_row(line, cells, default_region))
    except csv.Error as exc:
        raise SwitchboardError(f"{path}: line {reader.line_num}: {exc}") from None
    return rows


def _row(line: int, cells: dict[str, str], region: str) -> Row:
    row = Row(line)
    try:
        if cells.get("email"):
            email = cells["email"].lower()
            if len(email) > 320 or not EMAIL.fullmatch(email):
                raise customer_input.InvalidField("email", f"{cells['email']!r} is not an address")
            row.email = email
        if cells.get("phone"):
            try:
                row.phone = normalize_phone(cells["phone"], region)
            except InvalidPhoneNumber as exc:
                raise customer_input.InvalidField("phone", str(exc)) from None
        if not row.email and not row.phone:
            raise SwitchboardError(f"line {line}: a row needs an email or a phone")
        row.name = customer_input.display_name(cells.get("name") or None)
        row.locale = customer_input.locale(cells.get("locale") or None)
        if cells.get("tags"):
            row.tags = customer_input.tags(cells["tags"].split("|"))
        for key, value in cells.items():
            if key.startswith("attr.") and value:
                name = customer_input.attribute_key(key.removeprefix("attr."))
                row.attributes[name] = customer_input.attribute_value(name, _scalar(value))
        customer_input.merge_attributes({}, row.attributes)
    except customer_input.InvalidField as exc:
        raise SwitchboardError(f"line {line}: {exc}") from None
    return row


def _scalar(text: str) -> str | int | float:
    """Plain numbers become numbers ("12", "1234.50"); anything else stays text ("007")."""
    if _INT.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text


async def import_rows(
    db: Database,
    rows: list[Row],
    now: datetime,
    progress: Progress | None = None,
    segments: SegmentPolicy | None = None,
) -> dict[str, int]:
    """With ``segments``, the customers whose attributes or tags the rows set get their
    segment and lifecycle recomputed in the same transaction."""
    counts = {"created": 0, "updated": 0}
    changed: set[int] = set()
    async with db.transaction() as session:
        for done, row in enumerate(rows, start=1):
            customer_id, created = await _upsert(session, row, now)
            counts["created" if created else "updated"] += 1
            if row.attributes or row.tags is not None:
                changed.add(customer_id)
            if progress:
                progress(done, len(rows))
        if segments is not None:
            ids = sorted(changed)
            for start in range(0, len(ids), BATCH):
                await reprofile(session, ids[start : start + BATCH], now, segments)
    return counts


async def _upsert(session: AsyncSession, row: Row, now: datetime) -> tuple[int, bool]:
    """The row's customer (found by email or phone, else new) updated; (id, created)."""
    by_email = (
        await customer_repo.customer_with_address(session, ("email",), row.email)
        if row.email
        else None
    )
    by_phone = (
        await customer_repo.customer_with_address(session, PHONE_CHANNELS, row.phone)
        if row.phone
        else None
    )
    if by_email and by_phone and by_email.id != by_phone.id:
        raise SwitchboardError(
            f"line {row.line}: the email is customer {by_email.id}'s and the phone customer "
            f"{by_phone.id}'s: merge them first"
        )
    customer = by_email or by_phone
    created = customer is None
    if customer is None:
        customer = Customer(created_at=now, updated_at=now, attributes={}, tags=[])
        session.add(customer)
        await session.flush()
    if row.email and by_email is None:
        await customer_repo.add_identity(session, customer.id, "email", row.email, now)
    if row.phone and by_phone is None:
        await customer_repo.add_identity(session, customer.id, "phone", row.phone, now)
    customer.display_name = row.name or customer.display_name
    customer.locale = row.locale or customer.locale
    if row.tags is not None:
        customer.tags = row.tags
    if row.attributes:
        try:
            customer.attributes = customer_input.merge_attributes(
                customer.attributes or {}, row.attributes
            )
        except customer_input.InvalidField as exc:
            raise SwitchboardError(f"line {row.line}: {exc}") from None
    customer.updated_at = now
    return customer.id, created


async def export_text(db: Database) -> tuple[str, int]:
    """Every live customer (not erased, not merged into another) as CSV, and how many."""
    records: list[dict[str, Any]] = []
    keys: set[str] = set()
    last = 0
    while True:
        async with db.transaction() as session:
            customers = list(
                (
                    await session.scalars(
                        select(Customer)
                        .where(Customer.id > last, Customer.erased_at.is_(None))
                        .order_by(Customer.id)
                        .limit(BATCH)
                    )
                ).all()
            )
            if not customers:
                break
            last = customers[-1].id
            identities = await _identities(session, [c.id for c in customers])
            for customer in customers:
                if await merge_repo.merged_into(session, customer.id):
                    continue
                own = identities.get(customer.id, [])
                attributes = dict(customer.attributes or {})
                keys |= set(attributes)
                records.append(
                    {
                        "id": customer.id,
                        "name": customer.display_name or "",
                        "email": next((i.address for i in own if i.channel == "email"), ""),
                        "phone": next((i.address for i in own if i.channel in PHONE_CHANNELS), ""),
                        "locale": customer.locale or "",
                        "tags": "|".join(customer.tags or []),
                        **{f"attr.{k}": v for k, v in attributes.items()},
                    }
                )
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=["id", *COLUMNS, *(f"attr.{k}" for k in sorted(keys))],
        lineterminator="\n",
    )
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue(), len(records)


async def _identities(
    session: AsyncSession, customer_ids: list[int]
) -> dict[int, list[ContactIdentity]]:
    rows = await session.scalars(
        select(ContactIdentity)
        .where(ContactIdentity.customer_id.in_(customer_ids))
        .order_by(ContactIdentity.id)
    )
    found: dict[int, list[ContactIdentity]] = {}
    for identity in rows:
        found.setdefault(identity.customer_id, []).append(identity)
    return found
