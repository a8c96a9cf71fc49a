"""Small talk and the bot's own words: a greeting is never taken for a question, in any of the
languages customers open with, and every reply exists in every language we speak."""

from __future__ import annotations

import pytest

from bot import smalltalk
from bot.assistant import Intent
from bot.templates import TEMPLATES


@pytest.mark.parametrize(
    "text",
    [
        "hi",
        "Hi!",
        "hello",
        "Hello?",
        "hey there",
        "Hi there 👋",
        "hello 👋🏽",
        "👋",
        "good morning everyone",
        "¡Hola!",
        "hola",
        "Bonjour",
        "Olá",
        "xin chào",
        "สวัสดี",
        "สวัสดีครับ",
        "สวัสดีค่ะ 🙏",
        "你好",
        "您好！",
        "سلام",
        "سلام 🌹",
        "درود",
        "مرحبا",
        "السلام عليكم",
    ],
)
def test_greetings_in_the_languages_customers_open_with(text: str) -> None:
    assert smalltalk.classify(text) is Intent.GREET


@pytest.mark.parametrize(
    "text",
    [
        "hi, my card was blocked",
        "hello team, where is my parcel?",
        "hola, ¿dónde está mi pedido?",
        "สวัสดีครับ ลืมรหัสผ่าน",
        "hey there, how do I reset my password",
    ],
)
def test_a_greeting_with_a_question_is_a_question(text: str) -> None:
    assert smalltalk.classify(text) is None


def test_a_greeting_that_asks_for_a_person_is_a_handoff() -> None:
    assert smalltalk.classify("hi agent") is Intent.HANDOFF


def test_every_reply_exists_in_every_language() -> None:
    keys = set(TEMPLATES["en"])
    for locale, table in TEMPLATES.items():
        assert set(table) == keys, locale
        assert table["describe_in_words"] != TEMPLATES["en"]["describe_in_words"] or locale == "en"
