"""Button labels the messenger adapters share, per locale (English is the fallback).

Every label fits the tightest provider limit we render it into: 20 characters (WhatsApp reply
buttons and Messenger/LINE quick replies, counted as UTF-16 units, so an emoji counts twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A button on every bot answer: pressing it sends this text, which the bot reads as a
# request for a person (bot/smalltalk.py knows these phrases).
HANDOFF = {
    "en": "Talk to a person",
    "th": "คุยกับพนักงาน",
    "zh": "转人工客服",
    "fa": "گفتگو با اپراتور",
}

# "Was this helpful?" on an answered FAQ: pressing one sends its text, which the router reads
# as a vote on that answer (bot/feedback.py knows these labels, in every locale).
HELPFUL = {
    "en": "👍 Helpful",
    "th": "👍 มีประโยชน์",
    "zh": "👍 有帮助",
    "fa": "👍 مفید بود",
}
NOT_HELPFUL = {
    "en": "👎 Not helpful",
    "th": "👎 ไม่มีประโยชน์",
    "zh": "👎 没有帮助",
    "fa": "👎 مفید نبود",
}


def _lang(locale: str | None) -> str:
    return (locale or "en").split("-")[0]


def handoff_label(locale: str | None) -> str:
    return HANDOFF.get(_lang(locale), HANDOFF["en"])


def feedback_labels(locale: str | None) -> tuple[str, str]:
    """The "helpful" and "not helpful" labels, in that order."""
    lang = _lang(locale)
    return HELPFUL.get(lang, HELPFUL["en"]), NOT_HELPFUL.get(lang, NOT_HELPFUL["en"])


def feedback_link(base_url: str, touchpoint_id: int, token: str, vote: str) -> str:
    """The link that casts ``vote`` (helpful | not_helpful) on an answer, for channels
    without buttons (channels.feedback_links serves it)."""
    return f"{base_url.rstrip('/')}/feedback/{touchpoint_id}/{token}?vote={vote}"


def asks_feedback(meta: Mapping[str, Any]) -> bool:
    """Whether an outbound message is an answer the customer may rate (the router marks it)."""
    return bool(meta.get("asks_feedback"))
