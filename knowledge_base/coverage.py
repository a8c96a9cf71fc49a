"""Which of an article's phrasings the bot would answer from the others.

A phrasing is the title or a question of one language variant. For each, the search index is
built again over the same knowledge base without it (nor its exact repeats elsewhere in the
article), the phrasing is asked as a customer would ask it, and the answer is judged:

* ``answered``: the best match is this article and its confidence reaches the threshold: the
  other phrasings cover it, so a customer who asks it this way gets the answer;
* ``other_article``: another article would be answered (the phrasings overlap that one's);
* ``not_answered``: nothing reaches the threshold (the best guess and its confidence are
  given): a customer asking it this way would not get this answer but for the phrasing itself,
  so similar wordings need more phrasings;
* ``smalltalk``: the bot takes it for a greeting, thanks or a request for a person and never
  looks in the knowledge base;
* ``not_checked``: left out to bound the work (see ``capped``).

Each check builds a whole index (the calibration quizzes itself at every build), so the work
is bounded by a number of phrasings and by a time budget; the article's phrasings in the
language asked for come first. Pure and synchronous: callers run it in a thread.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from knowledge_base.index import IndexedArticle, Match, SearchIndex
from knowledge_base.semantic import Encoder
from knowledge_base.text import normalize

__all__ = ["Check", "Coverage", "Phrasing", "check_coverage"]

MAX_PHRASINGS = 40
BUDGET_SECONDS = 20.0
RANKED = 8  # matches read per question: enough to find the best other article

OUTCOMES = ("answered", "other_article", "not_answered", "smalltalk", "not_checked")


@dataclass(frozen=True)
class Phrasing:
    locale: str
    kind: str  # "title" or "question"
    text: str


@dataclass(frozen=True)
class Check:
    phrasing: Phrasing
    outcome: str  # one of OUTCOMES
    top: Match | None = None  # the best match without the phrasing
    runner_up: Match | None = None  # the best match of another article than ``top``'s
    intent: str | None = None  # for "smalltalk": the intent that took it

    @property
    def confidence(self) -> float | None:
        return self.top.score if self.top else None


@dataclass(frozen=True)
class Coverage:
    article_id: str
    checks: list[Check]
    capped: str | None  # why some were not checked: "count" or "time"; None when all were
    seconds: float

    @property
    def checked(self) -> int:
        return sum(c.outcome != "not_checked" for c in self.checks)

    def count(self, outcome: str) -> int:
        return sum(c.outcome == outcome for c in self.checks)


def phrasings(
    variants: Iterable[IndexedArticle], first_locale: str | None = None
) -> list[Phrasing]:
    """The article's phrasings, ``first_locale``'s variant first, each variant's title first;
    a phrasing repeated (after normalising) is listed once."""
    ordered = sorted(variants, key=lambda v: (v.locale != first_locale, v.locale))
    seen: set[str] = set()
    out: list[Phrasing] = []
    for variant in ordered:
        for kind, text in (("title", variant.title), *(("question", q) for q in variant.questions)):
            key = normalize(text)
            if key and key not in seen:
                seen.add(key)
                out.append(Phrasing(variant.locale, kind, text))
    return out


def check_coverage(
    articles: Sequence[IndexedArticle],
    article_id: str,
    *,
    threshold: float,
    semantic: Encoder | None = None,
    first_locale: str | None = None,
    intercept: Callable[[str], str | None] = lambda _text: None,
    max_phrasings: int = MAX_PHRASINGS,
    budget: float = BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Coverage:
    """Check each phrasing of ``article_id`` against ``articles`` (the knowledge base the bot
    would answer from, with the article's variants as they should be judged).

    ``intercept``: what the bot answers before searching (small talk), as an intent name, or
    None. The first phrasing is always checked; another is started only while the time spent
    plus the slowest check so far stays within ``budget`` seconds."""
    started = clock()
    variants = [a for a in articles if a.id == article_id]
    others = [a for a in articles if a.id != article_id]
    todo = phrasings(variants, first_locale)
    checks: list[Check] = []
    capped: str | None = "count" if len(todo) > max_phrasings else None
    slowest = 0.0
    for n, phrasing in enumerate(todo):
        spent = clock() - started
        if n >= max_phrasings or (n and spent + slowest > budget):
            capped = capped or "time"
            checks.append(Check(phrasing, "not_checked"))
            continue
        intent = intercept(phrasing.text)
        if intent is not None:
            checks.append(Check(phrasing, "smalltalk", intent=intent))
            continue
        begun = clock()
        checks.append(
            _check(phrasing, variants, others, article_id, threshold=threshold, semantic=semantic)
        )
        slowest = max(slowest, clock() - begun)
    return Coverage(article_id, checks, capped, round(clock() - started, 3))


def _check(
    phrasing: Phrasing,
    variants: list[IndexedArticle],
    others: list[IndexedArticle],
    article_id: str,
    *,
    threshold: float,
    semantic: Encoder | None,
) -> Check:
    left = _without(variants, normalize(phrasing.text))
    index = SearchIndex([*others, *left], semantic=semantic, learn=True)
    matches = index.search(phrasing.text, limit=RANKED)
    if not matches:
        return Check(phrasing, "not_answered")
    # Report the articles as they are, not as the index without the phrasing saw them.
    full = {(a.id, a.locale): a for a in variants}
    top, *rest = (Match(full.get(m.key, m.article), m.score) for m in matches)
    runner_up = next((m for m in rest if m.article.id != top.article.id), None)
    if top.score < threshold:
        outcome = "not_answered"
    elif top.article.id == article_id:
        outcome = "answered"
    else:
        outcome = "other_article"
    return Check(phrasing, outcome, top, runner_up)


def _without(variants: list[IndexedArticle], phrasing: str) -> list[IndexedArticle]:
    """The variants without ``phrasing`` (normalised) as title or question; a variant left
    with no phrasing at all is left out (the index would have nothing to match it by)."""
    out = []
    for variant in variants:
        title = "" if normalize(variant.title) == phrasing else variant.title
        questions = tuple(q for q in variant.questions if normalize(q) != phrasing)
        if title or questions:
            out.append(dataclasses.replace(variant, title=title, questions=questions))
    return out
