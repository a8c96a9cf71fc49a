"""Knowledge gaps: the questions the bot could not answer, grouped by what they ask.

Pure: questions in, clusters out. Each question becomes a TF-IDF vector of
``knowledge_base.text.features`` (words and character n-grams, so Thai and Chinese need no
segmenter); questions whose cosine similarity reaches ``threshold`` share a cluster. Clustering
runs per language (a Thai and an English question never share a draft article), as a leader
pass (most asked first: a question joins the most similar leader, or leads a new cluster),
then passes that move each question to the nearest cluster centre and merge clusters whose
centres are close (average-linkage-like agglomeration over the leaders' clusters). Exact repeats are folded first, so ten thousand questions cluster in about a
second.

A cluster's representative is its medoid (the question with the highest total similarity to
the others, which under cosine is the one nearest the members' sum), its key a hash of that
question, so the same gap keeps its key from one report to the next while it stays the same.
Its keywords (``top_terms``) are whole words, Thai and Chinese ones cut by a dictionary
segmenter (see ``knowledge_base.keywords``), never the n-grams the clustering compares.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
from scipy import sparse

from knowledge_base import keywords
from knowledge_base.text import features, normalize

__all__ = ["Cluster", "Example", "Question", "cluster"]

THRESHOLD = 0.2
EXAMPLES = 5
DRAFT_QUESTIONS = 20
TERMS = 5
TITLE_LIMIT = 120
_BLOCK = 256  # questions compared to the leaders at once


class Question(Protocol):
    """One question the bot missed (``kind``: missed, escalated or unhelpful)."""

    @property
    def text(self) -> str: ...
    @property
    def locale(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def conversation_id(self) -> int | None: ...
    @property
    def touchpoint_id(self) -> int: ...
    @property
    def best_article_id(self) -> str | None: ...


@dataclass(frozen=True)
class Example:
    text: str
    conversation_id: int | None
    touchpoint_id: int
    kind: str
    created_at: datetime


@dataclass(frozen=True)
class Cluster:
    key: str
    locale: str
    count: int
    kinds: dict[str, int]
    representative: str
    title: str
    examples: list[Example]
    questions: list[str]  # distinct phrasings, most central first (at most DRAFT_QUESTIONS)
    top_terms: list[str]
    nearest_article_id: str | None
    first_at: datetime
    last_at: datetime
    conversation_ids: list[int] = field(default_factory=list)


def cluster(items: Iterable[Question], threshold: float = THRESHOLD) -> list[Cluster]:
    """Group ``items`` by topic; biggest cluster first (then the most recent, then by key)."""
    by_locale: dict[str, list[Question]] = {}
    for item in items:
        if item.text.strip():
            by_locale.setdefault(_lang(item.locale), []).append(item)
    found = [c for locale, group in by_locale.items() for c in _cluster(locale, group, threshold)]
    found.sort(key=lambda c: (-c.count, -c.last_at.timestamp(), c.key))
    return found


def _cluster(locale: str, items: list[Question], threshold: float) -> list[Cluster]:
    # Exact repeats (after normalising) are one phrasing asked several times.
    phrasings: dict[str, list[Question]] = {}
    for item in items:
        phrasings.setdefault(normalize(item.text), []).append(item)
    # Most asked first, then oldest: a common phrasing leads, and the order is deterministic.
    keys = sorted(phrasings, key=lambda k: (-len(phrasings[k]), _first(phrasings[k]), k))
    texts = [phrasings[k][0].text for k in keys]
    matrix = _tfidf(texts)
    weight = np.array([len(phrasings[k]) for k in keys], dtype=np.float64)
    labels = _leaders(matrix, threshold)
    for step in (_recentre, _recentre, _merge, _recentre):
        labels = step(matrix, labels, weight, threshold)
    words = keywords.document_frequency(texts)  # keywords: what sets a cluster apart
    clusters = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        clusters.append(
            _describe(locale, matrix, members, weight, [phrasings[keys[m]] for m in members], words)
        )
    return clusters


def _tfidf(texts: Sequence[str]) -> sparse.csr_matrix:
    """Rows L2-normalised (sublinear tf, smoothed idf), so a dot product is the cosine."""
    feats = [features(text) for text in texts]
    vocabulary: dict[str, int] = {}
    assign = vocabulary.setdefault
    cols = np.asarray([assign(name, len(vocabulary)) for f in feats for name in f], dtype=np.int64)
    counts = np.asarray([n for f in feats for n in f.values()], dtype=np.float64)
    rows = np.repeat(np.arange(len(feats), dtype=np.int64), [len(f) for f in feats])
    df = np.bincount(cols, minlength=len(vocabulary))
    idf = np.log((1 + len(feats)) / (1 + df)) + 1.0
    values = (1 + np.log(counts)) * idf[cols] if len(cols) else counts
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(feats)))
    values = values / np.where(norms > 0, norms, 1.0)[rows]
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(feats), len(vocabulary)))


def _leaders(matrix: sparse.csr_matrix, threshold: float) -> np.ndarray:
    """Each row joins its most similar earlier leader at ``threshold`` or more, else leads."""
    n = matrix.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    leaders: list[int] = []
    leader_rows: sparse.csr_matrix | None = None
    for start in range(0, n, _BLOCK):
        block = matrix[start : start + _BLOCK]
        if leader_rows is not None:
            sims = (block @ leader_rows.T).toarray()
            best = sims.argmax(axis=1)
            hit = sims[np.arange(len(best)), best] >= threshold
            labels[start + np.flatnonzero(hit)] = np.asarray(leaders)[best[hit]]
        # The rest of the block against each other, in order (a new leader may take the next).
        inner = (block @ block.T).toarray()
        new: list[int] = []
        for offset in range(block.shape[0]):
            row = start + offset
            if labels[row] >= 0:
                continue
            if new:
                scores = inner[offset, new]
                pick = int(scores.argmax())
                if scores[pick] >= threshold:
                    labels[row] = start + new[pick]
                    continue
            labels[row] = row
            new.append(offset)
        if new:
            rows = block[new]
            leader_rows = (
                rows if leader_rows is None else sparse.vstack([leader_rows, rows]).tocsr()
            )
            leaders += [start + offset for offset in new]
    return labels


def _recentre(
    matrix: sparse.csr_matrix, labels: np.ndarray, weight: np.ndarray, threshold: float
) -> np.ndarray:
    """Every question moves to the nearest centre of a cluster of two or more phrasings when
    that is at least ``threshold`` close (a leader pass leaves a topic's early questions with
    whichever leader came first, and compares with one question, not with the topic)."""
    names, index = np.unique(labels, return_inverse=True)
    shared = np.flatnonzero(np.bincount(index) > 1)
    if not len(shared):
        return labels
    n = matrix.shape[0]
    assign = sparse.csr_matrix((weight, (index, np.arange(n))), shape=(len(names), n))
    centres = _normalised(assign[shared] @ matrix)
    sims = (matrix @ centres.T).toarray()
    best = sims.argmax(axis=1)
    near = sims[np.arange(n), best] >= threshold
    moved = labels.copy()
    moved[near] = names[shared[best[near]]]
    return moved


def _merge(
    matrix: sparse.csr_matrix, labels: np.ndarray, weight: np.ndarray, threshold: float
) -> np.ndarray:
    """Clusters of two or more phrasings merge, most similar pair first, while their centres
    are at least ``threshold`` close (a topic the leader pass split by wording: "gift card",
    "gift cards"). Each merge checks the merged centres, so no chain of merges drifts off."""
    names, index = np.unique(labels, return_inverse=True)
    shared = np.flatnonzero(np.bincount(index) > 1)
    if len(shared) < 2:
        return labels
    n = matrix.shape[0]
    assign = sparse.csr_matrix((weight, (index, np.arange(n))), shape=(len(names), n))
    sums = sparse.csr_matrix(assign[shared] @ matrix)
    sims = sparse.triu(_normalised(sums) @ _normalised(sums).T, k=1).tocoo()
    close = sims.data >= threshold
    order = np.argsort(-sims.data[close], kind="stable")
    parent = list(range(len(shared)))
    total = {i: sums[i] for i in range(len(shared))}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(sims.row[close][order], sims.col[close][order], strict=True):
        ra, rb = root(int(a)), root(int(b))
        if ra != rb and _cosine(total[ra], total[rb]) >= threshold:
            parent[rb] = ra
            total[ra] = total[ra] + total.pop(rb)
    target = np.arange(len(names))
    target[shared] = shared[[root(i) for i in range(len(shared))]]
    return names[target[index]]


def _cosine(a: sparse.csr_matrix, b: sparse.csr_matrix) -> float:
    norms = math.sqrt(a.multiply(a).sum() * b.multiply(b).sum())
    return float(a.multiply(b).sum() / norms) if norms else 0.0


def _normalised(rows: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    return sparse.csr_matrix(sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ rows)


def _describe(
    locale: str,
    matrix: sparse.csr_matrix,
    members: np.ndarray,
    weight: np.ndarray,
    groups: list[list[Question]],
    words: tuple[Counter[str], int],
) -> Cluster:
    rows = matrix[members]
    total = sparse.csr_matrix(weight[members] @ rows)  # the members' (weighted) sum
    centrality = np.asarray((rows @ total.T).todense()).ravel()
    order = np.argsort(-centrality, kind="stable")
    ranked = [groups[i] for i in order]  # phrasings, most central first
    representative = ranked[0][0].text.strip()
    everything = [q for group in groups for q in group]
    examples = [
        Example(q.text.strip(), q.conversation_id, q.touchpoint_id, q.kind, q.created_at)
        for q in (max(group, key=lambda q: q.created_at) for group in ranked[:EXAMPLES])
    ]
    best = Counter(q.best_article_id for q in everything if q.best_article_id)
    kinds = Counter(q.kind for q in everything)
    conversations = sorted({q.conversation_id for q in everything if q.conversation_id})
    return Cluster(
        key=hashlib.sha256(f"{locale}\x00{normalize(representative)}".encode()).hexdigest()[:12],
        locale=locale,
        count=len(everything),
        kinds=dict(sorted(kinds.items())),
        representative=representative,
        title=title_of(representative),
        examples=examples,
        questions=list(dict.fromkeys(g[0].text.strip() for g in ranked))[:DRAFT_QUESTIONS],
        top_terms=keywords.top_terms([(g[0].text, len(g)) for g in ranked], *words, limit=TERMS),
        nearest_article_id=min(best, key=lambda a: (-best[a], a)) if best else None,
        first_at=min(q.created_at for q in everything),
        last_at=max(q.created_at for q in everything),
        conversation_ids=conversations,
    )


def title_of(question: str) -> str:
    """A suggested article title: the question on one line, capitalised, without its trailing
    punctuation, cut at a word within ``TITLE_LIMIT`` characters."""
    text = " ".join(question.split()).rstrip(" ?？!！.。,，؟")
    if len(text) > TITLE_LIMIT:
        cut = text[:TITLE_LIMIT]
        space = cut.rfind(" ")
        text = (cut[:space] if space > TITLE_LIMIT // 2 else cut).rstrip(" ,.;:") + "…"
    return text[:1].upper() + text[1:] if text else question.strip()[:TITLE_LIMIT]


def _first(group: list[Question]) -> float:
    return min(q.created_at for q in group).timestamp()


def _lang(locale: str | None) -> str:
    return (locale or "und").split("-")[0].lower() or "und"
