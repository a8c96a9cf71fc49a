"""An in-memory index over article titles, question phrasings and the first sentences of each
answer, with confidence that means the probability of being right.

Each phrasing is a TF-IDF document. Articles are ranked by fusing two lexical views — the best
phrasing's cosine (kNN) and a softmax classifier over the same sparse features, trained at
build time — plus, with a sentence model, the same two views over embeddings for Latin-script
questions. A match's score is a probability that it is the right answer, at every size: a
model fitted offline across about a thousand knowledge bases (``confidence``) scores every
index, and an index large enough to quiz itself (see ``calibration``) fits the same features
to its own held-out phrasings and blends that in by how many questions back it. With the
sentence model (only in an index that quizzes itself) Latin-script questions are scored by
the quiz's semantic calibrator alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from knowledge_base import confidence
from knowledge_base.calibration import (
    Calibrator,
    Quiz,
    Softmax,
    fit_softmax,
    plan_quiz,
)
from knowledge_base.semantic import Encoder, is_latin
from knowledge_base.text import features, script_code

# The classifier has features x articles parameters: above these, rank by cosine alone (the
# 10,000-article KB of bench/kb_search.py), which needs no training.
MAX_CLASSIFIER_ARTICLES = 2000
MAX_CLASSIFIER_PARAMETERS = 40_000_000
CLASSIFIER_C = 30.0  # inverse L2 strength; 10 and 100 were each worse on BANKING77/CLINC150
# Fusion: classifier log-probability + this x best cosine (per view); tuned on both sets.
KNN_WEIGHT = 1.5
COSINE_SCALE = 20.0  # no classifier: the cosine on a softmax-friendly scale
BATCH = 128
BODY_SENTENCES = 8  # of an article's answer, searched as phrasings
MIN_SENTENCE = 4  # characters
# A sentence ends at . ! ? (followed by a space or the end), their full-width forms, a line
# break or a semicolon; Thai has no sentence punctuation and is searched as one run per line.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|[。！？；;\n]+")


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
    coverage: np.ndarray  # per question: share of its TF-IDF weight the vocabulary knows
    length: np.ndarray  # per question: how many features it has
    log_p: np.ndarray | None = None
    sem_knn: np.ndarray | None = None
    sem_log_p: np.ndarray | None = None


class SearchIndex:
    """Immutable once built; rebuild to change. Search is a sparse column sum and a few small
    dense products, no Python loop over documents, so 10,000 articles answer in milliseconds.

    ``semantic``: a sentence encoder for Latin-script questions (the knowledge base passes
    the one ``bot.semantic`` chose), or None. ``learn=False`` gives the plain scorer (best
    phrasing's cosine; no classifier, no calibration). ``prior``: the confidence model to
    start from instead of the shipped one (the benchmark's held-out fits).
    """

    def __init__(
        self,
        articles: Iterable[IndexedArticle],
        *,
        semantic: Encoder | None = None,
        learn: bool = True,
        prior: Calibrator | None = None,
    ) -> None:
        self.articles: list[IndexedArticle] = list(articles)
        self._by_key = {(a.id, a.locale): a for a in self.articles}
        self._ids = np.asarray([a.id for a in self.articles], dtype=object)
        docs: list[Counter[str]] = []
        texts: list[str] = []
        owner: list[int] = []
        askable: list[bool] = []
        for position, article in enumerate(self.articles):
            phrasings = (article.title, *article.questions)
            for n, phrasing in enumerate((*phrasings, *body_sentences(article.body))):
                feats = features(phrasing)
                if feats:
                    docs.append(feats)
                    texts.append(phrasing)
                    owner.append(position)
                    askable.append(n < len(phrasings))
        owners = np.asarray(owner, dtype=np.int64)
        self._learn = learn
        # A question competes with the articles of its own language: the size that matters
        # is articles per locale, and phrasings per article variant.
        locales = max(len({a.locale for a in self.articles}), 1)
        self._context = confidence.Context.of(
            len(self.articles) / locales, len(docs), len(self.articles)
        )
        self._prior = prior or confidence.prior()
        quiz = plan_quiz(self._ids, owners, np.asarray(askable, dtype=bool)) if learn else None
        # The sentence model earns its cost only where it can be calibrated.
        self._encoder = semantic if quiz is not None else None
        embeddings = self._encoder.encode(texts) if self._encoder else None
        self._model = Model(docs, owners, len(self.articles), embeddings, learn=learn)
        self._lexical: Calibrator | None = None
        self._semantic: Calibrator | None = None
        self._quiz_questions = 0
        if quiz is not None:
            self._quiz_questions = int(quiz.in_scope.sum())
            self._lexical, self._semantic = self._calibrate(quiz, docs, texts, owners, embeddings)
        if self._semantic is None:
            self._encoder = None

    def __len__(self) -> int:
        return len(self.articles)

    @property
    def calibrated(self) -> bool:
        """Whether scores are probabilities of being right (every index that learns)."""
        return self._learn

    @property
    def self_calibrated(self) -> bool:
        """Whether the index was large enough to quiz itself and correct the shipped model."""
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
        (with ``learn=False``, the cosine of its closest phrasing)."""
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
        rows = np.zeros(len(best), dtype=np.int64)
        if not self._learn:
            raw = np.clip(knn[0, best], 0.0, 1.0)
        else:
            scripts = np.asarray([script_code(question)])
            x = self._features(fused, knn, scores, scripts, rows, best)
            if embedding is not None and self._semantic is not None:
                assert scores.sem_knn is not None
                raw = self._semantic(np.column_stack([x, scores.sem_knn[rows, best]]))
            else:
                raw = self._probability(x)
        # Best first, never more confident than the one above; a listed match is never 0.
        confidence_ = np.maximum(np.minimum.accumulate(raw), 1e-4)
        return [
            Match(self.articles[i], round(float(c), 4))
            for i, c in zip(best, confidence_, strict=True)
        ]

    def top_answers(self, questions: Sequence[str]) -> tuple[list[str | None], np.ndarray]:
        """Per question, the top article's id (None: nothing matched) and its confidence
        features (``confidence.NAMES``); for fitting and measuring the calibration."""
        ids: list[str | None] = []
        rows: list[np.ndarray] = []
        width = len(confidence.NAMES)
        for start in range(0, len(questions), BATCH):
            part = questions[start : start + BATCH]
            scores = self._model.score([features(q) for q in part])
            if scores is None:
                ids += [None] * len(part)
                rows.append(np.zeros((len(part), width)))
                continue
            fused, knn = fuse(scores)
            top = fused.argmax(axis=1)
            scripts = np.asarray([script_code(q) for q in part])
            rows.append(self._features(fused, knn, scores, scripts, np.arange(len(part)), top))
            matched = knn[np.arange(len(part)), top] > 0
            ids += [str(self._ids[t]) if m else None for t, m in zip(top, matched, strict=True)]
        return ids, np.vstack(rows) if rows else np.zeros((0, width))

    def _features(
        self,
        fused: np.ndarray,
        knn: np.ndarray,
        scores: Scores,
        scripts: np.ndarray,
        rows: np.ndarray,
        chosen: np.ndarray,
    ) -> np.ndarray:
        return confidence.features(
            fused, knn, scores.coverage, scores.length, scripts, rows, chosen, self._context
        )

    def _probability(self, x: np.ndarray) -> np.ndarray:
        quiz = self._lexical(x) if self._lexical is not None else None
        return confidence.blend(self._prior(x), quiz, self._quiz_questions)

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
        scripts = np.asarray([script_code(texts[d]) for d in asked])
        ids = self._ids[classes]
        x, right = self._quiz(model, answers, scripts, None, truth, ids)
        lexical = Calibrator.fit(x, right, quiz.weights)
        if embeddings is None:
            return lexical, None
        latin = np.fromiter((is_latin(texts[d]) for d in asked), dtype=bool, count=len(asked))
        if not latin.any():
            return lexical, None
        picked = np.flatnonzero(latin)
        x, right = self._quiz(
            model,
            [answers[i] for i in picked],
            scripts[picked],
            embeddings[asked[picked]],
            truth[picked],
            ids,
        )
        return lexical, Calibrator.fit(x, right, quiz.weights[picked])

    def _quiz(
        self,
        model: Model,
        questions: list[Counter[str]],
        scripts: np.ndarray,
        embeddings: np.ndarray | None,
        truth: np.ndarray,
        ids: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Confidence features of each question's top answer (with embeddings, plus its
        embedding cosine), and whether it was right."""
        width = len(confidence.NAMES) + (embeddings is not None)
        xs, rights = [], []
        for start in range(0, len(questions), BATCH):
            part = slice(start, start + BATCH)
            batch = questions[part]
            scores = model.score(batch, None if embeddings is None else embeddings[part])
            if scores is None:  # no known feature in the whole batch: all unanswerable
                xs.append(np.zeros((len(batch), width)))
                rights.append(np.zeros(len(batch), dtype=bool))
                continue
            fused, knn = fuse(scores)
            top = fused.argmax(axis=1)
            rows = np.arange(len(top))
            x = self._features(fused, knn, scores, scripts[part], rows, top)
            if scores.sem_knn is not None:
                x = np.column_stack([x, scores.sem_knn[rows, top]])
            xs.append(x)
            rights.append(ids[top] == truth[part])
        return np.vstack(xs), np.concatenate(rights)


def body_sentences(body: str) -> list[str]:
    """The first sentences of an article's answer, each searched like one more phrasing:
    customers often ask about a fact the answer states ("can I return underwear?") in words
    no phrasing has. Measured on our multilingual FAQ sets (bench/small_kb.py): the right
    article first for 3–10 points more questions in every language."""
    found = []
    for part in _SENTENCE_END.split(body):
        part = part.strip()
        if len(part) >= MIN_SENTENCE:
            found.append(part)
            if len(found) == BODY_SENTENCES:
                break
    return found


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
        q, coverage = self._vectors(questions)
        length = np.asarray([sum(f.values()) for f in questions], dtype=np.float64)
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
            return Scores(knn, coverage, length, log_p)
        sem_knn = self._best_per_article(embeddings @ self._embeddings.T)
        sem_log_p = None
        if self._sem_classifier is not None:
            sem_log_p = self._sem_classifier.log_proba(embeddings)
        return Scores(knn, coverage, length, log_p, sem_knn, sem_log_p)

    def _vectors(self, questions: Sequence[Counter[str]]) -> tuple[sparse.csr_matrix, np.ndarray]:
        """Questions as L2-normalised TF-IDF rows, and the share of each one's squared weight
        on known features. Features the index has never seen still make a question longer (at
        the highest idf), so a question mostly about something else scores low: plain TF-IDF
        cosine."""
        coverage: list[float] = []
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
            known_mass = sum(w * w for w in row.values())
            norm = math.sqrt(known_mass + unseen) or 1.0
            coverage.append(known_mass / (norm * norm))
            indices += row.keys()
            data += [w / norm for w in row.values()]
            indptr.append(len(indices))
        matrix = sparse.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(questions), len(self._vocabulary)),
        )
        return matrix, np.asarray(coverage)

    def _best_per_article(self, doc_scores: np.ndarray) -> np.ndarray:
        out = np.zeros((doc_scores.shape[0], self._articles), dtype=np.float32)
        if len(self._starts):
            out[:, self._present] = np.maximum.reduceat(doc_scores, self._starts, axis=1)
        return out
