"""Small linear models fitted when the index is built, and the quiz that calibrates it.

The per-article softmax classifier is fitted with L-BFGS (its parameters number features x
articles); the calibrator, a logistic model over a handful of retrieval features that turns
them into a probability of being right, with Newton's method. Both in numpy, no scikit-learn.

The quiz: the index holds out some phrasings of most articles (questions it should answer) and
every phrasing of a few articles (questions it cannot answer: any answer is wrong), builds a
model without them, asks them, and fits the calibrator on whether the top answer was right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from scipy import sparse

Matrix: TypeAlias = Any  # a scipy sparse matrix or a dense ndarray, (rows, features)
Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class Softmax:
    """Multinomial logistic regression: ``log_proba(x) = log softmax(x @ weights + bias)``."""

    weights: np.ndarray  # (features, classes), float32
    bias: np.ndarray  # (classes,)

    def logits(self, x: Matrix) -> np.ndarray:
        return np.asarray(x @ self.weights) + self.bias

    def log_proba(self, x: Matrix) -> np.ndarray:
        return log_softmax(self.logits(x))


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def fit_softmax(
    x: Matrix, y: np.ndarray, classes: int, *, c: float = 10.0, max_iter: int = 60
) -> Softmax:
    """Minimise mean cross-entropy + ||W||² / (2 c n); float32 throughout, the bias is free.

    Rows of ``x`` are L2-normalised TF-IDF vectors (or sentence embeddings), so one ``c`` suits
    knowledge bases of every size. 60 L-BFGS steps reach the accuracy of full convergence on
    BANKING77 and CLINC150 (measured in bench/bot_accuracy.py) in a fraction of the time.
    """
    n, dims = x.shape
    x = x.astype(np.float32)
    xt = x.T.tocsr() if sparse.issparse(x) else np.ascontiguousarray(x.T)
    lam = np.float32(1.0 / (c * n))
    rows = np.arange(n)
    size = dims * classes

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        weights = w[:size].reshape(dims, classes)
        z = np.asarray(x @ weights) + w[size:]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        total = e.sum(axis=1)
        loss = float(np.log(total).sum() - z[rows, y].sum()) / n
        loss += 0.5 * float(lam) * float(np.dot(w[:size], w[:size]))
        e /= total[:, None]
        e[rows, y] -= 1.0
        e /= n
        grad_w = np.asarray(xt @ e) + lam * weights
        return loss, np.concatenate([grad_w.ravel(), e.sum(axis=0)]).astype(np.float32)

    w = lbfgs(objective, np.zeros(size + classes, dtype=np.float32), max_iter=max_iter)
    return Softmax(w[:size].reshape(dims, classes), w[size:])


def lbfgs(
    objective: Objective, w: np.ndarray, *, max_iter: int, memory: int = 8, tol: float = 1e-5
) -> np.ndarray:
    """Limited-memory BFGS with a backtracking (Armijo) line search, in the dtype of ``w``.

    scipy's L-BFGS-B spends most of its time in float64 bookkeeping over the millions of
    parameters of a softmax; this loop keeps float32 and costs little beyond the objective.
    """
    loss, grad = objective(w)
    steps: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        direction = -_two_loop(grad, steps)
        slope = float(np.dot(grad, direction))
        if slope >= 0:  # not a descent direction: restart from the gradient
            steps.clear()
            direction = -grad / max(float(np.linalg.norm(grad)), 1e-12)
            slope = float(np.dot(grad, direction))
        t = 1.0
        while True:
            candidate = w + np.float32(t) * direction
            new_loss, new_grad = objective(candidate)
            if new_loss <= loss + 1e-4 * t * slope or t < 1e-6:
                break
            t *= 0.5
        s, change = candidate - w, new_grad - grad
        curvature = float(np.dot(s, change))
        if curvature > 1e-10:
            steps.append((s, change, 1.0 / curvature))
            del steps[:-memory]
        done = abs(loss - new_loss) <= tol * max(abs(loss), 1.0)
        w, loss, grad = candidate, new_loss, new_grad
        if done:
            break
    return w


def _two_loop(
    grad: np.ndarray, steps: Sequence[tuple[np.ndarray, np.ndarray, float]]
) -> np.ndarray:
    if not steps:
        return grad / max(float(np.linalg.norm(grad)), 1e-12)
    q = grad.copy()
    alphas = []
    for s, change, rho in reversed(steps):
        alpha = rho * float(np.dot(s, q))
        q -= np.float32(alpha) * change
        alphas.append(alpha)
    s, change, _ = steps[-1]
    q *= np.float32(np.dot(s, change) / np.dot(change, change))
    for (s, change, rho), alpha in zip(steps, reversed(alphas), strict=True):
        beta = rho * float(np.dot(change, q))
        q += np.float32(alpha - beta) * s
    return q


@dataclass(frozen=True)
class Calibrator:
    """P(the answer is right) = sigmoid(features @ coef + intercept), fitted on questions
    whose answers are known. ``features`` come from ``confidence.features``."""

    coef: np.ndarray
    intercept: float

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return sigmoid(features @ self.coef + self.intercept)

    @classmethod
    def fit(
        cls, features: np.ndarray, right: np.ndarray, weights: np.ndarray, l2: float = 1e-3
    ) -> Calibrator:
        """Weighted logistic regression by Newton's method (a few columns: converges in ~10)."""
        x = np.hstack([features.astype(np.float64), np.ones((len(features), 1))])
        y = right.astype(np.float64)
        w = weights.astype(np.float64) / weights.sum()
        theta = np.zeros(x.shape[1])
        penalty = np.full(x.shape[1], l2)
        penalty[-1] = 0.0
        for _ in range(50):
            p = sigmoid(x @ theta)
            grad = x.T @ (w * (p - y)) + penalty * theta
            hessian = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hessian, grad)
            theta -= step
            if np.abs(step).max() < 1e-8:
                break
        return cls(theta[:-1], float(theta[-1]))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def expected_calibration_error(
    confidence: Sequence[float], right: Sequence[bool], bins: int = 10
) -> float:
    """Mean |confidence − accuracy| over equal-width confidence bins, weighted by bin size."""
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(right, dtype=np.float64)
    if not len(conf):
        return float("nan")
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(conf[mask].mean() - hits[mask].mean())
    return total / len(conf)


