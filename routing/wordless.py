"""Messages with no question in them, which the router answers without asking the bot.

A platform's opener (Telegram's ``/start``, Messenger's Get Started, LINE's follow, WhatsApp's
welcome request: ``MessageKind.OPENER``) is greeted; media without words (a picture or file
without a caption, a sticker, a location, a contact card: ``InboundMessage.media_only``) is
asked to be put into words. Neither is searched in the knowledge base nor counted as a miss
(``bot_misses`` stays as it was), and neither is taken for a satisfaction survey's answer; an
opener never reopens a closed conversation (it starts a new one, with the bot). Only a
conversation with the bot is answered so: one with the humans gets the message like any other
(the agent sees the picture).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.assistant import Intent
from bot.templates import say
from channels.base import InboundMessage, MessageKind

__all__ = ["Said", "no_question", "reply"]


@dataclass(frozen=True)
class Said:
    """The bot's reply to a message without a question, and the bot-outcome metric's label."""

    text: str
    meta: dict[str, Any]
    outcome: str


def no_question(msg: InboundMessage) -> bool:
    """An opener or media without words: nothing to ask the bot, nothing to answer a survey."""
    return msg.kind is MessageKind.OPENER or msg.media_only


def reply(msg: InboundMessage, locale: str) -> Said:
    """What the bot says, in ``locale``, to a message with no question (see ``no_question``):
    the greeting to an opener, else the request for words."""
    if msg.kind is MessageKind.OPENER:
        meta = {"intent": Intent.GREET.value, "event": MessageKind.OPENER.value}
        return Said(say("greet", locale), meta, "opener")
    return Said(say("describe_in_words", locale), {"intent": "media_only"}, "media_only")
