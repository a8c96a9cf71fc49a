"""Text normalisation, script detection and features for scripts with and without word spaces."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Collection

from knowledge_base import chinese

# Letters of scripts written without spaces between words.
_THAI = re.compile(r"[\u0e00-\u0e7f]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_PERSIAN_ONLY = re.compile(r"[پچژگکی\u06cc]")
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f]")
# Runs of letters/digits (and marks: Thai vowels and tone marks are combining marks).
_RUN = re.compile(r"[\w\u0e00-\u0e7f\u0300-\u036f\u064b-\u065f\u0670]+", re.UNICODE)
_NO_SPACE_SCRIPT = re.compile(
    r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)

# Arabic-script letters that Persian writes differently, and marks that only vary spelling.
_ARABIC_FOLD = str.maketrans(
    {
        "\u064a": "\u06cc",  # ARABIC YEH -> FARSI YEH
        "\u0649": "\u06cc",  # ALEF MAKSURA -> FARSI YEH
        "\u0643": "\u06a9",  # ARABIC KAF -> KEHEH
        "\u0629": "\u0647",  # TEH MARBUTA -> HEH
        "\u0623": "\u0627",
        "\u0625": "\u0627",
        "\u0622": "\u0627",
        # ZWNJ joins a Persian prefix or suffix to its word (می‌خوام, سفارش‌ها); people type it,
        # a space or nothing: all three become one word, as written without it.
        "\u200c": None,
        "\u0640": None,  # tatweel
    }
)
_ARABIC_MARKS = re.compile(r"[\u064b-\u065f\u0670]")
# The verb prefix می / نمی and the plural suffix ها / های typed with a space instead of ZWNJ.
_PERSIAN_PREFIX = re.compile(r"(?<!\S)(ن?می) (?=\S)")
_PERSIAN_SUFFIX = re.compile(r"(?<=\S) (ها|های|هایی|هایم|هایت|هایش|هامون|هاتون|هاشون)(?!\S)")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# English contractions, with or without the apostrophe, as the words they stand for: "can't",
# "cant" and "cannot" all become "can not" (a question word pair such as "b:can not" matches).
_CONTRACTIONS = {
    "can't": "can not",
    "cant": "can not",
    "cannot": "can not",
    "won't": "will not",
    "wont": "will not",
    "n't": " not",
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "havent": "have not",
    "hasnt": "has not",
    "couldnt": "could not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "'m": " am",
    "im": "i am",
    "'re": " are",
    "'ve": " have",
    "ive": "i have",
    "'ll": " will",
    "'d": " would",
    "'s": "",
}
_CONTRACTION = re.compile(
    r"\b(?:can't|cant|cannot|won't|wont|dont|doesnt|didnt|isnt|arent|wasnt|havent|hasnt|"
    r"couldnt|wouldnt|shouldnt|im|ive)\b|n't\b|'(?:m|re|ve|ll|d|s)\b"
)

STOPWORDS = frozenset(
    "a an the is are was be do does did i me my you your we our it its to of in on for at "
    "and or can could would should how what when where why which who please with from by "
    "this that there have has am".split()
)


def normalize(text: str) -> str:
    """NFKC, case-folded, Arabic-script variants and Persian ZWNJ spellings folded, Chinese
    made Simplified, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if _ARABIC.search(text):
        text = _ARABIC_MARKS.sub("", text.translate(_ARABIC_FOLD))
        text = _PERSIAN_SUFFIX.sub(r"\1", _PERSIAN_PREFIX.sub(r"\1", text))
    if _HAN.search(text):
        text = chinese.to_simplified(text)
    return " ".join(text.split())


def expand_contractions(text: str) -> str:
    """English contractions as full words, on normalised (case-folded) text."""
    if not _LATIN.search(text):
        return text
    text = text.replace("\u2019", "'")
    return _CONTRACTION.sub(lambda m: _CONTRACTIONS[m.group()], text)


# Script codes of ``script_code`` (the calibration's features use them).
LATIN_OR_OTHER, THAI, CJK, ARABIC = 0, 1, 2, 3


def script_code(text: str) -> int:
    """The script most of the text's letters are in: THAI, CJK, ARABIC or LATIN_OR_OTHER."""
    counts = (
        len(_THAI.findall(text)),
        len(_CJK.findall(text)),
        len(_ARABIC.findall(text)),
    )
    best = max(range(3), key=counts.__getitem__)
    if counts[best] * 2 < sum(1 for ch in text if ch.isalpha()) or not counts[best]:
        return LATIN_OR_OTHER
    return best + 1


def detect_language(
    text: str, default: str = "en", candidates: Collection[str] | None = None
) -> str:
    """The text's language, or ``default`` when unsure: see knowledge_base.language."""
    from knowledge_base import language

    return language.detect_language(text, default, candidates)


def features(text: str) -> Counter[str]:
    """Sparse features of a text: words, word pairs and character n-grams.

    Spaced scripts give word unigrams, pairs of neighbouring words (stopwords included: "how
    much" and "can't log" carry meaning) and character 3–5-grams within words (robust to typos
    and inflection); Chinese and Japanese runs give character 1–3-grams and Thai runs
    2–4-grams, which match without a word segmenter.
    """
    # Collected in a list and counted once (Counter(list) runs in C); a word's features are
    # cached, since the same words recur across thousands of phrasings.
    out: list[str] = []
    previous = ""
    for run in _RUN.findall(expand_contractions(normalize(text))):
        for chunk in _split_scripts(run) if _NO_SPACE_SCRIPT.search(run) else (run,):
            out += _chunk_features(chunk)
            spaced = not _NO_SPACE_SCRIPT.match(chunk)
            if spaced and previous:
                out.append(f"b:{previous} {chunk}")
            previous = chunk if spaced else ""
    return Counter(out)


@functools.lru_cache(maxsize=100_000)
def _chunk_features(chunk: str) -> tuple[str, ...]:
    out: list[str] = []
    if _NO_SPACE_SCRIPT.fullmatch(chunk):
        # A Chinese character is a word-like unit; a Thai letter is not.
        sizes = (2, 3, 4) if _THAI.match(chunk) else (1, 2, 3)
        for n in sizes:
            out += ["n:" + chunk[i : i + n] for i in range(len(chunk) - n + 1)]
        if len(chunk) < sizes[0]:
            out.append("n:" + chunk)
        return tuple(out)
    if chunk not in STOPWORDS:
        out.append("w:" + chunk)
    padded = f" {chunk} "
    for n in (3, 4, 5):
        out += ["c:" + padded[i : i + n] for i in range(len(padded) - n + 1)]
    return tuple(out)


def _split_scripts(run: str) -> list[str]:
    """Split a run where it changes between spaced and unspaced scripts ("iphone16ราคา")."""
    parts: list[str] = []
    last = 0
    for match in _NO_SPACE_SCRIPT.finditer(run):
        if match.start() > last:
            parts.append(run[last : match.start()])
        parts.append(match.group())
        last = match.end()
    if last < len(run):
        parts.append(run[last:])
    return parts
