#!/usr/bin/env python3
"""FAQ-bot accuracy benchmark on public intent data, through the product's own pipeline.

Each intent becomes one article (title: the intent's name humanised; questions: its training
phrasings), indexed by ``SearchIndex`` exactly as the bot's knowledge base is, and each test
question is searched the way ``FaqAssistant`` does: the top match is the answer, its score is
the bot's confidence, and the bot answers when confidence >= ``bot.threshold``.

Data (see ../shared/data/README.md): BANKING77 (train.csv / test.csv) and CLINC150
(data_full.json: train, test and oos_test). For each: top-1 accuracy with the full training
set and with 10 phrasings per intent; for CLINC150 also the share of in-scope questions
answered right at the threshold and the share of out-of-scope questions escalated. Expected
calibration error (|confidence - accuracy| over 10 bins) on every test set, median and p99
time per question, index build time. Three scorers in the same run: the baseline (the plain
best-phrasing cosine the index used before, ``learn=False``), the product (classifier +
cosine fusion, self-calibrated), and the product with the sentence-model re-ranker when the
``semantic`` extra is installed.

    .venv/bin/python bench/bot_accuracy.py
    .venv/bin/python bench/bot_accuracy.py --sample 20 --questions 300 --semantic off --json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge_base.index import IndexedArticle, SearchIndex
    from knowledge_base.semantic import Encoder

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
VENV = ROOT / ".venv"
DATA = ROOT.parent / "shared" / "data"
FEW = 10  # phrasings per intent in the few-shot runs
MS = 1000.0

Example = tuple[str, str | None]  # (question, intent); None: out of scope


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Measure the FAQ bot's answers on BANKING77 and CLINC150: accuracy, "
        "out-of-scope escalation, calibration and time per question, against the plain "
        "best-phrasing cosine scorer.",
        epilog="Progress goes to stderr, the result table (or JSON) to stdout.",
    )
    p.add_argument("--data-dir", type=Path, default=DATA, help=f"data folder (default {DATA})")
    p.add_argument(
        "--sample",
        type=int,
        default=0,
        help="use only N intents per data set (chosen with the seed) for a quick run; 0: all",
    )
    p.add_argument(
        "--questions",
        type=int,
        default=0,
        help="ask at most N test questions per data set (chosen with the seed); 0: all",
    )
    p.add_argument(
        "--semantic",
        choices=("auto", "on", "off"),
        default="auto",
        help="also run with the sentence-model re-ranker: auto = when installed (default)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="answer threshold (default: bot.threshold from the configuration)",
    )
    p.add_argument(
        "--timed",
        type=int,
        default=300,
        help="questions per run timed one by one with an uncached embedding (default 300)",
    )
    p.add_argument("--seed", type=int, default=20261123, help="sampling seed (fixed default)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if args.sample < 0 or args.sample == 1:
        p.error("--sample must be 0 (all) or at least 2")
    if args.questions < 0:
        p.error("--questions must be 0 (all) or positive")
    if args.threshold is not None and not 0 < args.threshold <= 1:
        p.error("--threshold must be in (0, 1]")
    if not (args.data_dir / "banking77").is_dir() or not (args.data_dir / "clinc150").is_dir():
        p.error(f"--data-dir {args.data_dir}: needs banking77/ and clinc150/ folders")
    return args


def ensure_venv() -> None:
    """Re-run under the project's venv when started by a Python without its packages."""
    try:
        import numpy  # noqa: F401

        import knowledge_base  # noqa: F401
    except ImportError:
        python = VENV / "bin" / "python"
        if python.exists() and Path(sys.prefix) != VENV and not os.environ.get("_BENCH_REEXEC"):
            os.environ["_BENCH_REEXEC"] = "1"
            os.execv(python, [str(python), str(SCRIPT), *sys.argv[1:]])
        sys.exit(f"bench: needs the project's packages; run `make` first or use {python}")


# ---- data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    name: str
    train: list[Example]
    test: list[Example]  # out-of-scope questions have intent None


