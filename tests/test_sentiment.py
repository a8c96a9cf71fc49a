"""How a customer's message sounds, in the four languages, with negation."""

from __future__ import annotations

import pytest

from bot.sentiment import sentiment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is the worst service ever, I am furious", "negative"),
        ("Your app is useless and support is rude!!", "negative"),
        ("That was not helpful at all", "negative"),
        ("I'm fed up with waiting", "negative"),
        ("Thanks a lot, that solved it!", "positive"),
        ("No problem, thanks", "positive"),
        ("It's not terrible", None),
        ("Where is my order 1234?", None),
        ("How do I reset my password?", None),
        ("Thanks, but this is terrible", None),
        ("แย่มาก รอนานเกินไป", "negative"),
        ("ไม่พอใจบริการเลยครับ", "negative"),
        ("ขอบคุณมากครับ ดีมาก", "positive"),
        ("ลืมรหัสผ่านต้องทำยังไงครับ", None),
        ("服务太差了，我要投诉", "negative"),
        ("我对结果不满意", "negative"),
        ("谢谢，非常满意", "positive"),
        ("我的订单在哪里？", None),
        ("خیلی افتضاح است، ناراضی هستم", "negative"),
        ("خوب نیست", "negative"),
        ("بد نیست", None),
        ("ممنون، عالی بود", "positive"),
        ("سفارش من کجاست؟", None),
        ("", None),
    ],
)
def test_a_message_leans_negative_positive_or_nowhere(text: str, expected: str | None) -> None:
    assert sentiment(text) == expected
