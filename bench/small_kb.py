"""The small-KB benchmark: many random 10-, 25- and 50-article knowledge bases drawn from
BANKING77 and CLINC150, and our multilingual FAQ sets per language; figures by group with the
spread over draws. Used by bot_accuracy.py (``--small``) and on its own:

    .venv/bin/python bench/small_kb.py [--draws 20] [--threshold 0.5]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).resolve()
sys.path[:0] = [str(SCRIPT.parent.parent), str(SCRIPT.parent)]

import faq_data  # noqa: E402

SIZES = (10, 25, 50)


@dataclass
class Outcome:
    """One knowledge base's answers: per question (confidence, right, out of scope)."""

    case: str
    group: str
    language: str
    answers: list[tuple[float, bool, bool]] = field(default_factory=list)

    def rates(self, threshold: float) -> tuple[float, float, float, float]:
        """(top-1 right, answered right, answered wrong, out of scope answered)."""
        inside = [(c, r) for c, r, oos in self.answers if not oos]
        outside = [c for c, _, oos in self.answers if oos]
        n = max(len(inside), 1)
        return (
            sum(r for _, r in inside) / n,
            sum(r and c >= threshold for c, r in inside) / n,
            sum(c >= threshold and not r for c, r in inside) / n,
            sum(c >= threshold for c in outside) / len(outside) if outside else math.nan,
        )


def ask(
    case: faq_data.Case, *, learn: bool = True, semantic: object = None, prior: object = None
) -> Outcome:
    """Build the case's index as the knowledge base does and ask every question the way
    FaqAssistant does (the top match and its score)."""
    from knowledge_base.index import SearchIndex

    index = SearchIndex(case.articles, semantic=semantic, learn=learn, prior=prior)  # type: ignore[arg-type]
    out = Outcome(case.name, case.group, case.language)
    for text, expected in case.questions:
        matches = index.search(text, limit=3)
        score = matches[0].score if matches else 0.0
        right = bool(matches) and expected is not None and matches[0].article.id == expected
        out.answers.append((score, right, expected is None))
    return out


def public_cases(draws: int, seed: int, sizes: Sequence[int] = SIZES) -> list[faq_data.Case]:
    rng = random.Random(seed)
    return [
        case
        for data in faq_data.intent_sets(split="test")
        for case in faq_data.small_kbs(data, sizes, draws, rng, phrasings=(3,))
    ]


def multilingual_cases() -> list[faq_data.Case]:
    domains = faq_data.available_domains(faq_data.EVALUATION_DOMAINS)
    return [case for d in domains for case in faq_data.domain_cases(d)]


def held_out_priors(draws: int = 6, seed: int = 20261207) -> dict[str, object]:
    """Per evaluation domain, the confidence model fitted as the shipped one is but without
    that domain's questions: what a knowledge base on a topic the fit never saw gets."""
    import fit_calibration

    public = fit_calibration.public_sample(draws, seed)
    samples = fit_calibration.domain_samples(faq_data.DOMAINS, 40, seed)
    return {
        name: fit_calibration.fit(public, [s for other, s in samples.items() if other != name])
        for name in faq_data.EVALUATION_DOMAINS
        if name in samples
    }


def ask_multilingual(priors: dict[str, object] | None = None) -> list[Outcome]:
    """Each evaluation domain's cases, with its held-out prior when given."""
    priors = priors or {}
    return [ask(c, prior=priors.get(c.group)) for c in multilingual_cases()]


