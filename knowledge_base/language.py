"""Language detection for picking an article variant and the reply language.

Two steps:

1. **Script.** Thai, Chinese, Japanese kana, Korean and Arabic script decide the language on their
   own, as knowledge_base.text always did: Thai → th, Han → zh, or zh-Hant when more of its
   characters are Traditional than Simplified (knowledge_base.chinese, OpenCC's tables),
   kana (with or without kanji) → ja, Hangul → ko, Arabic script → fa when it has a letter only
   Persian uses (پ چ ژ گ, Farsi yeh, keheh) and ar otherwise. Text mixing scripts goes by the
   script with the most letters, with one exception: Latin letters in a Thai, Chinese, ...
   message that do not make a sentence of their own are product names ("iPhone 16 有货吗").
2. **Statistics,** for Latin script (and Cyrillic, Greek, Hebrew, Devanagari, ... which the
   script step leaves open): py3langid, a naive Bayes classifier over byte n-grams whose model
   ships inside the wheel, so nothing is downloaded at run time.

   Why py3langid and not lingua-language-detector, both measured with bench/language.py on
   580 short customer messages (17 languages, 300 of them BANKING77 English): py3langid is a
   4.6 MB wheel (numpy, which we have anyway, is its one dependency), lingua a 96 MB one.
   Accuracy, counting a fallback to the default as wrong: py3langid choosing among the 55
   languages of LANGUAGES 98.8 % (100 % with the bot's candidate locales), lingua 98.6 % even
   though it was only given the bench's 17 languages; both miss mostly Indonesian vs Malay.
   py3langid takes 0.6 ms a message against lingua's ~11 ms, and loads in about a second. The
   old script-only guess got 10 % (no Latin-script language at all). Equal accuracy at a
   twentieth of the size decides it.

Short or ambiguous Latin text ("ok", "iPhone 16", an order number, emoji) has too little
evidence for a statistical guess: it is "und" (undetermined), and detect_language returns the
default, which callers set to the conversation's known locale.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from knowledge_base import chinese

__all__ = [
    "LANGUAGES",
    "MIN_CONFIDENCE",
    "MIN_LETTERS",
    "UNDETERMINED",
    "Detection",
    "detect",
    "detect_language",
    "detect_script",
]

UNDETERMINED = "und"
TRADITIONAL_CHINESE = "zh-Hant"  # Han text in Traditional script; "zh" is Simplified

# Below this many letters (after dropping URLs, e-mail addresses and tokens with digits) a
# Latin-script text is not given to the statistical detector: "ok", "thanks", "iPhone 16",
# "hola amigo" carry too few n-grams to tell apart languages that share most of them.
MIN_LETTERS = 10
# The detector's probability, among the languages it may choose, that its best language needs.
# On bench/language.py's messages and greetings, guesses under 0.5 were right 7 times in 10
# (two- and three-word greetings: "gracias amigo", "vielen dank" → nl) and those over 0.7 all
# were: a wrong language is worse than the conversation's locale, so the short ones abstain.
# Most guesses between 0.5 and 0.7 are Indonesian vs Malay, which candidates settle.
MIN_CONFIDENCE = 0.5
# With candidates: the share of the detector's probability that the candidates must hold
# together before the best of them is taken; below it, the text is in some other language.
MIN_CANDIDATE_MASS = 0.2

# The languages the detector chooses from when the caller gives no candidates: the world's
# widely written languages. py3langid knows 140 labels, many of them regional languages
# (Sesotho, Walloon, Extremaduran, ...) whose n-grams catch short English or Spanish messages
# ("hello there" → st); a customer who writes in one of them still gets the default.
LANGUAGES = frozenset(
    "af ar az be bg bn bs ca cs cy da de el en eo es et eu fa fi fr ga gl he hi hr hu hy id is "
    "it ja ka kk ko lt lv mk ms mt nl no pl pt ro ru sk sl sq sr sv sw th tl tr uk ur uz vi zh".split()
)

# Script of one character. The ranges match knowledge_base.text's, plus Latin Extended
# Additional (precomposed Vietnamese letters: ế, ộ, ữ).
_THAI = re.compile(r"[\u0e00-\u0e7f]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_PERSIAN_ONLY = re.compile(r"[پچژگکی\u06cc]")
_SCRIPTED = re.compile("|".join(r.pattern for r in (_THAI, _HANGUL, _KANA, _HAN, _ARABIC)))
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f\u1e00-\u1eff]")

# What the statistical detector should not see: links, addresses, handles, and tokens with
# digits (order numbers, "iphone16", "S24", prices), which say nothing about the language.
_NOISE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+|[@#]\w+|\w*\d\w*", re.UNICODE)

_SCRIPT_NAMES = {
    "th": "Thai",
    "zh": "Han",
    "ja": "Kana",
    "ko": "Hangul",
    "fa": "Arabic",
    "ar": "Arabic",
    "latin": "Latin",
}


@dataclass(frozen=True, slots=True)
class Detection:
    """What a text is written in.

    ``language`` is a two-letter code ("th", "zh", "es"), a candidate's own spelling when
    candidates were given ("pt-BR"), or "und" when the text has too little to go on.
    ``confidence`` is in [0, 1]: for a script-decided language, the share of the text's letters
    in that script; for a statistical one, the detector's probability among the languages it
    could choose; for "und", the best guess's (too low) probability, or 0 for no evidence.
    ``script`` is the dominant script ("Thai", "Han", "Kana", "Hangul", "Arabic", "Latin",
    "Other") or "" when the text has no letters.
    """

    language: str
    confidence: float
    script: str

    @property
    def determined(self) -> bool:
        return self.language != UNDETERMINED


def detect_language(
    text: str, default: str = "en", candidates: Collection[str] | None = None
) -> str:
    """The language of ``text``, or ``default`` (the conversation's known locale) when unsure.

    ``candidates`` are the locales the caller can serve (the knowledge base's variants); see
    :func:`detect`.
    """
    found = detect(text, candidates)
    return found.language if found.determined else default


def detect(text: str, candidates: Collection[str] | None = None) -> Detection:
    """Detect the language of ``text``; deterministic for a given text and candidates.

    With ``candidates``, a statistical choice is made among them: if the detector's best
    language is not one of them, the best candidate is taken when the candidates together hold
    a fair share of the probability (Indonesian text with candidates {"en", "id"} whose
    detector prefers Malay) and the text is "und" otherwise (Spanish with {"en", "th"}). A
    script-decided language stands whatever the candidates, except the two script-level
    ambiguities: Arabic script is fa or ar, and Han without kana is zh or ja; there, a
    candidate list with only one of the pair decides.
    """
    counts = _script_counts(text)
    guess = _dominant(counts)
    if guess.script == "":
        return Detection(UNDETERMINED, 0.0, "")
    if guess.language not in ("latin", "other"):
        language = _prefer_candidate(_chinese_script(guess.language, text), candidates)
        return Detection(_spelling(language, candidates), guess.confidence, guess.script)
    scripted = _dominant(counts - Counter(latin=counts["latin"], other=counts["other"]))
    if scripted.script:
        # Latin letters outnumber a script that decides the language by itself: usually brand
        # and product names in a Thai or Chinese message ("สั่ง Samsung Galaxy S24 ได้ไหม").
        # The script's language wins unless the rest is confidently a sentence of its own.
        # Names are not a sentence, but candidates would still pick one of theirs for them:
        # the rest must be confidently some language before the candidates have a say.
        rest = "".join(ch for ch in text if not _SCRIPTED.match(ch))
        language, confidence = _statistical(rest, None)
        if language != UNDETERMINED and candidates:
            language, confidence = _statistical(rest, candidates)
        if language == UNDETERMINED:
            language = _prefer_candidate(_chinese_script(scripted.language, text), candidates)
            scripted_letters = counts.total() - counts["latin"] - counts["other"]
            share = scripted.confidence * scripted_letters / counts.total()
            return Detection(_spelling(language, candidates), share, scripted.script)
        return Detection(_spelling(language, candidates), confidence, guess.script)
    language, confidence = _statistical(text, candidates)
    return Detection(_spelling(language, candidates), confidence, guess.script)


@dataclass(frozen=True, slots=True)
class ScriptGuess:
    """The script step alone: a language, or "latin"/"other" for the statistical step."""

    language: str
    confidence: float
    script: str


def detect_script(text: str) -> ScriptGuess:
    """The script-based guess (what knowledge_base.text.detect_language used to be).

    ``language`` is "latin" when Latin letters dominate, "other" for any other alphabet
    (Cyrillic, Greek, ...) and "" with ``script`` "" when there are no letters at all.
    """
    return _dominant(_script_counts(text))


def _script_counts(text: str) -> Counter[str]:
    """Letters per script-decided language, plus "latin" and "other"."""
    counts: Counter[str] = Counter()
    for ch in unicodedata.normalize("NFC", text):
        if _THAI.match(ch):
            counts["th"] += 1
        elif _KANA.match(ch):
            counts["ja"] += 1
        elif _HANGUL.match(ch):
            counts["ko"] += 1
        elif _HAN.match(ch):
            counts["zh"] += 1
        elif _ARABIC.match(ch):
            counts["fa" if _PERSIAN_ONLY.match(ch) else "ar"] += 1
        elif _LATIN.match(ch):
            counts["latin"] += 1
        elif ch.isalpha():
            counts["other"] += 1
    return counts


def _dominant(counts: Counter[str]) -> ScriptGuess:
    counts = +counts  # drop zero counts; a copy, so the caller's stays as it was
    if not counts:
        return ScriptGuess("", 0.0, "")
    letters = counts.total()
    if counts["fa"] and counts["ar"]:
        counts["fa"] += counts.pop("ar")  # Persian shares most letters with Arabic
    if counts["ja"] and counts["zh"]:
        counts["ja"] += counts.pop("zh")  # kanji in Japanese text
    # Ties go to the first script counted, as in Counter.most_common.
    language, n = counts.most_common(1)[0]
    return ScriptGuess(language, n / letters, _SCRIPT_NAMES.get(language, "Other"))


def _chinese_script(language: str, text: str) -> str:
    """zh-Hant for Chinese written in Traditional script, else the language as it is."""
    return TRADITIONAL_CHINESE if language == "zh" and chinese.is_traditional(text) else language


def _prefer_candidate(language: str, candidates: Collection[str] | None) -> str:
    """fa/ar and zh/ja share a script: a candidate list holding only one of the pair decides."""
    if not candidates:
        return language
    pair = {"fa": "ar", "ar": "fa", "zh": "ja", TRADITIONAL_CHINESE: "ja"}.get(language)
    if pair is None:
        return language
    codes = {_primary(c) for c in candidates}
    return pair if pair in codes and _primary(language) not in codes else language


def _primary(locale: str) -> str:
    """The primary language subtag: "pt-BR" → "pt", "zh_Hant" → "zh"."""
    return re.split(r"[-_]", locale.strip(), maxsplit=1)[0].lower()


def _spelling(language: str, candidates: Collection[str] | None) -> str:
    """The candidate's own spelling of ``language`` when exactly one candidate has it.

    Chinese is two: "zh-Hant" (Traditional script) matches only Traditional candidates
    (zh-Hant, zh-TW, zh-HK), "zh" only the others (zh, zh-CN, zh-Hans)."""
    if not candidates or language == UNDETERMINED:
        return language
    primary = _primary(language)
    matches = sorted({c for c in candidates if _primary(c) == primary})
    if primary == "zh":
        traditional = chinese.is_traditional_locale(language)
        matches = [c for c in matches if chinese.is_traditional_locale(c) == traditional]
    return matches[0] if len(matches) == 1 else language


def _statistical(text: str, candidates: Collection[str] | None) -> tuple[str, float]:
    cleaned = " ".join(_NOISE.sub(" ", text).split())
    if sum(ch.isalpha() for ch in cleaned) < MIN_LETTERS:
        return UNDETERMINED, 0.0
    ranked = _rank(cleaned)
    allowed = _allowed(frozenset(_primary(c) for c in candidates) if candidates else None)
    if not allowed:
        return UNDETERMINED, 0.0
    scores = {lang: p for lang, p in ranked if lang in allowed}
    mass = sum(scores.values())
    if mass <= 0.0:
        return UNDETERMINED, 0.0
    # Best first; ties broken by code so that equal scores cannot reorder between runs.
    language, p = min(scores.items(), key=lambda item: (-item[1], item[0]))
    confidence = p / mass
    if candidates and mass < MIN_CANDIDATE_MASS * _mass(ranked, LANGUAGES | allowed):
        return UNDETERMINED, confidence
    if confidence < MIN_CONFIDENCE:
        return UNDETERMINED, confidence
    return language, confidence


def _mass(ranked: Iterable[tuple[str, float]], languages: Collection[str]) -> float:
    return sum(p for lang, p in ranked if lang in languages)


@functools.lru_cache(maxsize=64)
def _allowed(candidates: frozenset[str] | None) -> frozenset[str]:
    labels = frozenset(_identifier().labels)
    if candidates is None:
        return LANGUAGES & labels
    return candidates & labels


_lock = threading.Lock()
_loaded: list[Any] = []


def _identifier() -> Any:
    """The shared py3langid identifier, loaded on first use (about a second, once)."""
    if not _loaded:
        with _lock:
            if not _loaded:
                # Imported here: a process that never sees a Latin-script message skips it.
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _loaded.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
    return _loaded[0]


def _rank(text: str) -> list[tuple[str, float]]:
    """(language, probability) over every language the model knows.

    Probabilities over a subset renormalise to exactly what a model restricted to that subset
    would give (a softmax restricted and renormalised is the softmax of the subset), so one
    shared, never-mutated identifier serves every candidate set and thread.
    """
    return [(str(lang), float(p)) for lang, p in _identifier().rank(text)]
