"""knowledge_base.coverage: which of an article's phrasings the bot would answer from the others,
over the product's own SearchIndex. Outcomes are asserted where no calibration can move them
(a phrasing that shares nothing, small talk, the bounds), never exact confidences."""

from __future__ import annotations

from collections.abc import Callable

from knowledge_base.coverage import check_coverage, phrasings
from knowledge_base.importer import read_articles
from knowledge_base.index import IndexedArticle
from tests.conftest import DEMO_KB


def _demo() -> list[IndexedArticle]:
    return [
        IndexedArticle(a["id"], a["locale"], a["title"], a["body"], tuple(a.get("questions") or ()))
        for a in read_articles(DEMO_KB)
    ]


PARROTS = IndexedArticle(
    "parrots",
    "en",
    "Do you groom parrots?",
    "On Tuesdays.",
    ("parrot grooming appointment", "zzzqx vvvkw", "hello", "do you groom PARROTS?"),
)


def _ticks(step: float) -> Callable[[], float]:
    """A clock that moves ``step`` seconds each time it is read."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_each_phrasing_is_asked_without_itself_and_repeats_are_one() -> None:
    report = check_coverage([*_demo(), PARROTS], "parrots", threshold=0.5, intercept=_hello)

    texts = [c.phrasing.text for c in report.checks]
    # The title's repeat in other case is the same phrasing: listed once, left out with it.
    assert texts == ["Do you groom parrots?", "parrot grooming appointment", "zzzqx vvvkw", "hello"]
    by_text = {c.phrasing.text: c for c in report.checks}
    # Nothing else shares a feature with it: no article to answer with.
    assert by_text["zzzqx vvvkw"].outcome == "not_answered" and by_text["zzzqx vvvkw"].top is None
    assert (by_text["hello"].outcome, by_text["hello"].intent) == ("smalltalk", "greet")
    assert report.capped is None and report.checked == 4
    for check in report.checks:
        if check.outcome == "answered":
            assert check.top is not None and check.top.article.id == "parrots"
        if check.top is not None:  # reported with the article as it is, title included
            assert check.top.article.title
        if check.runner_up is not None and check.top is not None:
            assert check.runner_up.article.id != check.top.article.id


def test_an_article_whose_only_phrasing_is_left_out_cannot_answer_it() -> None:
    lonely = IndexedArticle("lonely", "en", "How can I track my order?", "Copied.", ())

    [check] = check_coverage([*_demo(), lonely], "lonely", threshold=0.5).checks

    assert check.top is not None and check.top.article.id == "order-tracking"
    assert check.outcome in ("other_article", "not_answered")


def test_the_articles_own_locale_comes_first_then_the_others() -> None:
    variants = [a for a in _demo() if a.id == "order-tracking"]

    listed = phrasings(variants, first_locale="th")

    assert listed[0].locale == "th" and listed[0].kind == "title"
    assert [p.locale for p in listed] == sorted(
        (p.locale for p in listed), key=lambda loc: (loc != "th", loc)
    )


def test_the_work_is_bounded_by_count_and_by_time() -> None:
    kb = _demo()
    by_count = check_coverage(kb, "order-tracking", threshold=0.5, max_phrasings=3)
    # This clock moves 2 s at every reading: a few checks fit in a 10 s budget, not all 37.
    by_time = check_coverage(kb, "order-tracking", threshold=0.5, budget=10.0, clock=_ticks(2.0))

    assert by_count.capped == "count" and by_count.checked == 3
    assert by_count.count("not_checked") == len(by_count.checks) - 3
    assert by_time.capped == "time" and 1 <= by_time.checked < len(by_time.checks) - 30
    assert all(c.outcome == "not_checked" for c in by_time.checks[by_time.checked :])


def _hello(text: str) -> str | None:
    return "greet" if text == "hello" else None
