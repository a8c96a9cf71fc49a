"""Matching what a caller said against configured words, and making bot text speakable.

Speech results arrive with punctuation and capitals ("Billing."), and Thai or Chinese without
spaces between words, so phrases in those scripts match as plain substrings while phrases in
spaced scripts match whole words only ("no" does not match inside "invoice").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, kana, CJK.
_UNSPACED = re.compile(
    r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]"
)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+|www\.\S+")
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s|$)")
MAX_SPOKEN_CHARS = 700
_QUOTE_CHARS = 60


@dataclass(frozen=True)
class Heard:
    """One gather result."""

    digit: str | None  # a key pressed, or a digit said on its own
    text: str  # normalised speech; "" for a key press or speech too unsure to use
    raw: str  # as it came, for the bot and the path

    def describe(self) -> str:
        """For the call path: ``key:1`` or ``said:'billing please'`` (shortened)."""
        if self.digit is not None and not self.text:
            return f"key:{self.digit}"
        raw = self.raw if len(self.raw) <= _QUOTE_CHARS else self.raw[: _QUOTE_CHARS - 1] + "…"
        return f"said:{raw!r}"


def hear(
    digits: str | None, said: str | None, confidence: float | None, min_confidence: float
) -> Heard | None:
    """Twilio's Digits, SpeechResult and Confidence as one value; None when nothing came.

    A confidence of 0 means "not reported" (some speech models never report one)."""
    keys = (digits or "").strip()
    raw = " ".join((said or "").split())
    if keys:
        return Heard(digit=keys, text="", raw=keys)
    if not raw:
        return None
    if confidence is not None and 0 < confidence < min_confidence:
        return Heard(digit=None, text="", raw=raw)  # heard something, understood nothing
    text = normalize(raw)
    return Heard(digit=spoken_digit(text), text=text, raw=raw)


def normalize(text: str) -> str:
    """Case-folded, punctuation and symbols turned into spaces, whitespace collapsed.

    Combining marks stay (Thai vowels and tone marks are marks, not punctuation)."""
    folded = unicodedata.normalize("NFC", text).casefold()
    kept = (" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in folded)
    return " ".join("".join(kept).split())


def contains(utterance: str, phrase: str) -> bool:
    """Whether the normalised ``utterance`` contains ``phrase`` (normalised here)."""
    wanted = normalize(phrase)
    if not wanted:
        return False
    if _UNSPACED.search(wanted):
        return wanted.replace(" ", "") in utterance.replace(" ", "")
    return f" {wanted} " in f" {utterance} "


def is_exactly(utterance: str, phrase: str) -> bool:
    """Whether the normalised ``utterance`` is ``phrase`` and nothing more (spaces aside)."""
    return utterance.replace(" ", "") == normalize(phrase).replace(" ", "")


def longest_match(utterance: str, phrases: Iterable[str]) -> int:
    """Length of the longest phrase found in ``utterance``; 0 when none is."""
    return max((len(p) for p in phrases if contains(utterance, p)), default=0)


def spoken_digit(utterance: str) -> str | None:
    """A recogniser often turns a spoken "two" into "2."; such a result counts as the key."""
    compact = utterance.replace(" ", "")
    return compact if len(compact) == 1 and compact in "0123456789" else None


def to_speakable(text: str, max_chars: int = MAX_SPOKEN_CHARS) -> str:
    """Bot text for a voice: link targets and bare URLs dropped, markdown marks removed,
    whitespace collapsed, cut at a sentence end so the caller does not hear an essay."""
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = re.sub(r"[*_`#>]+", "", text)
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, max_chars)]
    return text[: ends[-1]] if ends else text[:max_chars].rsplit(" ", 1)[0]
