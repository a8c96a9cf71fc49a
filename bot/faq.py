"""The embedded FAQ bot: small talk, handoff requests, and answers retrieved from the KB."""

from __future__ import annotations

from bot import smalltalk
from bot.assistant import BotContext, BotReply, Intent, SuggestedArticle
from bot.templates import TEMPLATES, say
from knowledge_base.index import IndexedArticle
from knowledge_base.service import KnowledgeBase
from knowledge_base.text import detect_language


class FaqAssistant:
    """Answers from the knowledge base; its confidence is the best match's score: the index's
    calibrated probability that the article answers the question (see knowledge_base.index),
    which the router compares with ``bot.threshold``."""

    does_io = False  # in-memory search only

    def __init__(
        self, kb: KnowledgeBase, *, default_locale: str = "en", suggestions: int = 2
    ) -> None:
        self._kb = kb
        self._default_locale = default_locale
        self._suggestions = suggestions

    async def respond(self, context: BotContext) -> BotReply:
        default = context.locale or self._default_locale
        # The languages we can answer in settle near neighbours (Malay or Indonesian, Persian
        # or Dari); a text clearly in another language is still named as such.
        candidates = {*self._kb.index.locales, *TEMPLATES, default, self._default_locale}
        locale = detect_language(context.text, default=default, candidates=candidates)
        intent = smalltalk.classify(context.text)
        if intent is not None:
            text = "" if intent is Intent.HANDOFF else say(intent.value, locale)
            return BotReply(intent=intent, confidence=1.0, text=text, locale=locale)
        matches = self._kb.search(context.text, limit=1 + self._suggestions + 3)
        if not matches:
            return BotReply(intent=Intent.UNKNOWN, confidence=0.0, locale=locale)
        best = matches[0]
        article = self._variant(best.article, locale)
        seen = {best.article.id}
        suggestions: list[SuggestedArticle] = []
        for match in matches[1:]:
            if match.article.id in seen or len(suggestions) >= self._suggestions:
                continue
            seen.add(match.article.id)
            variant = self._variant(match.article, locale)
            suggestions.append(
                SuggestedArticle(
                    variant.id, variant.locale, variant.title, match.score, summary(variant.body)
                )
            )
        return BotReply(
            intent=Intent.FAQ,
            confidence=best.score,
            text=article.body,
            locale=locale,
            article_id=article.id,
            article_locale=article.locale,
            article_title=article.title,
            suggestions=tuple(suggestions),
        )

    def _variant(self, article: IndexedArticle, locale: str) -> IndexedArticle:
        """The same article in the customer's language when one exists."""
        if article.locale == locale:
            return article
        return self._kb.index.get(article.id, locale) or article


def summary(body: str, limit: int = 280) -> str:
    """The article's first words up to ``limit`` characters, cut at a word where there is one."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"
