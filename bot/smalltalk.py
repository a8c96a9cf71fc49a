"""Greetings, thanks, goodbyes and "let me talk to a person", in the languages we serve."""

from __future__ import annotations

import re
import unicodedata

from bot.assistant import Intent
from knowledge_base.text import normalize

_POLITE = r"(?:please|pls|thanks?|thank you|now|right now|ok|okay|hi|hello|hey)"

_HANDOFF_EN = re.compile(
    r"\b(?:talk|speak|chat|connect|transfer|put)\b.{0,30}\b(?:human|agent|person|someone|somebody|"
    r"representative|operator|staff|people|support team|real person|customer service)\b"
    r"|^(?:"
    + _POLITE
    + r"\s+)*(?:a\s+)?(?:human|agent|live agent|person|real person|representative|"
    r"operator|customer service|support)(?:\s+" + _POLITE + r")*[.!?]*$"
    r"|\b(?:i want|i need|i'd like|get me|can i have)\b.{0,20}\b(?:human|agent|real person|representative|operator)\b",
)
# Substrings that ask for a person in scripts without word spaces, and Persian.
_HANDOFF_OTHER = (
    "พนักงาน",  # staff (Thai)
    "เจ้าหน้าที่",  # officer / staff (Thai)
    "คุยกับคน",  # talk with a person (Thai)
    "ขอสายคน",
    "人工",  # "human (service)" (Chinese)
    "真人",  # real person
    "转客服",
    "找客服",
    "客服人员",
    "اپراتور",  # operator (Persian)
    "کارشناس",  # expert / agent
    "با یک انسان",  # with a human
    "آدم واقعی",  # a real person
    "پشتیبان انسانی",
)

_SMALLTALK: dict[Intent, tuple[str, ...]] = {
    Intent.GREET: (
        "hi",
        "hello",
        "hey",
        "hiya",
        "good morning",
        "good afternoon",
        "good evening",
        "yo",
        "สวัสดี",
        "สวัสดีครับ",
        "สวัสดีค่ะ",
        "หวัดดี",
        "你好",
        "您好",
        "嗨",
        "早上好",
        "سلام",
        "درود",
        "سلام علیکم",
        "وقت بخیر",
        # The first words customers elsewhere send a business's number or page.
        "good day",
        "greetings",
        "howdy",
        "hola",
        "buenas",
        "buenos dias",
        "buenos días",
        "buenas tardes",
        "buenas noches",
        "olá",
        "ola",
        "oi",
        "bom dia",
        "boa tarde",
        "bonjour",
        "salut",
        "hallo",
        "guten tag",
        "moin",
        "ciao",
        "buongiorno",
        "halo",
        "hai",
        "selamat pagi",
        "xin chào",
        "merhaba",
        "namaste",
        "mingalaba",
        "salam",
        "assalamualaikum",
        "مرحبا",
        "السلام عليكم",
        "привет",
        "здравствуйте",
        "こんにちは",
        "안녕하세요",
        "哈喽",
        "你好呀",
        "大家好",
        "👋",
        "🙋",
    ),
    Intent.THANKS: (
        "thanks",
        "thank you",
        "thx",
        "ty",
        "thanks a lot",
        "thank you very much",
        "cheers",
        "great thanks",
        "ok thanks",
        "ขอบคุณ",
        "ขอบคุณครับ",
        "ขอบคุณค่ะ",
        "ขอบใจ",
        "谢谢",
        "多谢",
        "谢谢你",
        "感谢",
        "ممنون",
        "مرسی",
        "متشکرم",
        "سپاس",
        "سپاسگزارم",
        "خیلی ممنون",
    ),
    Intent.GOODBYE: (
        "bye",
        "goodbye",
        "good bye",
        "see you",
        "see ya",
        "bye bye",
        "have a nice day",
        "ลาก่อน",
        "บาย",
        "แล้วพบกันใหม่",
        "再见",
        "拜拜",
        "خداحافظ",
        "خدانگهدار",
        "بدرود",
    ),
}
# A question *about* reaching people ("when can I talk to a person?", "what time are your
# staff available?") is an FAQ (opening hours, contact channels), not a request for one now.
_ASKS_ABOUT_HOURS = re.compile(
    r"\b(?:when|what time|which hours|opening hours|hours|available)\b"
    r"|กี่โมง|เวลาไหน|เวลาทำการ|ช่องทางไหน|几点|什么时候|营业时间|چه ساعتی|چه زمانی|ساعت کاری"
)
_STRIP = re.compile(r"[\s!?.,。！？،؟~¡¿:;)(]+")
_THAI_PARTICLES = re.compile(r"(ครับ|ค่ะ|คะ|นะ|จ้า)+$")
# Words that may follow a greeting without making it a question ("hi there", "hello team").
_ADDRESSEES = frozenset(
    {"there", "all", "everyone", "everybody", "team", "guys", "folks", "friend", "sir", "madam"}
)


def _key(text: str) -> str:
    return _STRIP.sub(" ", normalize(text)).strip()


def _bare_greeting(key: str) -> str:
    """``key`` without emoji and other symbols ("hi 👋"), and without the people a greeting
    is addressed to ("hi there"); what is left is looked up again."""
    kept = "".join(
        " " if unicodedata.category(ch) in ("So", "Sk") or ch in "\u200d\ufe0f" else ch
        for ch in key
    )
    words = kept.split()
    while len(words) > 1 and words[-1] in _ADDRESSEES:
        words.pop()
    return " ".join(words)


_LOOKUP = {_key(p): intent for intent, phrases in _SMALLTALK.items() for p in phrases}


def classify(text: str) -> Intent | None:
    """The small-talk or handoff intent of a message, or None when it is a real question."""
    key = _key(text)
    if not key:
        return None
    if (
        _HANDOFF_EN.search(key) or any(p in key for p in _HANDOFF_OTHER)
    ) and not _ASKS_ABOUT_HOURS.search(key):
        return Intent.HANDOFF
    if key in _LOOKUP:
        return _LOOKUP[key]
    bare = _THAI_PARTICLES.sub("", key.replace(" ", ""))
    if bare and bare in _LOOKUP:
        return _LOOKUP[bare]
    greeting = _bare_greeting(key)
    if greeting != key and _LOOKUP.get(greeting) is Intent.GREET:
        return Intent.GREET
    return None
