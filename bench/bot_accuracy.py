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

Besides the table, an SVG chart (bench/out/bot_accuracy.svg unless ``--chart``): per task, the
share of questions answered right / wrong and of out-of-scope questions escalated as the
threshold sweeps 0..1, and the reliability diagram of each scorer.

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
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge_base.index import IndexedArticle, SearchIndex
    from knowledge_base.semantic import Encoder

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
VENV = ROOT / ".venv"
DATA = ROOT.parent / "shared" / "data"
FEW = 10  # phrasings per intent in the few-shot runs
MS = 1000.0
CHART = SCRIPT.parent / "out" / "bot_accuracy.svg"

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
    p.add_argument(
        "--small-draws",
        type=int,
        default=20,
        help="small-KB benchmark: random KBs per size (10, 25, 50 intents) and data set "
        "(default 20); 0 skips it",
    )
    p.add_argument(
        "--fit-draws",
        type=int,
        default=6,
        help="small-KB benchmark: KBs per size drawn to fit each multilingual set's held-out "
        "confidence model (default 6); 0 measures them with the shipped model instead",
    )
    p.add_argument(
        "--only-small",
        action="store_true",
        help="run only the small-KB benchmark (random small KBs and the multilingual FAQ sets)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "--chart",
        default=str(CHART),
        metavar="PATH",
        help=f"write the charts (SVG) there (default {CHART}); '' for none",
    )
    p.add_argument("--no-chart", action="store_true", help="write no chart (as --chart '')")
    args = p.parse_args(argv)
    if args.sample < 0 or args.sample == 1:
        p.error("--sample must be 0 (all) or at least 2")
    if args.fit_draws < 0:
        p.error("--fit-draws must be 0 (the shipped model) or positive")
    if args.small_draws < 0:
        p.error("--small-draws must be 0 (skip) or positive")
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
    # Per test question: (confidence, right, out of scope); for the charts, not in the JSON.
    answers: list[tuple[float, bool, bool]] = field(
        default_factory=list, repr=False, compare=False, metadata={"json": False}
    )

    def as_json(self) -> dict[str, object]:
        """``asdict`` without the fields marked ``json: False``."""
        hidden = {f.name for f in fields(self) if not f.metadata.get("json", True)}
        return {k: v for k, v in asdict(self).items() if k not in hidden}


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
        answers=[
            (score, right, e[1] is None)
            for score, right, e in zip(conf_all, right_all, task.test, strict=True)
        ],
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


# ---- the charts ----------------------------------------------------------------------------

STEPS = 100  # the threshold sweep: 0, 0.01, ..., 1
SWEPT = ("product", "product+semantic")  # the scorers whose threshold sweep is charted


def sweep(
    answers: Sequence[tuple[float, bool, bool]],
) -> list[tuple[str, list[tuple[float, float]]]]:
    """Per threshold: in-scope questions answered right / wrong, out-of-scope ones escalated."""
    inside = [(c, right) for c, right, oos in answers if not oos]
    outside = [c for c, _, oos in answers if oos]
    steps = [i / STEPS for i in range(STEPS + 1)]
    series = [
        (
            "in scope, answered right",
            [(t, share([r and c >= t for c, r in inside])) for t in steps],
        ),
        (
            "in scope, answered wrong",
            [(t, share([c >= t and not r for c, r in inside])) for t in steps],
        ),
    ]
    if outside:
        series.append(
            ("out of scope, escalated", [(t, share([c < t for c in outside])) for t in steps])
        )
    return series


def reliability_points(answers: Sequence[tuple[float, bool, bool]]) -> list[tuple[float, float]]:
    """(confidence bin midpoint, share right) over 10 bins, as the ECE; empty bins left out."""
    from knowledge_base.calibration import reliability

    bins = reliability([c for c, _, _ in answers], [r for _, r, _ in answers], bins=10)
    return [((lo + hi) / 2, acc) for lo, hi, acc, _ in bins]


def sweep_chart(title: str, answers: Sequence[tuple[float, bool, bool]], threshold: float) -> str:
    import charts

    return charts.line_chart(
        f"{title}: answers by threshold",
        "answer threshold (confidence ≥ threshold: answered)",
        "share of questions",
        sweep(answers),
        (0, 1),
        (0, 1),
        marker=(threshold, f"configured {threshold:g}"),
        y_format=charts.percent,
    )


