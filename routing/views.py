"""JSON shapes of conversations and touchpoints, shared by the chat socket and the staff API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.models import AuthorKind, Conversation, Customer, Touchpoint


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def customer_message(tp: Touchpoint, author_name: str | None = None) -> dict[str, Any]:
    """A touchpoint as the customer sees it (no staff-only metadata)."""
    meta = tp.meta or {}
    return {
        "id": tp.id,
        "author": tp.author_kind.value,
        "author_name": author_name if tp.author_kind is AuthorKind.AGENT else None,
        "text": tp.text,
        "created_at": iso(tp.created_at),
        "state": tp.delivery_state.value if tp.delivery_state else None,
        "client_id": meta.get("client_id"),
        "suggestions": [
            {"article_id": s["article_id"], "title": s["title"]}
            for s in meta.get("suggestions", [])
        ],
    }


def staff_message(tp: Touchpoint, author_name: str | None = None) -> dict[str, Any]:
    return {
        "id": tp.id,
        "conversation_id": tp.conversation_id,
        "channel": tp.channel,
        "kind": tp.kind.value,
        "direction": tp.direction.value,
        "author": tp.author_kind.value,
        "author_name": author_name,
        "agent_id": tp.agent_id,
        "text": tp.text,
        "created_at": iso(tp.created_at),
        "state": tp.delivery_state.value if tp.delivery_state else None,
        "meta": tp.meta or {},
    }


def conversation(
    conv: Conversation,
    customer: Customer | None = None,
    *,
    last: Touchpoint | None = None,
    assignee_name: str | None = None,
) -> dict[str, Any]:
    return {
        "id": conv.id,
        "customer": {
            "id": conv.customer_id,
            "display_name": customer.display_name if customer else None,
        },
        "channel": conv.channel,
        "status": conv.status.value,
        "priority": conv.priority,
        "reference": conv.reference,
        "subject": conv.subject,
        "locale": conv.locale,
        "assignee": {"id": conv.assignee_id, "name": assignee_name} if conv.assignee_id else None,
        "queued_at": iso(conv.queued_at),
        "assigned_at": iso(conv.assigned_at),
        "closed_at": iso(conv.closed_at),
        "created_at": iso(conv.created_at),
        "updated_at": iso(conv.updated_at),
        "last_message": (
            {
                "text": last.text,
                "author": last.author_kind.value,
                "created_at": iso(last.created_at),
            }
            if last
            else None
        ),
    }
