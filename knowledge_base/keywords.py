"""Keywords of a group of questions as whole words, in every script we serve.

Spaced scripts (English, Persian, …) split at spaces and punctuation. Thai and Chinese are
written without spaces, so a character n-gram ("ดตาม", "么退货") is rarely a word: Thai is cut
into words by PyThaiNLP's ``newmm`` (dictionary maximal matching with the dictionary it ships)
and Chinese by jieba-rs (``rjieba``, with the dictionary and part-of-speech tags it ships).
Both are installed from PyPI with their data and nothing is downloaded at run time (PyThaiNLP
is put in read-only mode, so it does not even create its data folder). They load on first use.

Function words are left out: English stopwords (``knowledge_base.text``), PyThaiNLP's Thai
stopword list and a few question particles it lacks, a short Persian list, and in Chinese every
word jieba tags as a pronoun, particle, preposition, conjunction, adverb, numeral, measure word
or interjection, and every word of one character (是, 到, 查: too vague for a chip). Thai
keywords are dictionary words only: where the dictionary has no word, newmm falls back to
character clusters, which can be fragments.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from knowledge_base.text import STOPWORDS, normalize

__all__ = ["content_words", "document_frequency", "thai_dictionary", "top_terms"]

_THAI = "\u0e00-\u0e7f"
_HAN = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # with kana: jieba keeps runs
_MARKS = "\u0300-\u036f\u064b-\u065f\u0670"
_LETTER = rf"(?:(?![{_THAI}{_HAN}])[\w{_MARKS}])"
_TOKEN = re.compile(
    rf"(?P<thai>[{_THAI}]+)|(?P<han>[{_HAN}]+)|(?P<word>{_LETTER}+(?:['\u2019]{_LETTER}+)*)"
)
# jieba's tags that name function words (ICTCLAS tag set): pronoun, particles, preposition,
# conjunction, adverb, numeral, measure word, interjection, onomatopoeia, modal, punctuation.
_HAN_FUNCTION_TAGS = ("r", "u", "p", "c", "d", "m", "q", "e", "o", "y", "x", "w")
# Question particles and politeness PyThaiNLP's list leaves in.
THAI_STOPWORDS = frozenset("ไหม มั้ย กี่ ทำไง เปล่า ป่าว รึเปล่า คับ ครับผม จ้ะ จ้า".split())
PERSIAN_STOPWORDS = frozenset(
    normalize(word)
    for word in (
        "از به با در را رو که و یا تا برای این آن اون من تو او ما شما اونها آنها هم "
        "هست است نیست بود شد شده می نمی چه چی چرا چطور چطوری چگونه کجا کجاست کی کدام "
        "آیا اگر اگه ولی اما یک هنوز الان دارم دارید دارین داره کنم کنید کنه کرد کردم "
        "کنیم بدم بگیرم میشه نمیشه باید خیلی لطفا سلام ممنون مرسی ام ای ها های "
        "تونم میتونم بشم شم خوام میخوام خواهم برام بره"
    ).split()
)


def content_words(text: str) -> list[str]:
    """The words of ``text`` worth a keyword chip, normalised, in order (repeats kept)."""
    out: list[str] = []
    # NFKC splits Thai SARA AM (ำ) into NIKHAHIT + SARA AA, which no dictionary word has.
    for match in _TOKEN.finditer(normalize(text).replace("\u0e4d\u0e32", "\u0e33")):
        if match.lastgroup == "thai":
            out += _thai_words(match.group())
        elif match.lastgroup == "han":
            out += _han_words(match.group())
        else:
            word = _word(match.group())
            if len(word) > 1 and not word.isdigit() and not _stopword(word):
                out.append(word)
    return out


def document_frequency(texts: Iterable[str]) -> tuple[Counter[str], int]:
    """In how many of ``texts`` each content word occurs, and how many texts there were."""
    df: Counter[str] = Counter()
    n = 0
    for text in texts:
        df.update(set(content_words(text)))
        n += 1
    return df, n


def top_terms(
    members: Sequence[tuple[str, float]],
    df: Mapping[str, int],
    n_docs: int,
    limit: int = 5,
) -> list[str]:
    """The ``limit`` best keywords of a group of questions (text, times asked): a word scores
    the times it was asked in the group times its inverse document frequency over all the
    questions (``df`` of ``n_docs``), so what sets the group apart comes first. In a group of
    three phrasings or more a keyword is in at least two of them (a word one customer used,
    or a segmenter's slip, does not describe the group). A word inside a better one ("card"
    in "cards", "退货" in "退货政策") is left out."""
    weight: dict[str, float] = {}
    support: Counter[str] = Counter()
    for text, times in members:
        for word in set(content_words(text)):
            weight[word] = weight.get(word, 0.0) + times
            support[word] += 1
    needed = 2 if len(members) >= 3 else 1
    scored = sorted(
        (-w * (math.log((1 + n_docs) / (1 + df.get(word, 0))) + 1.0), word)
        for word, w in weight.items()
        if support[word] >= needed
    )
    picked: list[str] = []
    for _score, word in scored:
        if not any(word in other or other in word for other in picked):
            picked.append(word)
            if len(picked) == limit:
                break
    return picked


def thai_dictionary() -> frozenset[str]:
    """The words a Thai keyword may be: the dictionary PyThaiNLP ships."""
    return _thai()[1]


def _word(token: str) -> str:
    """A possessive loses its 's ("customer's"); other contractions are function words
    ("didn't", "i'm"), and so are dropped."""
    token = token.strip("_").replace("\u2019", "'")
    if "'" not in token:
        return token
    return token[:-2] if token.endswith("'s") and token.count("'") == 1 else ""


def _stopword(word: str) -> bool:
    return word in STOPWORDS or word in PERSIAN_STOPWORDS


@functools.lru_cache(maxsize=20_000)
def _thai_words(run: str) -> tuple[str, ...]:
    tokenize, dictionary, stopwords = _thai()
    # Only dictionary words: where the dictionary has no word, newmm falls back to character
    # clusters, which can be fragments ("แอคเคาท์" → "แอ" + "คเคาท์").
    return tuple(
        w
        for w in tokenize(run, engine="newmm", keep_whitespace=False)
        if len(w) > 1 and w in dictionary and w not in stopwords
    )


@functools.lru_cache(maxsize=20_000)
def _han_words(run: str) -> tuple[str, ...]:
    import rjieba

    return tuple(
        word
        for word, tag in rjieba.tag(run)
        if len(word) > 1 and not tag.startswith(_HAN_FUNCTION_TAGS)
    )


@functools.cache
def _thai() -> tuple[Callable[..., list[str]], frozenset[str], frozenset[str]]:
    # Read-only: PyThaiNLP neither downloads nor creates ~/pythainlp-data. What newmm, the
    # dictionary and the stopword list need ships inside the package.
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
    from pythainlp.corpus import thai_stopwords, thai_words
    from pythainlp.tokenize import word_tokenize

    return word_tokenize, frozenset(thai_words()), frozenset(thai_stopwords()) | THAI_STOPWORDS
