"""Language detection: script first, then py3langid for Latin script, with a safe default."""

from __future__ import annotations

import pytest

from bot.assistant import BotContext, Intent
from bot.faq import FaqAssistant
from bot.templates import say
from knowledge_base import language, text
from knowledge_base.index import IndexedArticle, Match, SearchIndex
from knowledge_base.language import Detection, detect, detect_language

KB_LOCALES = {"en", "th", "zh", "fa"}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("สวัสดีค่ะ สั่งของไปสามวันแล้วยังไม่ได้รับเลย ช่วยเช็คให้หน่อยได้ไหมคะ", "th"),
        ("iphone16ราคาเท่าไหร่", "th"),
        ("สั่ง Samsung Galaxy S24 Ultra ได้ไหม", "th"),
        ("你好，我上周下的订单到现在还没有发货，请帮我查一下", "zh"),
        ("你好，我上週下的訂單到現在還沒有出貨，請幫我查一下", "zh-Hant"),
        ("iPhone 16 有货吗", "zh"),
        ("سلام، سفارشم را هفته پیش ثبت کردم ولی هنوز به دستم نرسیده است", "fa"),
        ("مرحبا، طلبت منتجا الأسبوع الماضي ولم يصلني حتى الآن، أين طلبي؟", "ar"),
        ("先週注文した商品がまだ届いていません。確認していただけますか", "ja"),
        ("안녕하세요, 지난주에 주문한 상품이 아직 도착하지 않았어요. 확인 부탁드립니다", "ko"),
        ("Hi, I ordered a phone case last week and it still hasn't arrived", "en"),
        ("Hola, hice un pedido la semana pasada y todavía no me ha llegado", "es"),
        (
            "Bonjour, j'ai passé une commande la semaine dernière et je ne l'ai toujours pas reçue",
            "fr",
        ),
        ("Hallo, ich habe letzte Woche bestellt und die Lieferung ist immer noch nicht da", "de"),
        ("Olá, fiz um pedido na semana passada e ainda não recebi nada", "pt"),
        ("Halo kak, saya pesan minggu lalu tapi barangnya belum sampai juga sampai sekarang", "id"),
        ("Chào shop, tôi đặt hàng tuần trước mà đến giờ vẫn chưa nhận được hàng", "vi"),
        ("Buongiorno, ho ordinato la settimana scorsa ma il pacco non è ancora arrivato", "it"),
        ("Hallo, ik heb vorige week besteld maar mijn pakket is nog steeds niet aangekomen", "nl"),
        ("Merhaba, geçen hafta sipariş verdim ama kargom hala gelmedi", "tr"),
        ("Здравствуйте, я заказал телефон на прошлой неделе, но он до сих пор не пришёл", "ru"),
    ],
)
def test_detects_customer_questions(message: str, expected: str) -> None:
    assert detect_language(message, default="xx") == expected


@pytest.mark.parametrize(
    "message",
    [
        "ok",
        "OK!",
        "iPhone 16",
        "ORD-2024-88812",
        "#A77812",
        "👍👍🙏",
        "",
        "   ",
        "?!",
        "thx",
        "lol",
    ],
)
def test_short_or_ambiguous_text_gets_the_default(message: str) -> None:
    assert detect_language(message, default="th") == "th"
    assert detect_language(message, default="es", candidates=KB_LOCALES | {"es"}) == "es"
    assert not detect(message).determined


def test_default_is_the_conversation_locale() -> None:
    assert detect_language("gracias", default="es") == "es"
    assert detect_language("https://shop.example.com/orders/123456", default="id") == "id"


def test_persian_needs_a_persian_only_letter() -> None:
    assert detect_language("سلام") == "ar"  # shared by both; as before, Arabic
    assert detect_language("چطور") == "fa"
    assert detect_language("یک") == "fa"  # Farsi yeh
    assert detect("می‌خواهم سفارشم را لغو کنم") == Detection("fa", 1.0, "Arabic")


def test_kanji_only_text_goes_by_the_candidates() -> None:
    assert detect_language("東京駅") == "zh-Hant"  # 東 is Traditional (东)
    assert detect_language("東京駅", candidates={"en", "ja"}) == "ja"
    assert detect_language("سلام", candidates={"en", "fa"}) == "fa"
    # A candidate list never turns a script's language into something else.
    assert detect_language("ส่งของเมื่อไหร่", candidates={"en", "zh"}) == "th"


def test_candidates_restrict_the_choice() -> None:
    indonesian = "Saya mau tanya soal pesanan saya yang belum sampai"
    assert detect_language(indonesian, candidates={"en", "id"}) == "id"
    assert detect_language(indonesian, candidates={"en", "ms"}) == "ms"
    # Confidently a language the knowledge base does not have: the default, not the nearest.
    spanish = "¿Dónde está mi pedido? No ha llegado todavía"
    assert detect_language(spanish, default="th", candidates=KB_LOCALES) == "th"
    assert detect_language(spanish, default="th", candidates=KB_LOCALES | {"es"}) == "es"