def load_tasks(folder: Path, sample: int, questions: int, seed: int) -> list[Task]:
    def rows(name: str) -> list[Example]:
        with open(folder / "banking77" / name, encoding="utf-8", newline="") as f:
            return [(r["text"], r["category"]) for r in csv.DictReader(f)]

    clinc = json.loads((folder / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    sets = {
        "BANKING77": (rows("train.csv"), rows("test.csv")),
        "CLINC150": (
            [(t, i) for t, i in clinc["train"]],
            [(t, i) for t, i in clinc["test"]] + [(t, None) for t, _ in clinc["oos_test"]],
        ),
    }
    rng = random.Random(seed)
    tasks = []
    for name, (train, test) in sets.items():
        intents = sorted({i for _, i in train})
        if sample:
            chosen = set(rng.sample(intents, min(sample, len(intents))))
            train = [e for e in train if e[1] in chosen]
            # Out-of-scope questions in proportion: as many per intent as the full set has.
            oos = [e for e in test if e[1] is None]
            keep = round(len(oos) * len(chosen) / len(intents))
            test = [e for e in test if e[1] in chosen] + rng.sample(oos, keep)
        if questions and questions < len(test):
            test = rng.sample(test, questions)
        tasks.append(Task(f"{name} full", train, test))
        tasks.append(Task(f"{name} {FEW}/intent", per_intent(train, FEW, rng), test))
    return tasks


def per_intent(train: Sequence[Example], n: int, rng: random.Random) -> list[Example]:
    by_intent: dict[str | None, list[Example]] = defaultdict(list)
    for example in train:
        by_intent[example[1]].append(example)
    return [e for i in sorted(by_intent, key=str) for e in rng.sample(by_intent[i], n)]


def articles(train: Sequence[Example]) -> list[IndexedArticle]:
    from knowledge_base.index import IndexedArticle

    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in train:
        assert intent is not None
        by_intent[intent].append(text)
    return [
        IndexedArticle(
            id=intent,
            locale="en",
            title=intent.replace("_", " ").capitalize(),
            body=f"Answer for {intent.replace('_', ' ')}.",
            questions=tuple(texts),
        )
        for intent, texts in sorted(by_intent.items())
    ]


# ---- measuring -----------------------------------------------------------------------------


@dataclass
class Result:
    task: str
    scorer: str
    articles: int
    questions: int
    build_s: float
    calibrated: bool
    accuracy: float  # top-1 on in-scope questions
    answered_right: float  # in-scope: right article and confidence >= threshold
    answered_wrong: float  # in-scope: wrong article but confidence >= threshold
    oos_recall: float | None  # out-of-scope: confidence < threshold (escalated); None: no OOS
    ece: float  # over all test questions; an out-of-scope answer is always wrong
    p50_ms: float
    p99_ms: float
    reliability: list[tuple[float, float, float, int]]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def evaluate(
    task: Task,
    scorer: str,
    build: Callable[[], SearchIndex],
    threshold: float,
    timed: int,
    encoder: Encoder | None = None,
) -> Result:
    from knowledge_base.calibration import expected_calibration_error, reliability

    say(f"{task.name} / {scorer}: building the index ({len(articles(task.train))} articles)")
    started = time.perf_counter()
    index = build()
    build_s = time.perf_counter() - started
    questions = [text for text, _ in task.test]
    if encoder is not None:
        encoder.forget(questions[:timed])
    latencies: list[float] = []
    tops: list[tuple[str | None, float]] = []
    for n, question in enumerate(questions):
        if encoder is not None and n == timed:
            # The first questions were timed with their embedding; encode the rest in batches.
            say(f"{task.name} / {scorer}: embedding {len(questions) - n} questions")
            encoder.encode(questions[n:])
            say(f"{task.name} / {scorer}: searching")
        began = time.perf_counter()
        matches = index.search(question, limit=3)
        if n < timed or encoder is None:
            latencies.append(time.perf_counter() - began)
        tops.append((matches[0].article.id, matches[0].score) if matches else (None, 0.0))
        if n and n % 2000 == 0:
            say(f"{task.name} / {scorer}: {n}/{len(questions)} questions")
    inside = [(t, e) for t, e in zip(tops, task.test, strict=True) if e[1] is not None]
    outside = [t for t, e in zip(tops, task.test, strict=True) if e[1] is None]
    right = [top[0] == e[1] for top, e in inside]
    confident = [top[1] >= threshold for top, _ in inside]
    conf_all = [t[1] for t in tops]
    right_all = [t[0] == e[1] and e[1] is not None for t, e in zip(tops, task.test, strict=True)]
    return Result(
        task=task.name,
        scorer=scorer,
        articles=len(index),
        questions=len(questions),
        build_s=build_s,
        calibrated=index.calibrated,
        accuracy=share(right),
        answered_right=share([r and c for r, c in zip(right, confident, strict=True)]),
        answered_wrong=share([c and not r for r, c in zip(right, confident, strict=True)]),
        oos_recall=share([score < threshold for _, score in outside]) if outside else None,
        ece=expected_calibration_error(conf_all, right_all),
        p50_ms=percentile(latencies, 50) * MS,
        p99_ms=percentile(latencies, 99) * MS,
        reliability=reliability(conf_all, right_all),
    )


def share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else math.nan


def configured_threshold() -> float:
    from switchboard.settings import SettingsError, load_settings

    try:
        return load_settings().bot.threshold
    except SettingsError as exc:
        say(f"configuration unreadable ({exc}); using BotSettings' default threshold")
        from switchboard.settings import BotSettings

        return BotSettings().threshold


# ---- the report ----------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def report(results: Sequence[Result], threshold: float) -> None:
    print()
    print(f"FAQ bot on BANKING77 and CLINC150 (answer threshold {threshold})")
    header = (
        f"{'task':<22} {'scorer':<18} {'top-1':>6} {'ans.ok':>7} {'ans.bad':>7} {'oos esc':>7} "
        f"{'ECE':>6} {'p50 ms':>7} {'p99 ms':>7} {'build s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.task:<22} {r.scorer:<18} {pct(r.accuracy):>6} {pct(r.answered_right):>7} "
            f"{pct(r.answered_wrong):>7} {pct(r.oos_recall):>7} {r.ece:>6.3f} "
            f"{r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.build_s:>7.1f}"
        )
    print()
    print(
        "top-1: in-scope questions whose top article is their intent. ans.ok / ans.bad: "
        "in-scope questions answered (confidence >= threshold) with the right / a wrong "
        "article. oos esc: out-of-scope questions escalated (confidence < threshold). ECE: "
        "expected calibration error of the confidence over all questions (10 bins)."
    )
    by_task: dict[str, dict[str, Result]] = defaultdict(dict)
    for r in results:
        by_task[r.task][r.scorer] = r
    print()
    for task, scorers in by_task.items():
        base = scorers.get("baseline")
        for name, r in scorers.items():
            if base is None or name == "baseline":
                continue
            errors = (1 - base.accuracy) / (1 - r.accuracy) if r.accuracy < 1 else math.inf
            print(
                f"{task} / {name}: top-1 {pct(r.accuracy)} vs baseline {pct(base.accuracy)} "
                f"(x{r.accuracy / base.accuracy:.3f}; {errors:.2f}x fewer errors); "
                f"ECE {r.ece:.3f} vs {base.ece:.3f}; time per question x{r.p50_ms / base.p50_ms:.1f}"
            )
    print()
    print("reliability (confidence bin: share right, questions):")
    for r in results:
        if r.scorer != "baseline":
            bins = "  ".join(
                f"{lo:.1f}-{hi:.1f}: {acc:.2f} ({n})" for lo, hi, acc, n in r.reliability
            )
            print(f"  {r.task} / {r.scorer}: {bins}")


def run(args: argparse.Namespace) -> list[Result]:
    from knowledge_base.index import SearchIndex
    from knowledge_base.semantic import encoder_for

    threshold = args.threshold if args.threshold is not None else configured_threshold()
    encoder = encoder_for(args.semantic)
    say(f"loading data from {args.data_dir}")
    tasks = load_tasks(args.data_dir, args.sample, args.questions, args.seed)
    results: list[Result] = []
    for task in tasks:
        kb = articles(task.train)
        results.append(
            evaluate(task, "baseline", lambda kb=kb: SearchIndex(kb, learn=False), threshold, 0)
        )
        results.append(
            evaluate(task, "product", lambda kb=kb: SearchIndex(kb, semantic=None), threshold, 0)
        )
        if encoder is not None:
            results.append(
                evaluate(
                    task,
                    "product+semantic",
                    lambda kb=kb: SearchIndex(kb, semantic=encoder),
                    threshold,
                    args.timed,
                    encoder,
                )
            )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_venv()
    started = time.perf_counter()
    results = run(args)
    threshold = args.threshold if args.threshold is not None else configured_threshold()
    if args.json:
        print(json.dumps({"threshold": threshold, "results": [asdict(r) for r in results]}))
    else:
        report(results, threshold)
    say(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
