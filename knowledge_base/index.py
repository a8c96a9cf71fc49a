"""An in-memory TF-IDF index over article titles and question phrasings.

Each phrasing is a document; an article's score is its best phrasing's cosine similarity with
the question, so a question close to any one phrasing is answered confidently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from knowledge_base.text import features


@dataclass(frozen=True)
class IndexedArticle:
    id: str
    locale: str
    title: str
    body: str
    questions: tuple[str, ...]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    article: IndexedArticle
    score: float

    @property
    def key(self) -> tuple[str, str]:
        return self.article.id, self.article.locale


class SearchIndex:
    """Immutable once built; rebuild to change. Search is a sparse column sum, no Python loop
    over documents, so 10,000 articles answer in milliseconds."""

    def __init__(self, articles: Iterable[IndexedArticle]) -> None:
        self.articles: list[IndexedArticle] = list(articles)
        self._by_key = {(a.id, a.locale): a for a in self.articles}
        doc_features = []
        owner: list[int] = []
        for position, article in enumerate(self.articles):
            for phrasing in (article.title, *article.questions):
                feats = features(phrasing)
                if feats:
                    doc_features.append(feats)
                    owner.append(position)
        # One flat pass in comprehensions: at 10,000 articles there are millions of entries.
        vocabulary: dict[str, int] = {}
        assign = vocabulary.setdefault
        cols = [assign(name, len(vocabulary)) for feats in doc_features for name in feats]
        counts = [count for feats in doc_features for count in feats.values()]
        rows = np.repeat(
            np.arange(len(doc_features), dtype=np.int64), [len(f) for f in doc_features]
        )
        n_docs = max(len(doc_features), 1)
        self._vocabulary = vocabulary
        self._unseen_idf = math.log(1 + n_docs) + 1.0
        # Smoothed idf and sublinear tf, each row L2-normalised: cosine = one dot product.
        row_ids = rows
        col_ids = np.asarray(cols, dtype=np.int64)
        df = np.bincount(col_ids, minlength=len(vocabulary))
        self._idf = (np.log((1 + n_docs) / (1 + df)) + 1.0).astype(np.float32)
        weights = (1 + np.log(np.asarray(counts, dtype=np.float32))) * self._idf[col_ids]
        norms = np.sqrt(
            np.bincount(row_ids, weights=weights * weights, minlength=len(doc_features))
        )
        values = weights / np.where(norms > 0, norms, 1.0)[row_ids]
        self._matrix = sparse.csc_matrix(
            (values.astype(np.float32), (row_ids, col_ids)),
            shape=(len(doc_features), len(vocabulary)),
        )
        self._owner = np.asarray(owner, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.articles)

    def get(self, article_id: str, locale: str) -> IndexedArticle | None:
        return self._by_key.get((article_id, locale))

    def variants(self, article_id: str) -> list[IndexedArticle]:
        return [a for a in self.articles if a.id == article_id]

    def search(
        self, question: str, limit: int = 5, locales: Sequence[str] | None = None
    ) -> list[Match]:
        """Best articles first, scored 0..1 (cosine of the closest phrasing)."""
        feats = features(question)
        known = {self._vocabulary[n]: c for n, c in feats.items() if n in self._vocabulary}
        if not known or not self.articles:
            return []
        q_weights = {c: (1 + math.log(n)) * float(self._idf[c]) for c, n in known.items()}
        # Features the index has never seen still make the question longer (at the highest
        # idf), so a question mostly about something else scores low: plain TF-IDF cosine.
        unseen = sum(
            ((1 + math.log(c)) * self._unseen_idf) ** 2
            for n, c in feats.items()
            if n not in self._vocabulary
        )
        norm = math.sqrt(sum(w * w for w in q_weights.values()) + unseen)
        columns = np.fromiter(q_weights.keys(), dtype=np.int64)
        weights = np.fromiter(q_weights.values(), dtype=np.float32) / norm
        doc_scores = self._matrix[:, columns] @ weights
        article_scores = np.zeros(len(self.articles), dtype=np.float32)
        np.maximum.at(article_scores, self._owner, doc_scores)
        if locales:
            allowed = np.fromiter((a.locale in locales for a in self.articles), dtype=bool)
            article_scores = np.where(allowed, article_scores, 0.0)
        top = min(limit, len(self.articles))
        best = (
            np.argpartition(-article_scores, top - 1)[:top]
            if top < len(article_scores)
            else np.arange(len(article_scores))
        )
        best = best[np.argsort(-article_scores[best], kind="stable")]
        return [
            Match(self.articles[i], round(float(min(article_scores[i], 1.0)), 4))
            for i in best
            if article_scores[i] > 0
        ]
