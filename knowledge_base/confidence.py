"""What the index knows about one answer, as the size-independent features its confidence uses.

The confidence of a match is a probability that it is the right answer, whatever the size of
the knowledge base. It comes from a logistic model over the features below, fitted offline by
``bench/fit_calibration.py`` on about a thousand knowledge bases of 3 to 150 articles sampled
from public intent data and our own multilingual FAQ sets, with out-of-scope questions in
every language as negatives, and shipped here as coefficients (``PRIOR_COEF``). A knowledge
base large enough to quiz itself (see ``calibration.plan_quiz``) fits the same features to its
own held-out phrasings; the two probabilities are blended by how many quiz questions back the
knowledge base's own fit (``blend``).

Every feature is a number a knowledge base of any size produces on the same scale: a share of
the ranking's softmax, cosines in [0, 1], the share of the question the index's vocabulary
knows, and logarithms of the question's and the knowledge base's sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from knowledge_base.calibration import Calibrator

# The columns of ``features``, in order (the fit script prints its coefficients by these).
NAMES = (
    "share_logit",  # logit of the chosen article's share of softmax(ranking scores) among the
    # articles sharing a feature with the question, / 4
    "cosine",  # best TF-IDF cosine between the question and one of the article's phrasings
    "margin",  # that cosine minus the best other article's
    "cosine_sq",  # cosine², so a very close phrasing counts for more than linearly
    "coverage",  # share of the question's TF-IDF weight on features the index knows
    "agree",  # 1 when the best-cosine article is the chosen one
    "log_length",  # log(1 + the question's features)
    "log_articles",  # log of the articles per locale in the index
    "log_phrasings",  # log of the mean phrasings (and answer sentences) per article variant
    "thai",  # the question's script: Thai, Chinese/Japanese, Arabic (else Latin or other)
    "cjk",
    "arabic",
    # Character n-grams of unspaced scripts give other cosines than words do: the share and
    # the cosine per script.
    "thai_share",
    "cjk_share",
    "arabic_share",
    "thai_cosine",
    "cjk_cosine",
    "arabic_cosine",
)


@dataclass(frozen=True)
class Context:
    """Per index: its size, on the log scales the model expects."""

    log_articles: float
    log_phrasings: float

    @classmethod
    def of(cls, articles: float, phrasings: int, variants: int | None = None) -> Context:
        """``articles`` per locale; ``phrasings`` in all, over ``variants`` article variants
        (default: ``articles``)."""
        per = max(phrasings, 1) / max(variants if variants is not None else articles, 1)
        return cls(float(np.log(max(articles, 1.0))), float(np.log(per)))


def features(
    fused: np.ndarray,
    knn: np.ndarray,
    coverage: np.ndarray,
    length: np.ndarray,
    scripts: np.ndarray,
    rows: np.ndarray,
    chosen: np.ndarray,
    context: Context,
) -> np.ndarray:
    """Per (question row, chosen article): the columns of ``NAMES``.

    ``fused``/``knn``: (questions, articles) ranking scores and best cosines; ``coverage``,
    ``length``: per question; ``scripts``: per question, 0 Latin/other, 1 Thai, 2 CJK, 3 Arabic.
    """
    # The share among the articles that have a word or n-gram in common with the question:
    # the classifier's flat probabilities for the rest (other languages' articles, above all)
    # would otherwise dilute it by how many there are.
    fused = np.where(knn > 0, fused, -np.inf)
    fused[rows, chosen] = np.maximum(fused[rows, chosen], -30.0)
    peak = fused.max(axis=1, keepdims=True)
    log_total = (peak + np.log(np.exp(fused - peak).sum(axis=1, keepdims=True)))[:, 0]
    log_share = fused[rows, chosen] - log_total[rows]
    share = np.minimum(np.exp(log_share), 1 - 1e-6)
    logit = np.clip(log_share - np.log1p(-share), -12.0, 12.0) / 4
    own = knn[rows, chosen]
    if knn.shape[1] > 1:
        two = -np.partition(-knn, 1, axis=1)[:, :2]  # the two best cosines of each row
        runner_up = np.where(own >= two[rows, 0], two[rows, 1], two[rows, 0])
        agree = (own >= two[rows, 0]).astype(np.float64)
    else:
        runner_up = np.zeros(len(rows))
        agree = np.ones(len(rows))
    script = scripts[rows]
    n = len(rows)
    flags = [script == code for code in (1, 2, 3)]
    return np.column_stack(
        [
            logit,
            own,
            own - runner_up,
            own * own,
            coverage[rows],
            agree,
            np.log1p(length[rows]),
            np.full(n, context.log_articles),
            np.full(n, context.log_phrasings),
            *flags,
            *(flag * logit for flag in flags),
            *(flag * own for flag in flags),
        ]
    ).astype(np.float64)


def prior() -> Calibrator:
    return Calibrator(np.asarray(PRIOR_COEF, dtype=np.float64), PRIOR_INTERCEPT)


def blend(prior_p: np.ndarray, quiz_p: np.ndarray | None, quiz_questions: int) -> np.ndarray:
    """The quiz's probability weighs as much as its questions against ``PRIOR_WEIGHT``."""
    if quiz_p is None:
        return prior_p
    w = quiz_questions / (quiz_questions + PRIOR_WEIGHT)
    return w * quiz_p + (1 - w) * prior_p


__all__ = ["NAMES", "Context", "blend", "features", "prior"]

# A self-quiz of this many questions counts as much as the prior.
PRIOR_WEIGHT = 200

# Fitted by bench/fit_calibration.py (see its output for the data and the fit's figures).
PRIOR_COEF = [
    3.7764,
    3.8418,
    3.6605,
    -5.0573,
    1.8383,
    0.4989,
    0.7448,
    0.1779,
    -0.4747,
    0.2169,
    0.9121,
    0.6089,
    -0.1650,
    -3.1864,
    -0.1880,
    2.3169,
    3.7811,
    2.3934,
]
PRIOR_INTERCEPT = -5.0439
