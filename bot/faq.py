"""The embedded FAQ bot: small talk, handoff requests, and answers retrieved from the KB."""

from __future__ import annotations

from dataclasses import replace

from bot import smalltalk
from bot.assistant import BotContext, BotReply, Intent, SuggestedArticle
from bot.templates import TEMPLATES, say
from knowledge_base import chinese
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
        """The same article in the customer's language when one exists. A Traditional
        Chinese reader gets a Traditional variant (zh-Hant, zh-TW, ...) when there is one,
        else the Chinese one converted to Traditional script (its locale stays the source's,
        so votes and reports name the article that was stored)."""
        if article.locale == locale:
            return article
        found = self._kb.index.get(article.id, locale)
        if found is not None or not chinese.is_traditional_locale(locale):
            return found or article
        variants = self._kb.index.variants(article.id)
        for variant in variants:
            if chinese.is_traditional_locale(variant.locale):
                return variant
        source = next((v for v in variants if v.locale.split("-")[0] == "zh"), None)
        if source is None:
            return article
        return replace(
            source,
            title=chinese.to_traditional(source.title),
            body=chinese.to_traditional(source.body),
        )


def summary(body: str, limit: int = 280) -> str:
    """The article's first words up to ``limit`` characters, cut at a word where there is one."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"