def test_candidates_keep_their_spelling() -> None:
    message = "Olá, fiz um pedido na semana passada e ainda não recebi nada"
    assert detect_language(message, candidates={"en", "pt-BR"}) == "pt-BR"
    assert detect_language("我的订单什么时候到", candidates={"en", "zh_Hans"}) == "zh_Hans"


def test_brand_names_do_not_outvote_the_script() -> None:
    found = detect("iphone16ราคาเท่าไหร่")
    assert found.language == "th"
    assert found.script == "Thai"
    # but a real Latin sentence with a Thai word still reads as that sentence
    assert detect_language("Hello, my order has not arrived yet, ขอบคุณ", default="xx") == "en"


def test_detection_carries_confidence_and_script() -> None:
    found = detect("Hola, hice un pedido la semana pasada y todavía no me ha llegado")
    assert found.language == "es"
    assert found.script == "Latin"
    assert 0.5 <= found.confidence <= 1.0
    assert detect("ok") == Detection("und", 0.0, "Latin")
    assert detect("🙂") == Detection("und", 0.0, "")


def test_deterministic() -> None:
    messages = [
        "Saya mau tanya soal pesanan saya yang belum sampai",
        "Merci beaucoup",
        "hello there",
        "iphone16ราคาเท่าไหร่",
        "gracias amigo",
    ]
    first = [detect(m, candidates={"en", "id", "ms", "fr"}) for m in messages]
    for _ in range(3):
        assert [detect(m, candidates={"ms", "fr", "id", "en"}) for m in messages] == first
        assert [detect(m, candidates=["fr", "en", "ms", "id"]) for m in messages] == first


def test_text_module_reexports_it() -> None:
    assert text.detect_language("Hola, ¿cuánto cuesta el envío a Colombia?", "en") == "es"
    assert text.detect_language("ok", "th") == "th"
    assert text.detect_language("ok") == "en"


def test_unknown_candidates_are_ignored() -> None:
    message = "Hallo, ich habe letzte Woche bestellt und die Lieferung ist immer noch nicht da"
    assert detect_language(message, default="en", candidates={"xx", "de-AT"}) == "de-AT"
    assert detect_language(message, default="en", candidates={"xx"}) == "en"
    assert language.UNDETERMINED == "und"


class _Kb:
    """The part of KnowledgeBase the FAQ bot reads: an index and its search."""

    def __init__(self, articles: list[IndexedArticle]) -> None:
        self.index = SearchIndex(articles, semantic=None)

    def search(self, question: str, limit: int = 5) -> list[Match]:
        return self.index.search(question, limit=limit)


_RETURNS = [
    IndexedArticle("returns", "en", "Returns", "Send it back within 30 days.", ("return policy",)),
    IndexedArticle("returns", "fa", "مرجوعی", "تا ۳۰ روز پس بفرستید.", ("شرایط مرجوعی کالا",)),
]


async def test_the_bot_greets_in_the_language_it_can_answer_in() -> None:
    bot = FaqAssistant(_Kb(_RETURNS))  # type: ignore[arg-type]
    # Alone, "سلام" is as much Arabic as Persian; the knowledge base's Persian settles it.
    assert detect_language("سلام") == "ar"
    reply = await bot.respond(BotContext("سلام", 1, 1, "webchat"))
    assert (reply.intent, reply.locale, reply.text) == (Intent.GREET, "fa", say("greet", "fa"))


async def test_the_bot_answers_with_the_variant_in_the_customers_language() -> None:
    bot = FaqAssistant(_Kb(_RETURNS))  # type: ignore[arg-type]
    persian = await bot.respond(BotContext("شرایط مرجوعی کالا چیست؟", 1, 1, "webchat"))
    assert (persian.article_locale, persian.text, persian.locale) == (
        "fa",
        "تا ۳۰ روز پس بفرستید.",
        "fa",
    )
    english = await bot.respond(BotContext("what is your return policy?", 1, 1, "webchat", "fa"))
    assert (english.article_locale, english.locale) == ("en", "en")


def test_traditional_and_simplified_chinese_are_told_apart() -> None:
    assert detect_language("請問退貨要怎麼寄回去？") == "zh-Hant"
    assert detect_language("请问退货要怎么寄回去？") == "zh"
    # Characters both scripts share decide nothing: taken as Simplified.
    assert detect_language("你好") == "zh"
    # A Traditional text picks the Traditional candidate, a Simplified one the other.
    assert detect_language("可以退貨嗎", candidates={"en", "zh", "zh-TW"}) == "zh-TW"
    assert detect_language("可以退货吗", candidates={"en", "zh-CN", "zh-TW"}) == "zh-CN"
    # With only Simplified served, Traditional text is still named as Traditional: the bot
    # answers it in Traditional script from the Simplified article.
    assert detect_language("可以退貨嗎", candidates={"en", "zh"}) == "zh-Hant"
