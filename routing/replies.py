"""What the router says back and how: the replies' metadata, the threading headers, and why
nothing may be sent right now. Pure functions over the models."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from bot.assistant import BotReply, Intent
from bot.faq import summary
from channels.base import ChannelTraits
from storage.models import ContactIdentity, Conversation, Touchpoint


def refusal(
    conv: Conversation,
    identity: ContactIdentity,
    traits: ChannelTraits,
    last: Touchpoint | None,
    now: datetime,
) -> tuple[str, str, str] | None:
    """Why nothing may be sent to this customer now: (not_sent, error code, reason)."""
    if identity.opted_out_at is not None:
        return (
            "opted_out",
            "customer_opted_out",
            f"the customer opted out of messages on {identity.channel} "
            f"({identity.opted_out_at:%Y-%m-%d %H:%M} UTC); nothing can be sent until they "
            "opt back in",
        )
    window = traits.reply_window
    if window is not None and (last is None or now - last.created_at > window):
        return (
            "reply_window",
            "outside_reply_window",
            f"{conv.channel} allows replies only within {window.total_seconds() / 3600:g} hours "
            "of the customer's last message (after that, only approved templates); wait for the "
            "customer to write again",
        )
    if not traits.outbound:  # said in the call as it happened: nothing to send
        return (
            "spoken",
            "not_writable",
            f"this is a {conv.channel} conversation: talk to the customer, or note it",
        )
    return None


def thread_headers(conv: Conversation, last: Touchpoint | None) -> dict[str, Any]:
    """What a threaded reply needs: the subject and the message it answers."""
    message_id = last.meta.get("message_id") if last is not None else None
    references = list(last.meta.get("references", [])) if last is not None else []
    if message_id and message_id not in references:
        references.append(message_id)
    return {"subject": conv.subject, "in_reply_to": message_id, "references": references}


def answer_meta(
    reply: BotReply, question: str | None = None, *, rate: bool = False
) -> dict[str, Any]:
    """What a bot answer's touchpoint records: the article, the confidence, the suggestions,
    and the customer's ``question`` with its language (what knowledge-gap reports read).
    ``rate``: an answered question the customer is asked to rate ("was this helpful?")."""
    meta: dict[str, Any] = {
        "intent": reply.intent.value,
        "article_id": reply.article_id,
        "article_locale": reply.article_locale,
        "confidence": round(reply.confidence, 4),
        "suggestions": [
            {
                "article_id": s.article_id,
                "title": s.title,
                "score": round(s.score, 4),
                **({"summary": s.summary} if s.summary else {}),
            }
            for s in reply.suggestions
        ],
    }
    if question is not None:
        meta.update(question=question, locale=reply.locale)
    if rate and reply.article_id:
        meta["asks_feedback"] = True
        # Proves a vote from a link (an email's "was this helpful?") is about this answer.
        meta["feedback_token"] = secrets.token_urlsafe(16)
    return meta


def recorded_answer(meta: dict[str, Any]) -> BotReply:
    """The bot's proposal as an answer's touchpoint recorded it (article and confidence)."""
    return BotReply(
        intent=Intent.FAQ,
        confidence=float(meta.get("confidence") or 0.0),
        locale=str(meta.get("locale") or "en"),
        article_id=meta.get("article_id"),
        article_locale=meta.get("article_locale"),
    )


def nearest_articles(reply: BotReply) -> list[dict[str, Any]]:
    """The bot's best guesses, below its threshold: offered to read, never as the answer."""
    nearest = []
    if reply.article_id and reply.article_title:
        nearest.append(
            {
                "article_id": reply.article_id,
                "title": reply.article_title,
                "score": round(reply.confidence, 4),
                "summary": summary(reply.text),
            }
        )
    return nearest + answer_meta(reply)["suggestions"]
