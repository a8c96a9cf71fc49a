"""Button labels the messenger adapters share, per locale (English is the fallback)."""

from __future__ import annotations

# A button on every bot answer: pressing it sends this text, which the bot reads as a
# request for a person (bot/smalltalk.py knows these phrases).
HANDOFF = {
    "en": "Talk to a person",
    "th": "คุยกับพนักงาน",
    "zh": "转人工客服",
    "fa": "گفتگو با اپراتور",
}


def handoff_label(locale: str | None) -> str:
    return HANDOFF.get((locale or "en").split("-")[0], HANDOFF["en"])
