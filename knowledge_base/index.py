"""An in-memory index over article titles and question phrasings, with calibrated confidence.

Each phrasing is a TF-IDF document. Articles are ranked by fusing two lexical views — the best
phrasing's cosine (kNN) and a softmax classifier over the same sparse features, trained at
build time — plus, with a sentence model, the same two views over embeddings for Latin-script
questions. A match's score is a calibrated probability that it is the right answer: at build
time the index quizzes itself (see ``calibration``) and fits a small logistic model on what it
saw. A KB too small to quiz itself scores with the best phrasing's cosine, as it always did.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from knowledge_base.calibration import (
    Calibrator,
    Quiz,
    Softmax,
    fit_softmax,
    plan_quiz,
)
from knowledge_base.semantic import Encoder, is_latin
from knowledge_base.text import features

# The classifier has features x articles parameters: above these, rank by cosine alone (the
# 10,000-article KB of bench/kb_search.py), which needs no training.
MAX_CLASSIFIER_ARTICLES = 2000
MAX_CLASSIFIER_PARAMETERS = 40_000_000
CLASSIFIER_C = 30.0  # inverse L2 strength; 10 and 100 were each worse on BANKING77/CLINC150
# Fusion: classifier log-probability + this x best cosine (per view); tuned on both sets.
KNN_WEIGHT = 1.5
COSINE_SCALE = 20.0  # no classifier: the cosine on a softmax-friendly scale
BATCH = 128


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


@dataclass(frozen=True)
class Scores:
    """Per (question, article): best cosine and classifier log-probability, per view."""

    knn: np.ndarray
    log_p: np.ndarray | None = None
    sem_knn: np.ndarray | None = None
    sem_log_p: np.ndarray | None = None


class SearchIndex:
    """Immutable once built; rebuild to change. Search is a sparse column sum and a few small
    dense products, no Python loop over documents, so 10,000 articles answer in milliseconds.

    ``semantic``: a sentence encoder for Latin-script questions (the knowledge base passes
    the one ``bot.semantic`` chose), or None. ``learn=False`` gives the plain scorer (best
    phrasing's cosine; no classifier, no calibration).
    """

    def __init__(
        self,
        articles: Iterable[IndexedArticle],
        *,
        semantic: Encoder | None = None,
        learn: bool = True,
    ) -> None:
        self.articles: list[IndexedArticle] = list(articles)
        self._by_key = {(a.id, a.locale): a for a in self.articles}
        self._ids = np.asarray([a.id for a in self.articles], dtype=object)
        docs: list[Counter[str]] = []
        texts: list[str] = []
        owner: list[int] = []
        for position, article in enumerate(self.articles):
            for phrasing in (article.title, *article.questions):
                feats = features(phrasing)
                if feats:
                    docs.append(feats)
                    texts.append(phrasing)
                    owner.append(position)
        owners = np.asarray(owner, dtype=np.int64)
        quiz = plan_quiz(self._ids, owners) if learn else None
        # The sentence model earns its cost only where it can be calibrated.
        self._encoder = semantic if quiz is not None else None
        embeddings = self._encoder.encode(texts) if self._encoder else None
        self._model = Model(docs, owners, len(self.articles), embeddings, learn=learn)
        self._lexical: Calibrator | None = None
        self._semantic: Calibrator | None = None
        if quiz is not None:
            self._lexical, self._semantic = self._calibrate(quiz, docs, texts, owners, embeddings)
        if self._semantic is None:
            self._encoder = None

    def __len__(self) -> int:
        return len(self.articles)

    @property
    def calibrated(self) -> bool:
        return self._lexical is not None

    @property
    def semantic(self) -> bool:
        return self._encoder is not None

    @property
    def locales(self) -> frozenset[str]:
        """The locales some article is written in."""
        return frozenset(locale for _, locale in self._by_key)

    def get(self, article_id: str, locale: str) -> IndexedArticle | None:
        return self._by_key.get((article_id, locale))

    def variants(self, article_id: str) -> list[IndexedArticle]:
        return [a for a in self.articles if a.id == article_id]

    def search(
        self, question: str, limit: int = 5, locales: Sequence[str] | None = None
    ) -> list[Match]:
        """Best articles first, each scored 0..1: the probability that it answers the question
        (once calibrated; before that, the cosine of its closest phrasing)."""
        if not self.articles:
            return []
        embedding = None
        if self._encoder is not None and is_latin(question):
            embedding = self._encoder.encode([question])
        scores = self._model.score([features(question)], embedding)
        if scores is None:
            return []
        allowed = None
        if locales:
            allowed = np.fromiter((a.locale in locales for a in self.articles), dtype=bool)
        fused, knn = fuse(scores, allowed)
        eligible = np.isfinite(fused[0]) & ((knn[0] > 0) | (embedding is not None))
        candidates = np.flatnonzero(eligible)
        if not len(candidates):
            return []
        top = min(limit, len(candidates))
        best = candidates[np.argpartition(-fused[0, candidates], top - 1)[:top]]
        best = best[np.argsort(-fused[0, best], kind="stable")]
        calibrator = self._semantic if embedding is not None else self._lexical
        rows = np.zeros(len(best), dtype=np.int64)
        if calibrator is None:
            raw = np.clip(knn[0, best], 0.0, 1.0)
        else:
            raw = calibrator(calibration_features(fused, knn, scores, rows, best))
        # Best first, never more confident than the one above; a listed match is never 0.
        confidence = np.maximum(np.minimum.accumulate(raw), 1e-4)
        return [
            Match(self.articles[i], round(float(c), 4))
            for i, c in zip(best, confidence, strict=True)
        ]

    def _calibrate(
        self,
        quiz: Quiz,
        docs: list[Counter[str]],
        texts: list[str],
        owners: np.ndarray,
        embeddings: np.ndarray | None,
    ) -> tuple[Calibrator, Calibrator | None]:
        """Quiz a model built without the held-out phrasings and articles; fit P(right)."""
        keep = quiz.train
        classes = np.unique(owners[keep])  # quiz article number -> index article number
        model = Model(
            [docs[d] for d in keep],
            np.searchsorted(classes, owners[keep]),
            len(classes),
            None if embeddings is None else embeddings[keep],
            learn=True,
        )
        asked = quiz.questions
        truth = self._ids[owners[asked]]
        answers = [docs[d] for d in asked]
        x, right = _quiz(model, answers, None, truth, self._ids[classes])
        lexical = Calibrator.fit(x, right, quiz.weights)
        if embeddings is None:
            return lexical, None
        latin = np.fromiter((is_latin(texts[d]) for d in asked), dtype=bool, count=len(asked))
        if not latin.any():
            return lexical, None
        picked = np.flatnonzero(latin)
        x, right = _quiz(
            model,
            [answers[i] for i in picked],
            embeddings[asked[picked]],
            truth[picked],
            self._ids[classes],
        )
        return lexical, Calibrator.fit(x, right, quiz.weights[picked])


def _quiz(
    model: Model,
    questions: list[Counter[str]],
    embeddings: np.ndarray | None,
    truth: np.ndarray,
    ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Calibration features of each question's top answer, and whether it was right."""
    xs, rights = [], []
    for start in range(0, len(questions), BATCH):
        part = slice(start, start + BATCH)
        scores = model.score(questions[part], None if embeddings is None else embeddings[part])
        if scores is None:  # no known feature in the whole batch: all unanswerable
            xs.append(np.zeros((len(questions[part]), 3 + (embeddings is not None))))
            rights.append(np.zeros(len(questions[part]), dtype=bool))
            continue
        fused, knn = fuse(scores)
        top = fused.argmax(axis=1)
        xs.append(calibration_features(fused, knn, scores, np.arange(len(top)), top))
        rights.append(ids[top] == truth[part])
    return np.vstack(xs), np.concatenate(rights)


def fuse(scores: Scores, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ranking scores (a sum of log-probabilities and cosines; -inf where not allowed) and the
    kNN cosines (0 where not allowed)."""
    knn = scores.knn
    if scores.log_p is None:
        fused = COSINE_SCALE * knn
    else:
        fused = scores.log_p + KNN_WEIGHT * knn
    if scores.sem_knn is not None and scores.sem_log_p is not None:
        fused = fused + scores.sem_log_p + KNN_WEIGHT * scores.sem_knn
    if allowed is not None:
        fused = np.where(allowed, fused, -np.inf)
        knn = np.where(allowed, knn, 0.0)
    return fused, knn


def calibration_features(
    fused: np.ndarray, knn: np.ndarray, scores: Scores, rows: np.ndarray, chosen: np.ndarray
) -> np.ndarray:
    """Per (question row, chosen article): the logit of its share of softmax(fused), its best
    cosine, its margin over the best other article's cosine and (semantic) its best embedding
    cosine. One pass over each question's row, however many articles are chosen from it."""
    peak = fused.max(axis=1, keepdims=True)
    log_total = (peak + np.log(np.exp(fused - peak).sum(axis=1, keepdims=True)))[:, 0]
    log_share = fused[rows, chosen] - log_total[rows]
    share = np.minimum(np.exp(log_share), 1 - 1e-6)
    logit = np.clip(log_share - np.log1p(-share), -12.0, 12.0)
    own = knn[rows, chosen]
    if knn.shape[1] > 1:
        two = -np.partition(-knn, 1, axis=1)[:, :2]  # the two best cosines of each row
        runner_up = np.where(own >= two[rows, 0], two[rows, 1], two[rows, 0])
    else:
        runner_up = np.zeros(len(rows))
    columns = [logit, own, own - runner_up]
    if scores.sem_knn is not None:
        columns.append(scores.sem_knn[rows, chosen])
    return np.column_stack(columns)


class Model:
    """The scorers over one set of phrasings: TF-IDF kNN, and (``learn``, when small enough)
    a softmax classifier over the same features; with embeddings, both again over those."""

    def __init__(
        self,
        docs: list[Counter[str]],
        owners: np.ndarray,
        articles: int,
        embeddings: np.ndarray | None,
        *,
        learn: bool,
    ) -> None:
        self._articles = articles
        # One flat pass in comprehensions: at 10,000 articles there are millions of entries.
        vocabulary: dict[str, int] = {}
        assign = vocabulary.setdefault
        cols = np.asarray(
            [assign(name, len(vocabulary)) for feats in docs for name in feats], dtype=np.int64
        )
        counts = np.asarray([count for feats in docs for count in feats.values()], np.float32)
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), [len(f) for f in docs])
        n_docs = max(len(docs), 1)
        self._vocabulary = vocabulary
        self._unseen_idf = math.log(1 + n_docs) + 1.0
        # Smoothed idf and sublinear tf, each row L2-normalised: cosine = one dot product.
        df = np.bincount(cols, minlength=len(vocabulary))
        self._idf = (np.log((1 + n_docs) / (1 + df)) + 1.0).astype(np.float32)
        weights = (1 + np.log(counts)) * self._idf[cols]
        norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=len(docs)))
        values = (weights / np.where(norms > 0, norms, 1.0)[rows]).astype(np.float32)
        shape = (len(docs), len(vocabulary))
        self._matrix = sparse.csc_matrix((values, (rows, cols)), shape=shape)
        # Phrasings come grouped by article: an article's best is a max over its run.
        self._starts: np.ndarray = (
            np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
            if len(docs)
            else np.zeros(0, dtype=np.int64)
        )
        self._present = owners[self._starts] if len(docs) else np.zeros(0, dtype=np.int64)
        self._classifier: Softmax | None = None
        self._columns = np.full(len(vocabulary), -1, dtype=np.int64)
        trainable = learn and 2 <= articles <= MAX_CLASSIFIER_ARTICLES and len(docs) > 0
        if trainable:
            # Features seen once say little and multiply the parameters (not in tiny KBs).
            kept = np.flatnonzero(df >= 2) if len(docs) >= 1000 else np.arange(len(vocabulary))
            if 0 < len(kept) * articles <= MAX_CLASSIFIER_PARAMETERS:
                self._columns[kept] = np.arange(len(kept))
                x = self._matrix.tocsr()[:, kept]
                self._classifier = fit_softmax(x, owners, articles, c=CLASSIFIER_C)
        self._embeddings = embeddings
        self._sem_classifier: Softmax | None = None
        if trainable and embeddings is not None:
            self._sem_classifier = fit_softmax(embeddings, owners, articles, c=CLASSIFIER_C)

    def score(
        self, questions: Sequence[Counter[str]], embeddings: np.ndarray | None = None
    ) -> Scores | None:
        """Scores of every article for each question; None when no question shares a feature
        with the phrasings and there are no embeddings."""
        q = self._vectors(questions)
        if not q.nnz and embeddings is None:
            return None
        if len(questions) == 1:  # a column slice: touches only the question's features
            doc_scores = (self._matrix[:, q.indices] @ q.data)[None, :]
        else:
            doc_scores = (q @ self._matrix.T).toarray()
        knn = self._best_per_article(doc_scores)
        log_p = None
        if self._classifier is not None:
            q_cols = self._columns[q.indices]
            mapped = sparse.csr_matrix(
                (np.where(q_cols >= 0, q.data, 0.0), np.maximum(q_cols, 0), q.indptr),
                shape=(q.shape[0], self._classifier.weights.shape[0]),
            )
            log_p = self._classifier.log_proba(mapped)
        if embeddings is None or self._embeddings is None:
            return Scores(knn, log_p)
        sem_knn = self._best_per_article(embeddings @ self._embeddings.T)
        sem_log_p = None
        if self._sem_classifier is not None:
            sem_log_p = self._sem_classifier.log_proba(embeddings)
        return Scores(knn, log_p, sem_knn, sem_log_p)

    def _vectors(self, questions: Sequence[Counter[str]]) -> sparse.csr_matrix:
        """Questions as L2-normalised TF-IDF rows. Features the index has never seen still
        make a question longer (at the highest idf), so a question mostly about something else
        scores low: plain TF-IDF cosine."""
        indptr: list[int] = [0]
        indices: list[int] = []
        data: list[float] = []
        for feats in questions:
            known = {self._vocabulary[n]: c for n, c in feats.items() if n in self._vocabulary}
            row = {c: (1 + math.log(n)) * float(self._idf[c]) for c, n in known.items()}
            unseen = sum(
                ((1 + math.log(c)) * self._unseen_idf) ** 2
                for n, c in feats.items()
                if n not in self._vocabulary
            )
            norm = math.sqrt(sum(w * w for w in row.values()) + unseen) or 1.0
            indices += row.keys()
            data += [w / norm for w in row.values()]
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(questions), len(self._vocabulary)),
        )

    def _best_per_article(self, doc_scores: np.ndarray) -> np.ndarray:
        out = np.zeros((doc_scores.shape[0], self._articles), dtype=np.float32)
        if len(self._starts):
            out[:, self._present] = np.maximum.reduceat(doc_scores, self._starts, axis=1)
        return out
