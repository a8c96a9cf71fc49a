"""Simplified and Traditional Chinese: folding for search, telling them apart, converting.

OpenCC (the PyPI package ``opencc``, its dictionaries inside the wheel) converts with phrase
tables, not only character by character, so Taiwan's 網路 / 軟體 / 簡訊 become mainland 网络 /
软件 / 短信 and the reverse. Search folds every Chinese text to Simplified (``tw2sp``), so a
Traditional question matches Simplified phrasings and the other way round; an answer for a
Traditional question is converted with ``s2twp`` when the article has no zh-Hant variant.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_lock = threading.Lock()

# Locales that mean Traditional script.
TRADITIONAL = frozenset({"zh-hant", "zh-tw", "zh-hk", "zh-mo", "zh-hant-tw", "zh-hant-hk"})


@functools.cache
def _converter(config: str) -> Any:
    import opencc

    return opencc.OpenCC(config)


def _convert(config: str, text: str) -> str:
    if not _HAN.search(text):
        return text
    with _lock:  # one converter per table, shared by threads (index builds run in a thread)
        return str(_converter(config).convert(text))


def to_simplified(text: str) -> str:
    """Traditional characters and Taiwan phrasing to mainland Simplified; other text as is."""
    return _convert("tw2sp", text)


def to_traditional(text: str) -> str:
    """Simplified to Traditional with Taiwan phrasing (an answer for a Traditional reader)."""
    return _convert("s2twp", text)


def is_traditional(text: str) -> bool:
    """Whether the Han characters are written in Traditional script: more of them change when
    made Simplified than when made Traditional. Characters both scripts share (你好, 可以)
    decide nothing, and a text of only those is taken as Simplified."""
    if not _HAN.search(text):
        return False
    han = "".join(_HAN.findall(text))
    simplified = _convert("t2s", han)
    traditional = _convert("s2t", han)
    if len(simplified) != len(han) or len(traditional) != len(han):  # never for t2s / s2t
        return simplified != han
    as_traditional = sum(a != b for a, b in zip(han, simplified, strict=True))
    as_simplified = sum(a != b for a, b in zip(han, traditional, strict=True))
    return as_traditional > as_simplified


def is_traditional_locale(locale: str | None) -> bool:
    return bool(locale) and locale.replace("_", "-").lower() in TRADITIONAL  # type: ignore[union-attr]