def summarize(
    outcomes: Iterable[Outcome], threshold: float, key: str = "group"
) -> list[tuple[str, int, list[tuple[float, float]]]]:
    """Per group: KBs, and (mean, standard deviation over KBs) of each of the four rates."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[getattr(o, key)].append(o)
    rows = []
    for name, members in groups.items():
        rates = [o.rates(threshold) for o in members]
        columns = []
        for k in range(4):
            values = [r[k] for r in rates if not math.isnan(r[k])]
            if not values:
                columns.append((math.nan, math.nan))
                continue
            spread = statistics.pstdev(values) if len(values) > 1 else 0.0
            columns.append((statistics.fmean(values), spread))
        rows.append((name, len(members), columns))
    return rows


def pct(mean: float, spread: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{100 * mean:5.1f}±{100 * spread:4.1f}" if spread else f"{100 * mean:5.1f}     "


def print_table(title: str, rows: Sequence[tuple[str, int, list[tuple[float, float]]]]) -> None:
    print(title)
    header = (
        f"{'group':<24} {'KBs':>4} {'top-1':>11} {'ans.ok':>11} {'ans.bad':>11} {'oos ans':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, n, cols in rows:
        print(f"{name:<24} {n:>4} " + " ".join(f"{pct(*c):>11}" for c in cols))
    print()


# ---- for bot_accuracy.py: running, the report and its JSON -----------------------------------

PUBLIC = ("BANKING77", "CLINC150")


def run(
    draws: int, seed: int, fit_draws: int, progress: Callable[[str], None] = lambda _: None
) -> list[Outcome]:
    """Random 10/25/50-intent KBs with 3 phrasings each from both public sets, and each
    language of our multilingual FAQ sets, each with its held-out confidence model
    (``fit_draws`` KBs per size for that fit; 0: the shipped model)."""
    cases = public_cases(draws, seed)
    outcomes = []
    for n, case in enumerate(cases):
        outcomes.append(ask(case))
        if n % 20 == 0:
            progress(f"small KBs: {n}/{len(cases)}")
    priors = None
    if fit_draws:
        progress("multilingual FAQ sets: fitting each one's held-out confidence model")
        priors = held_out_priors(fit_draws)
    return outcomes + ask_multilingual(priors)


def families(outcomes: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    """The rows of the JSON and the charts: public sets by size, then our sets by language."""
    found: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.group.startswith(PUBLIC):
            found[outcome.group].append(outcome)
            found["public small KBs"].append(outcome)
        else:
            found[f"FAQ sets · {outcome.language}"].append(outcome)
            found["FAQ sets · every language"].append(outcome)
    return found


def report(outcomes: Sequence[Outcome], threshold: float) -> None:
    public = [o for o in outcomes if o.group.startswith(PUBLIC)]
    ours = [o for o in outcomes if not o.group.startswith(PUBLIC)]
    print()
    if public:
        print_table(
            f"Small KBs drawn from BANKING77 and CLINC150: 3 phrasings per intent, mean ± spread "
            f"over draws (threshold {threshold})",
            summarize(public, threshold),
        )
    if ours:
        print_table(
            "Our multilingual FAQ sets (shop, bank, telco; 15 articles each), by language",
            summarize(ours, threshold, "language"),
        )
        print_table("… by domain", summarize(ours, threshold))
    print(
        "top-1: in-scope questions whose top article is right. ans.ok / ans.bad: in-scope "
        "questions answered right / wrong. oos ans: out-of-scope questions answered (should be "
        "escalated). zh-Hant→zh: Traditional questions against the Simplified KB; all: every "
        "language in one KB."
    )


def as_json(outcomes: Sequence[Outcome], threshold: float) -> list[dict[str, object]]:
    """Per family: KBs, top-1, answered right / wrong, out of scope answered, ECE (pooled)."""
    from knowledge_base.calibration import expected_calibration_error

    def share(flags: Sequence[bool]) -> float:
        return sum(flags) / len(flags) if flags else math.nan

    rows: list[dict[str, object]] = []
    for name, members in families(outcomes).items():
        answers = [a for o in members for a in o.answers]
        inside = [(c, r) for c, r, oos in answers if not oos]
        outside = [c for c, _, oos in answers if oos]
        rows.append(
            {
                "family": name,
                "knowledge_bases": len(members),
                "accuracy": share([r for _, r in inside]),
                "answered_right": share([r and c >= threshold for c, r in inside]),
                "answered_wrong": share([c >= threshold and not r for c, r in inside]),
                "oos_answered": share([c >= threshold for c in outside]) if outside else None,
                "ece": expected_calibration_error(
                    [c for c, _, _ in answers], [r for _, r, _ in answers]
                ),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--seed", type=int, default=20261207)
    p.add_argument("--threshold", type=float, default=None)
    args = p.parse_args(argv)
    from bot_accuracy import configured_threshold

    threshold = args.threshold if args.threshold is not None else configured_threshold()
    public = [ask(c) for c in public_cases(args.draws, args.seed)]
    print_table(f"Small KBs from public sets (threshold {threshold})", summarize(public, threshold))
    ml = ask_multilingual(held_out_priors())
    if ml:
        print_table("Multilingual FAQ sets, by domain", summarize(ml, threshold))
        print_table("Multilingual FAQ sets, by language", summarize(ml, threshold, "language"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