def reliability(
    confidence: Sequence[float], right: Sequence[bool], bins: int = 5
) -> list[tuple[float, float, float, int]]:
    """Per confidence bin: (low, high, share right, count); empty bins left out."""
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(right, dtype=np.float64)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return [
        (b / bins, (b + 1) / bins, float(hits[which == b].mean()), int((which == b).sum()))
        for b in range(bins)
        if (which == b).any()
    ]


# Self-calibration needs enough to quiz: with fewer distinct articles or held-out phrasings
# than these the shipped confidence model (knowledge_base.confidence) scores alone.
MIN_ARTICLES = 20
MIN_QUESTIONS = 100
HOLD_OUT = 0.2  # of each article's phrasings (articles with 3 or more)
OUT_OF_SCOPE = 0.15  # of the articles, all their phrasings: questions the KB cannot answer
OUT_OF_SCOPE_WEIGHT = 0.25  # their share of the calibration's weight
MAX_QUESTIONS = 1000  # in scope; half as many out of scope (plenty for four coefficients)
SEED = 20260301


@dataclass(frozen=True)
class Quiz:
    train: np.ndarray  # phrasings (document numbers) the quiz model learns from
    questions: np.ndarray  # phrasings asked
    in_scope: np.ndarray  # per question: its article is in the quiz model
    weights: np.ndarray  # per question


def plan_quiz(
    ids: np.ndarray, owners: np.ndarray, askable: np.ndarray | None = None
) -> Quiz | None:
    """Which phrasings to hold out, given each article's id and each phrasing's article
    (phrasings grouped by article) and whether it may be asked (a question phrasing, not a
    sentence of the answer's body); None when the KB is too small to quiz."""
    if askable is None:
        askable = np.ones(len(owners), dtype=bool)
    distinct = sorted(set(ids.tolist()))
    if len(distinct) < MIN_ARTICLES or not len(owners):
        return None
    rng = np.random.default_rng(SEED)
    # By id, so every language variant of an out-of-scope article goes.
    out_ids = set(rng.choice(distinct, max(2, round(OUT_OF_SCOPE * len(distinct))), replace=False))
    out_doc = np.fromiter((ids[o] in out_ids for o in owners), dtype=bool, count=len(owners))
    held = np.zeros(len(owners), dtype=bool)
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    for start, end in zip(starts, [*starts[1:], len(owners)], strict=True):
        candidates = start + np.flatnonzero(askable[start:end])
        n = len(candidates)
        if n >= 3 and not out_doc[start]:
            held[rng.choice(candidates, max(1, round(HOLD_OUT * n)), replace=False)] = True
    inside, outside = np.flatnonzero(held), np.flatnonzero(out_doc & askable)
    if len(inside) < MIN_QUESTIONS or not len(outside):
        return None
    inside = np.sort(rng.choice(inside, min(len(inside), MAX_QUESTIONS), replace=False))
    outside = np.sort(rng.choice(outside, min(len(outside), MAX_QUESTIONS // 2), replace=False))
    share = OUT_OF_SCOPE_WEIGHT / (1 - OUT_OF_SCOPE_WEIGHT)
    return Quiz(
        train=np.flatnonzero(~held & ~out_doc),
        questions=np.concatenate([inside, outside]),
        in_scope=np.r_[np.ones(len(inside), dtype=bool), np.zeros(len(outside), dtype=bool)],
        weights=np.r_[
            np.ones(len(inside)), np.full(len(outside), share * len(inside) / len(outside))
        ],
    )
