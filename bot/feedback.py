"""Reading "was this helpful?": a customer's vote on the bot's last answer, in any locale.

A button press arrives as the customer's text: the button's label ("👍 Helpful", "👎 ไม่มีประโยชน์"),
or, from a client that hands over the raw payload, the label wrapped the way our buttons carry
it (``sb:text:…`` on Messenger, ``t:…`` on Telegram, ``s:…`` on WhatsApp, ``{"t": …}`` on LINE).
A bare 👍 or 👎 (any skin tone) counts too. Anything else, "👍 thanks" included, is a message.

The labels are the ones of ``channels.buttons`` (the bot never imports a channel; a test keeps
the two lists in step).
"""

from __future__ import annotations

import json
import re

from knowledge_base.text import normalize

__all__ = ["classify"]

_EMOJI = {"👍": True, "👎": False}
# Labels without their emoji, spaces removed, as ``_key`` leaves them.
_LABELS = {
    "helpful": True,
    "nothelpful": False,
    "มีประโยชน์": True,
    "ไม่มีประโยชน์": False,
    "有帮助": True,
    "没有帮助": False,
    "没帮助": False,
    "مفیدبود": True,
    "مفیدنبود": False,
}
_PAYLOAD_PREFIXES = ("sb:text:", "t:", "s:")
# Emoji presentation selectors and skin-tone modifiers: 👍🏽 is still 👍.
_MODIFIERS = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
_NOISE = re.compile(r"[\s!?.,。！？،؟~\"'“”«»()\[\]-]+")


def classify(text: str) -> bool | None:
    """True for "helpful", False for "not helpful", None when the text is not a vote."""
    key = _NOISE.sub("", _MODIFIERS.sub("", normalize(_unwrap(text))))
    if not key:
        return None
    votes = {vote for emoji, vote in _EMOJI.items() if emoji in key}
    words = key
    for emoji in _EMOJI:
        words = words.replace(emoji, "")
    if words:
        if words not in _LABELS:
            return None  # words besides the vote: a message
        votes.add(_LABELS[words])
    return votes.pop() if len(votes) == 1 else None


def _unwrap(text: str) -> str:
    """The label a raw button payload carries, else the text itself."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        label = data.get("t") if isinstance(data, dict) else None
        return label if isinstance(label, str) else text
    for prefix in _PAYLOAD_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text
