"""The bot: proposes an answer with a confidence; the router decides whether to send it."""

from bot.assistant import Assistant, BotContext, BotReply, Intent

__all__ = ["Assistant", "BotContext", "BotReply", "Intent"]
