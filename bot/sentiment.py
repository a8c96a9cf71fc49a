"""How a customer's message sounds: clearly negative, clearly positive, or neither.

A lexicon with negation, in English, Thai, Chinese and Persian: strong words of complaint
("terrible", "แย่มาก", "太差", "افتضاح") and of satisfaction ("thanks", "ขอบคุณ", "谢谢",
"ممنون"); a positive word negated ("not helpful", "ไม่ดี", "不好", "خوب نیست") counts as
negative. Thai and Chinese are matched as substrings (no spaces between words), English and
Persian as words. Complaint phrases are taken out before satisfaction words are looked for,
so "ไม่พอใจ" (dissatisfied) is not also "พอใจ" (satisfied).

Only a clear lean is reported: an agent sees it beside the message, and the lifecycle counts
negative messages (routing.segments). It is a signal to look, never a decision.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Sentiment = Literal["negative", "positive"]

_NEGATIVE_WORDS = {
    # English
    "terrible", "awful", "horrible", "worst", "useless", "ridiculous", "unacceptable",
    "disappointed", "disappointing", "angry", "furious", "annoyed", "annoying", "frustrated",
    "frustrating", "hate", "scam", "ripoff", "pathetic", "disgusting", "rude", "incompetent",
    "unhappy", "dissatisfied", "complaint", "complain", "outrageous", "shameful", "lousy",
    # Persian
    "افتضاح", "بد", "بدترین", "عصبانی", "ناراضی", "شکایت", "کلاهبرداری", "مزخرف", "ناامید",
    "افتضاحه", "داغون", "بی‌ادب", "اعصاب‌خردکن",
}  # fmt: skip
_NEGATIVE_PHRASES = (
    "fed up", "waste of time", "waste of money", "never again", "rip off", "so bad",
    "very bad", "really bad",
)  # fmt: skip
_POSITIVE_WORDS = {
    "thanks", "thank", "thx", "great", "excellent", "awesome", "perfect", "love", "helpful",
    "amazing", "wonderful", "happy", "satisfied", "brilliant", "fantastic", "good", "solved",
    # Persian
    "ممنون", "مرسی", "سپاس", "سپاسگزارم", "عالی", "خوب", "راضی", "ممنونم", "متشکرم",
}  # fmt: skip
# Scripts without spaces between words: matched inside the text.
_NEGATIVE_CHUNKS = (
    # Thai
    "แย่", "ห่วย", "โกรธ", "ผิดหวัง", "ไม่พอใจ", "รำคาญ", "โกง", "เสียความรู้สึก", "ร้องเรียน",
    "ไม่ประทับใจ", "ไม่ดี", "ไม่โอเค", "ไม่ช่วย", "เซ็ง",
    # Chinese
    "太差", "很差", "差劲", "垃圾", "生气", "愤怒", "失望", "投诉", "不满", "骗子", "糟糕",
    "恶心", "不好", "没用", "烂透", "气死",
)  # fmt: skip
_POSITIVE_CHUNKS = (
    "ขอบคุณ", "ดีมาก", "เยี่ยม", "ประทับใจ", "พอใจ", "สุดยอด",
    "谢谢", "感谢", "很好", "太好了", "满意", "完美", "太棒", "非常好", "多谢",
)  # fmt: skip
# "no" is left out: "no problem, thanks" is thanks.
_NEGATORS = {"not", "never", "hardly", "isnt", "wasnt", "dont", "didnt", "doesnt", "nothing"}
_PERSIAN_NEGATED_AFTER = {"نیست", "نبود", "نیستم", "نشد", "نیستید"}
_WORD = re.compile(r"[\w\u200c'’]+")


def sentiment(text: str) -> Sentiment | None:
    """``negative``, ``positive`` or None (neutral, mixed, or nothing to go by)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    negative = positive = 0
    for chunk in _NEGATIVE_CHUNKS:
        if chunk in folded:
            negative += folded.count(chunk)
            folded = folded.replace(chunk, " ")
    positive += sum(folded.count(chunk) for chunk in _POSITIVE_CHUNKS)
    for phrase in _NEGATIVE_PHRASES:
        if phrase in folded:
            negative += 1
            folded = folded.replace(phrase, " ")
    words = [w.replace("'", "").replace("’", "") for w in _WORD.findall(folded)]
    for i, word in enumerate(words):
        if word not in _NEGATIVE_WORDS and word not in _POSITIVE_WORDS:
            continue
        negated = any(w in _NEGATORS for w in words[max(0, i - 3) : i]) or any(
            w in _PERSIAN_NEGATED_AFTER for w in words[i + 1 : i + 3]
        )
        if word in _POSITIVE_WORDS:
            if negated:
                negative += 1  # "not helpful", "خوب نیست"
            else:
                positive += 1
        elif not negated:  # "not terrible", "بد نیست" lean nowhere
            negative += 1
    if negative > positive:
        return "negative"
    if positive > negative:
        return "positive"
    return None