def reliability_chart(title: str, series: Sequence[tuple[str, list[tuple[float, float]]]]) -> str:
    import charts

    return charts.line_chart(
        f"{title}: reliability",
        "confidence (bin midpoint, 10 bins)",
        "share right (out of scope: wrong)",
        series,
        (0, 1),
        (0, 1),
        diagonal="perfect calibration",
        dots=True,
        y_format=charts.percent,
    )


def write_chart(
    path: Path,
    results: Sequence[Result],
    threshold: float,
    args: argparse.Namespace,
    small: Sequence[Any] = (),
) -> None:
    """Per task, a row: the threshold sweep of each product scorer, then the reliability;
    then a row per small-KB family (random public KBs, each language of our FAQ sets)."""
    bench_path()
    import charts

    by_task: dict[str, dict[str, Result]] = defaultdict(dict)
    for r in results:
        by_task[r.task][r.scorer] = r
    swept = [s for s in SWEPT if any(s in scorers for scorers in by_task.values())]
    cells: list[str | None] = []
    for task, scorers in by_task.items():
        for scorer in swept:
            found = scorers.get(scorer)
            cells.append(
                None
                if found is None
                else sweep_chart(f"{task} · {scorer}", found.answers, threshold)
            )
        cells.append(
            reliability_chart(
                task,
                [  # the product's scorers first (the colours of the sweeps), the baseline last
                    (name, reliability_points(r.answers))
                    for name, r in sorted(scorers.items(), key=lambda item: item[0] == "baseline")
                ],
            )
        )
    if small:
        swept = swept or ["product"]
        cells += small_cells(small, threshold, len(swept) + 1)
    title = f"FAQ bot on BANKING77, CLINC150 and our FAQ sets · answer threshold {threshold:g}"
    if args.sample or args.questions:
        title += f" · sample: {args.sample or 'all'} intents, {args.questions or 'all'} questions per data set"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(charts.grid(cells, len(swept) + 1, title) + "\n", encoding="utf-8")


# ---- the small-KB benchmark -----------------------------------------------------------------


def bench_path() -> None:
    """bench/ on sys.path: its modules import each other (also when imported by the tests)."""
    if str(SCRIPT.parent) not in sys.path:
        sys.path.append(str(SCRIPT.parent))


def small_cells(small: Sequence[Any], threshold: float, columns: int) -> list[str | None]:
    """A row per family: its threshold sweep, then its reliability (padded to the grid)."""
    cells: list[str | None] = []
    import small_kb

    families = small_kb.families(small)
    for name in ("public small KBs", "FAQ sets · every language"):
        members = families.get(name)
        if not members:
            continue
        answers = [a for o in members for a in o.answers]
        cells.append(sweep_chart(name, answers, threshold))
        cells.append(reliability_chart(name, [(name, reliability_points(answers))]))
        cells += [None] * (columns - 2)
    return cells


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
            evaluate(
                task, "baseline", partial(SearchIndex, kb, semantic=None, learn=False), threshold, 0
            )
        )
        results.append(
            evaluate(task, "product", partial(SearchIndex, kb, semantic=None), threshold, 0)
        )
        if encoder is not None:
            results.append(
                evaluate(
                    task,
                    "product+semantic",
                    partial(SearchIndex, kb, semantic=encoder),
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
    results = [] if args.only_small else run(args)
    threshold = args.threshold if args.threshold is not None else configured_threshold()
    small: list[Any] = []
    if args.small_draws or args.only_small:
        bench_path()
        import small_kb

        small = small_kb.run(args.small_draws or 20, args.seed, args.fit_draws, say)
    if args.json:
        print(
            json.dumps(
                {
                    "threshold": threshold,
                    "results": [r.as_json() for r in results],
                    "small": small_kb.as_json(small, threshold) if small else [],
                }
            )
        )
    else:
        if results:
            report(results, threshold)
        if small:
            small_kb.report(small, threshold)
    chart = "" if args.no_chart else args.chart
    if chart:
        write_chart(Path(chart), results, threshold, args, small)
        say(f"chart: {Path(chart).resolve()}")
    say(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
