"""Paraphrases in each language we serve find their article: the text folding and features
behind the index (knowledge_base.text, knowledge_base.chinese), and Traditional Chinese
answers from Simplified articles."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.assistant import BotContext, Intent
from bot.faq import FaqAssistant
from bot.templates import say
from knowledge_base import chinese
from knowledge_base.importer import read_articles
from knowledge_base.index import IndexedArticle, Match, SearchIndex
from knowledge_base.text import features, normalize

ROOT = Path(__file__).resolve().parent.parent


def demo_articles() -> list[IndexedArticle]:
    return [
        IndexedArticle(a["id"], a["locale"], a["title"], a["body"], tuple(a.get("questions") or ()))
        for a in read_articles(ROOT / "config" / "demo_kb.yaml")
    ]


@pytest.fixture(scope="module")
def demo() -> SearchIndex:
    return SearchIndex(demo_articles(), semantic=None)


def top(index: SearchIndex, question: str) -> tuple[str, str]:
    best = index.search(question, limit=3)[0]
    return best.article.id, best.article.locale


# ---- Chinese ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "怎么退货？",
        "如何退货",
        "咋退货啊",
        "东西怎么退回去",
        "买的东西想退掉怎么弄",
        "怎样申请退货",
    ],
)
def test_chinese_question_words_and_verbs_vary(demo: SearchIndex, question: str) -> None:
    assert top(demo, question) == ("return-policy", "zh")


def test_traditional_chinese_is_folded_to_simplified_for_search() -> None:
    assert normalize("請問怎麼退貨？網路訂單") == "请问怎么退货?网络订单"
    assert features("怎麼退貨") == features("怎么退货")
    # Taiwan's words become the mainland's, not only the characters: 網路 → 网络, 軟體 → 软件.
    assert chinese.to_simplified("軟體更新") == "软件更新"


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("請問怎麼退貨？", "return-policy"),
        ("我的包裹到哪裡了", "order-tracking"),
        ("忘記密碼了怎麼辦", "reset-password"),
        ("退款多久會到帳", "refund-time"),
    ],
)
def test_a_traditional_question_finds_the_simplified_article(
    demo: SearchIndex, question: str, article: str
) -> None:
    assert top(demo, question) == (article, "zh")


class _Kb:
    def __init__(self, articles: list[IndexedArticle]) -> None:
        self.index = SearchIndex(articles, semantic=None)

    def search(self, question: str, limit: int = 5) -> list[Match]:
        return self.index.search(question, limit=limit)


async def test_a_traditional_question_is_answered_in_traditional_script() -> None:
    bot = FaqAssistant(_Kb(demo_articles()))  # type: ignore[arg-type]
    [source] = [a for a in demo_articles() if (a.id, a.locale) == ("return-policy", "zh")]

    reply = await bot.respond(BotContext("請問怎麼退貨？", 1, 1, "webchat"))

    assert (reply.intent, reply.locale) == (Intent.FAQ, "zh-Hant")
    # The Simplified article converted (Taiwan phrasing), named as the article that is stored.
    assert (reply.article_id, reply.article_locale) == ("return-policy", "zh")
    assert reply.text == chinese.to_traditional(source.body) and reply.text != source.body
    assert reply.article_title == "如何退貨？"
    assert "货" not in reply.text and "貨" in reply.text


async def test_a_zh_hant_variant_is_preferred_to_a_conversion() -> None:
    articles = [
        *demo_articles(),
        IndexedArticle("return-policy", "zh-Hant", "如何退貨？", "請於 30 天內申請退貨。", ()),
    ]
    bot = FaqAssistant(_Kb(articles))  # type: ignore[arg-type]

    reply = await bot.respond(BotContext("請問怎麼退貨？", 1, 1, "webchat"))

    assert (reply.article_locale, reply.text) == ("zh-Hant", "請於 30 天內申請退貨。")


async def test_a_traditional_greeting_is_answered_in_traditional() -> None:
    bot = FaqAssistant(_Kb(demo_articles()))  # type: ignore[arg-type]

    reply = await bot.respond(BotContext("謝謝", 1, 1, "webchat"))

    assert (reply.intent, reply.locale) == (Intent.THANKS, "zh-Hant")
    assert reply.text == say("thanks", "zh-Hant") == chinese.to_traditional(say("thanks", "zh"))
    assert say("thanks", "zh-TW") == say("thanks", "zh-Hant") != say("thanks", "zh")


# ---- Thai ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "ติดตามพัสดุได้อย่างไร",
        "ติดตามพัสดุได้ไหมครับ",
        "ติดตามพัสดุได้มั้ยคะ",
        "ขอเช็คพัสดุหน่อยค่ะ",
        "ของถึงไหนแล้วคะ",
    ],
)
def test_thai_particles_and_spellings_do_not_move_the_answer(
    demo: SearchIndex, question: str
) -> None:
    assert top(demo, question) == ("order-tracking", "th")


# ---- Persian ---------------------------------------------------------------------------------


def test_persian_zwnj_space_and_joined_spellings_are_one_word() -> None:
    joined, zwnj, spaced = "میخوام سفارشها", "می\u200cخوام سفارش\u200cها", "می خوام سفارش ها"
    assert features(joined) == features(zwnj) == features(spaced)
    # Arabic-keyboard letters: ي for ی, ك for ک.
    assert normalize("پيگيري كد") == normalize("پیگیری کد")


@pytest.mark.parametrize(
    "question",
    [
        "چطوری سفارشمو پیگیری کنم؟",
        "ميخوام سفارشم رو پيگيري كنم",  # Arabic yeh and kaf, no ZWNJ
        "می‌خوام سفارشم را پیگیری کنم",
        "کد رهگیری سفارش",
    ],
)
def test_persian_colloquial_and_letter_variants(demo: SearchIndex, question: str) -> None:
    assert top(demo, question) == ("order-tracking", "fa")


# ---- English ---------------------------------------------------------------------------------


def test_english_contractions_are_the_words_they_stand_for() -> None:
    assert features("I can't log in") == features("I cant log in") == features("I cannot log in")
    assert features("it won't arrive") == features("it will not arrive")
    assert features("where’s my parcel") == features("where's my parcel")


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("i cant log in, forgot my pasword", "reset-password"),
        ("wheres my pakage", "order-tracking"),
        ("how long til my refund shows up", "refund-time"),
        ("do u take paypal", "payment-methods"),
    ],
)
def test_english_typos_and_contractions(demo: SearchIndex, question: str, article: str) -> None:
    assert top(demo, question) == (article, "en")
