"""Graph API error bodies, and the checks WhatsApp's ``/messages`` endpoint makes on what it is
sent (the documented limits of text, reply-button and list messages)."""

from __future__ import annotations

import secrets
from typing import Any

TEXT_LIMIT = 4096


class GraphError(Exception):
    def __init__(self, status: int, body: dict[str, Any], retry_after: str | None = None) -> None:
        super().__init__(body["error"]["message"])
        self.status, self.body, self.retry_after = status, body, retry_after


def graph_error(
    code: int,
    message: str,
    *,
    type: str = "OAuthException",
    subcode: int | None = None,
    details: str | None = None,
) -> dict[str, Any]:
    """A Graph API error body, as Meta writes it."""
    error: dict[str, Any] = {"message": message, "type": type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return {"error": error}


def window_closed() -> dict[str, Any]:
    """Error 131047: the customer wrote more than 24 hours ago."""
    return graph_error(
        131047,
        "(#131047) Re-engagement message",
        details="Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
    )


def _invalid(details: str) -> GraphError:
    return GraphError(
        400, graph_error(131009, "(#131009) Parameter value is not valid", details=details)
    )


def _missing(name: str) -> GraphError:
    return GraphError(400, graph_error(100, f"(#100) The parameter {name} is required."))


def _at_most(name: str, value: str, limit: int) -> None:
    if not value:
        raise _missing(name)
    if len(value) > limit:
        raise GraphError(
            400, graph_error(100, f"(#100) Param {name} must be at most {limit} characters long.")
        )


def check_message(payload: Any) -> None:
    """Raise the GraphError WhatsApp would answer ``payload`` with, if any."""
    if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
        raise _missing("messaging_product")
    to = payload.get("to")
    if not isinstance(to, str) or not to:
        raise _missing("to")
    if not to.lstrip("+").isdigit():
        raise GraphError(400, graph_error(131030, "(#131030) Recipient phone number not valid"))
    kind = payload.get("type", "text")
    part = payload.get(kind)
    if not isinstance(part, dict):
        raise _missing(kind)
    if kind == "text":
        _at_most("text['body']", str(part.get("body") or ""), TEXT_LIMIT)
    elif kind == "interactive":
        _check_interactive(part)
    else:
        raise GraphError(400, graph_error(100, f"(#100) Unsupported message type {kind} here"))


def _check_interactive(part: dict[str, Any]) -> None:
    body = part.get("body")
    text = str(body.get("text") or "") if isinstance(body, dict) else ""
    action = part.get("action")
    if not isinstance(action, dict):
        raise _missing("interactive['action']")
    if part.get("type") == "button":
        _at_most("interactive['body']['text']", text, 1024)
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            raise _invalid("Number of buttons must be between 1 and 3")
        choices = [(b["reply"]["id"], b["reply"]["title"]) for b in buttons]
        _check_choices(choices, title_limit=20, id_limit=256, what="Button")
    elif part.get("type") == "list":
        _at_most("interactive['body']['text']", text, 4096)
        _at_most("interactive['action']['button']", str(action.get("button") or ""), 20)
        rows = [row for section in action.get("sections") or [] for row in section.get("rows", [])]
        if not 1 <= len(rows) <= 10:
            raise _invalid("Total row count exceed max allowed count: 10")
        for row in rows:
            if len(row.get("description", "")) > 72:
                raise _invalid("Row description length invalid. Max length: 72")
        _check_choices(
            [(r["id"], r["title"]) for r in rows], title_limit=24, id_limit=200, what="Row"
        )
    else:
        raise _invalid(f"Unsupported interactive type {part.get('type')}")


def _check_choices(
    choices: list[tuple[str, str]], *, title_limit: int, id_limit: int, what: str
) -> None:
    for choice_id, title in choices:
        if not 1 <= len(title) <= title_limit:
            raise _invalid(f"{what} title length invalid. Min length: 1, Max length: {title_limit}")
        if not 1 <= len(choice_id) <= id_limit:
            raise _invalid(f"{what} id length invalid. Min length: 1, Max length: {id_limit}")
    if len({t for _, t in choices}) != len(choices):
        raise _invalid(f"{what} titles must be unique")
    if len({i for i, _ in choices}) != len(choices):
        raise _invalid(f"{what} ids must be unique")
