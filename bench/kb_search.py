#!/usr/bin/env python3
"""Knowledge-base search benchmark on a synthetic 10,000-article KB.

Generates articles deterministically (fixed seed): ~80 % English from a word list, ~10 % Thai
and ~10 % Chinese from character lists, each with a title and 5 question phrasings. Imports
them into a temporary SQLite database through ``KnowledgeBase.import_articles``, times the
index build, then times ``SearchIndex.search`` on 1,000 queries (perturbed phrasings: typos,
dropped and added words, dropped or swapped characters; plus random queries) and the
``switchboard kb search - --json`` command end to end. A naive linear token-overlap scan over
every phrasing is the baseline. Top-1 accuracy on the perturbed queries shows that the speed
is not bought with quality.

    .venv/bin/python bench/kb_search.py
    .venv/bin/python bench/kb_search.py --articles 2000 --queries 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge_base.index import SearchIndex

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
VENV = ROOT / ".venv"
CLI_TIMEOUT = 180.0
THRESHOLD = 0.5  # bot.threshold in config/switchboard.yaml: a match at least this good answers
LIMIT = 5  # results per search, as the CLI's default

# ---- vocabulary ----------------------------------------------------------------------------

VERBS = (
    "reset change cancel return track update delete refund ship order pay verify activate "
    "install connect replace repair exchange upgrade download register renew transfer unlock "
    "charge pair export import block report subscribe redeem book schedule print sync restore "
    "claim link unlink confirm approve reorder gift wrap split merge pause resume"
).split()
ADJECTIVES = (
    "wireless broken missing late damaged wrong expired new old digital physical annual monthly "
    "premium free international local express standard refurbished used large small spare "
    "recurring pending duplicate failed blocked secondary primary shared family business "
    "student limited seasonal bulk discounted prepaid unpaid unused lost stolen faulty"
).split()
NOUNS = (
    "password account order package parcel delivery invoice receipt refund payment card wallet "
    "voucher coupon discount subscription membership plan device phone laptop tablet charger "
    "cable headphones speaker camera watch battery screen keyboard mouse printer router modem "
    "warranty guarantee repair replacement exchange return label address email username profile "
    "login session notification newsletter review rating wishlist basket cart checkout shipping "
    "courier tracking customs tax fee price stock size colour color bundle gift box pickup locker "
    "store branch appointment booking reservation ticket seat flight hotel rental insurance claim "
    "loan instalment balance statement bank transfer cheque currency points reward tier referral "
    "code pin otp sms app update firmware software licence license key backup storage cloud photo "
    "file folder contract agreement policy privacy cookie consent data report complaint feedback "
    "survey manual guide tutorial recipe menu meal table catering furniture sofa mattress pillow "
    "blanket lamp bulb kettle blender fridge freezer oven washer dryer vacuum filter cartridge ink "
    "toner paper envelope stamp parcelbox pallet crate container warehouse supplier vendor partner"
).split()
EN_FILLERS = ("hi", "hello,", "quick question:", "please help:", "hey there,", "urgent:")
EN_SUFFIXES = (" please", " thanks", "??", " asap", " today", " again")
EN_TEMPLATES = (
    "how do i {v} my {a} {n1}",
    "can i {v} the {n1} {n2}",
    "{n1} {n2} not working after i {v} it",
    "what should i do if the {n2} {n3} is {a}",
    "where can i {v} a {a} {n3}",
    "is it possible to {v} a {n1} for {n3}",
    "i want to {v} my {n2} but the {n3} is {a}",
    "help with {a} {n1} {n3}",
    "why can't i {v} the {n2} {n1}",
)

THAI_CONSONANTS = "กขคงจฉชซดตถทนบปผพฟมยรลวสหอ"
THAI_FINALS = "กงนมยวดบ"
THAI_ABOVE = ("ิ", "ี", "ึ", "ื", "ุ", "ู")
THAI_LEADING = ("เ", "แ", "โ", "ไ")
THAI_TONES = ("่", "้")
THAI_WORDS = (
    "ทำยังไง",
    "ได้ไหม",
    "อยาก",
    "ทำไม",
    "ต้อง",
    "ของฉัน",
    "วิธี",
    "ไม่ได้",
    "เรื่อง",
    "ช่วย",
    "หน่อย",
    "ที่ไหน",
    "แล้ว",
    "สำหรับ",
)
THAI_PARTICLES = ("ครับ", "ค่ะ", "คะ", "นะคะ", "จ้า")
CHINESE_CHARS = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学"
    "对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头"
    "面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向"
    "情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信"
    "北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难"
    "神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物"
    "台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指"
)
CHINESE_WORDS = (
    "怎么",
    "如何",
    "可以",
    "我的",
    "为什么",
    "不能",
    "请问",
    "需要",
    "在哪里",
    "什么",
    "已经",
    "还是",
)
CHINESE_PARTICLES = ("吗", "呢", "啊", "呀", "了")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the knowledge-base search (SearchIndex and `switchboard kb search`) "
        "on a synthetic multilingual KB, against a naive linear scan.",
        epilog="Progress goes to stderr, the result table to stdout.",
    )
    p.add_argument("--articles", type=int, default=10_000, help="articles (default 10000)")
    p.add_argument("--queries", type=int, default=1000, help="timed queries (default 1000)")
    p.add_argument(
        "--random-share",
        type=float,
        default=0.2,
        help="share of the queries that are random words rather than perturbed phrasings "
        "(default 0.2)",
    )
    p.add_argument(
        "--baseline-queries",
        type=int,
        default=100,
        help="queries for the naive linear-scan baseline (default 100)",
    )
    p.add_argument(
        "--cli-questions",
        type=int,
        default=100,
        help="questions piped to `switchboard kb search - --json`; 0 skips the CLI (default 100)",
    )
    p.add_argument("--seed", type=int, default=20261123, help="generator seed (fixed default)")
    args = p.parse_args(argv)
    if args.articles < 10 or args.queries < 10:
        p.error("--articles and --queries must be at least 10")
    if not 0 <= args.random_share < 1:
        p.error("--random-share must be in [0, 1)")
    args.baseline_queries = min(args.baseline_queries, args.queries)
    args.cli_questions = min(args.cli_questions, args.queries)
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


# ---- the synthetic knowledge base ----------------------------------------------------------


def thai_word(rng: random.Random, syllables: int = 2) -> str:
    out = []
    for _ in range(syllables):
        lead = rng.choice(THAI_LEADING) if rng.random() < 0.3 else ""
        c = rng.choice(THAI_CONSONANTS)
        above = rng.choice(THAI_ABOVE) if not lead and rng.random() < 0.5 else ""
        tone = rng.choice(THAI_TONES) if rng.random() < 0.3 else ""
        tail = "า" if not lead and not above and rng.random() < 0.6 else ""
        final = rng.choice(THAI_FINALS) if not tail or rng.random() < 0.4 else ""
        out.append(lead + c + above + tone + tail + final)
    return "".join(out)


def chinese_word(rng: random.Random) -> str:
    return "".join(rng.choice(CHINESE_CHARS) for _ in range(2))


def spaceless_phrasing(
    rng: random.Random, keys: Sequence[str], glue: Sequence[str], particles: Sequence[str]
) -> str:
    """Three of the article's key words and two or three function words, no spaces, maybe a
    particle at the end (Thai writes spaces only between phrases: sometimes add one)."""
    parts = [*rng.sample(list(keys), 3), *rng.sample(list(glue), rng.randint(2, 3))]
    rng.shuffle(parts)
    text = "".join(parts)
    if rng.random() < 0.5:
        text += rng.choice(particles)
    if glue is THAI_WORDS and rng.random() < 0.3:
        cut = rng.randint(1, len(text) - 1)
        text = text[:cut] + " " + text[cut:]
    return text


def make_article(rng: random.Random, n: int, locale: str) -> dict[str, Any]:
    if locale == "en":
        v, a = rng.choice(VERBS), rng.choice(ADJECTIVES)
        n1, n2, n3 = rng.sample(NOUNS, 3)
        slots = {"v": v, "a": a, "n1": n1, "n2": n2, "n3": n3}
        title = f"{v.capitalize()} your {a} {n1} {n2}"
        questions = [t.format(**slots) for t in rng.sample(EN_TEMPLATES, 5)]
        body = f"To {v} a {a} {n1}, open {n2} settings and follow the {n3} steps."
    elif locale == "th":
        keys = [thai_word(rng) for _ in range(5)]
        title = "".join(keys[:3]) + rng.choice(THAI_WORDS)
        questions = [spaceless_phrasing(rng, keys, THAI_WORDS, THAI_PARTICLES) for _ in range(5)]
        body = " ".join(keys) + " " + rng.choice(THAI_WORDS)
    else:
        keys = [chinese_word(rng) for _ in range(5)]
        title = rng.choice(CHINESE_WORDS) + "".join(keys[:3])
        questions = [
            spaceless_phrasing(rng, keys, CHINESE_WORDS, CHINESE_PARTICLES) + "？" for _ in range(5)
        ]
        body = "".join(keys) + "。"
    return {
        "id": f"art-{n:05d}",
        "locale": locale,
        "title": title,
        "body": body,
        "questions": questions,
        "tags": [f"topic-{n % 50}"],
    }


def make_kb(count: int, seed: int) -> list[dict[str, Any]]:
    from knowledge_base.importer import validate

    rng = random.Random(seed)
    articles = []
    for n in range(1, count + 1):
        r = rng.random()
        locale = "en" if r < 0.8 else "th" if r < 0.9 else "zh"
        articles.append(validate(make_article(rng, n, locale), f"article {n}"))
    return articles


# ---- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    text: str
    locale: str
    target: tuple[str, str] | None  # (id, locale) of the article it came from; None: random


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:  # drop a letter
        return word[:i] + word[i + 1 :]
    if kind == 1:  # swap two neighbours
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if kind == 2:  # double a letter
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiourstnl") + word[i + 1 :]  # a wrong letter


def perturb(rng: random.Random, text: str, locale: str) -> str:
    if locale == "en":
        words = text.split()
        for _ in range(rng.randint(1, 2)):
            op = rng.randrange(4)
            if op == 0:
                k = max(range(len(words)), key=lambda j: (len(words[j]), rng.random()))
                k = rng.choice([k, rng.randrange(len(words))])
                words[k] = typo(rng, words[k])
            elif op == 1 and len(words) > 4:
                del words[rng.randrange(len(words))]
            elif op == 2:
                words.insert(0, rng.choice(EN_FILLERS))
            elif len(words) > 2:
                k = rng.randrange(len(words) - 1)
                words[k], words[k + 1] = words[k + 1], words[k]
        out = " ".join(words)
        if rng.random() < 0.3:
            out += rng.choice(EN_SUFFIXES)
        return out.capitalize() if rng.random() < 0.5 else out
    particles = THAI_PARTICLES if locale == "th" else CHINESE_PARTICLES
    chars = list(text.replace(" ", "") if rng.random() < 0.5 else text)
    for _ in range(rng.randint(1, 2)):
        op = rng.randrange(3)
        if op == 0 and len(chars) > 6:
            del chars[rng.randrange(len(chars))]
        elif op == 1 and len(chars) > 2:
            k = rng.randrange(len(chars) - 1)
            chars[k], chars[k + 1] = chars[k + 1], chars[k]
        else:
            chars.append(rng.choice(particles))
    return "".join(chars)


def random_query(rng: random.Random, locale: str) -> str:
    if locale == "en":
        pool = [*VERBS, *ADJECTIVES, *NOUNS, "my", "the", "how", "can", "i", "is", "why"]
        return " ".join(rng.choice(pool) for _ in range(rng.randint(2, 6)))
    if locale == "th":
        return thai_word(rng, 3) + rng.choice(THAI_WORDS) + thai_word(rng, 2)
    return chinese_word(rng) + rng.choice(CHINESE_WORDS) + chinese_word(rng) + "？"


def make_queries(
    articles: list[dict[str, Any]], count: int, share: float, seed: int
) -> list[Query]:
    rng = random.Random(seed + 1)
    out = []
    for _ in range(count):
        if rng.random() < share:
            r = rng.random()
            locale = "en" if r < 0.8 else "th" if r < 0.9 else "zh"
            out.append(Query(random_query(rng, locale), locale, None))
            continue
        article = rng.choice(articles)
        phrasing = rng.choice(article["questions"])
        text = perturb(rng, phrasing, article["locale"])
        out.append(Query(text, article["locale"], (article["id"], article["locale"])))
    return out


# ---- the baseline: a naive linear scan -----------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
_SPACELESS = re.compile(r"[\u0e00-\u0e7f\u3400-\u9fff]")


def tokens(text: str) -> frozenset[str]:
    """Lower-cased words; character bigrams for Thai and Chinese (written without spaces)."""
    out: set[str] = set()
    for run in _WORD.findall(text.lower()):
        if _SPACELESS.search(run):
            out.update(run[i : i + 2] for i in range(max(len(run) - 1, 1)))
        else:
            out.add(run)
    return frozenset(out)


class LinearScan:
    """Jaccard token overlap against every phrasing, in a plain Python loop."""

    def __init__(self, articles: list[dict[str, Any]]) -> None:
        self.docs = [
            (i, tokens(p)) for i, a in enumerate(articles) for p in (a["title"], *a["questions"])
        ]
        self.keys = [(a["id"], a["locale"]) for a in articles]

    def top1(self, question: str) -> tuple[tuple[str, str] | None, float]:
        q = tokens(question)
        best, best_score = -1, 0.0
        for owner, doc in self.docs:
            common = len(q & doc)
            if common:
                score = common / (len(q) + len(doc) - common)
                if score > best_score:
                    best, best_score = owner, score
        return (self.keys[best] if best >= 0 else None), best_score


# ---- measuring -----------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def import_progress(total: int) -> Callable[[int, int], None]:
    step = [0]

    def report(done: int, count: int) -> None:
        tenth = done * 10 // max(count, 1)
        if tenth > step[0]:
            step[0] = tenth
            say(f"importing: {done}/{count} articles ({tenth * 10}%)")

    return report


async def build_database(
    url: str, articles: list[dict[str, Any]]
) -> tuple[SearchIndex, dict[str, float]]:
    """Import into a fresh database, then load and build the index as the server does."""
    from knowledge_base.service import KnowledgeBase
    from storage import migrate
    from storage.db import Database

    times: dict[str, float] = {}
    db = Database(url)
    try:
        await migrate.upgrade(db)
        kb = KnowledgeBase(db)
        started = time.perf_counter()
        counts = await kb.import_articles(
            articles, datetime.now(UTC), import_progress(len(articles))
        )
        times["import"] = time.perf_counter() - started
        if counts["created"] != len(articles):
            raise RuntimeError(f"import created {counts['created']} of {len(articles)}: {counts}")
        say(f"imported {len(articles)} articles in {times['import']:.1f} s; loading and indexing")
        started = time.perf_counter()
        await kb.refresh(force=True)
        times["refresh"] = time.perf_counter() - started
    finally:
        await db.dispose()
    return kb.index, times


async def build_in_thread(
    build: Callable[[Any], Any], articles: Sequence[Any]
) -> tuple[float, list[float]]:
    """Build an index in a worker thread, as ``KnowledgeBase.refresh`` does in the server, and
    measure how late a 10 ms timer on the event loop fires meanwhile (GIL contention)."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - started - 0.01)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.to_thread(build, articles)
    elapsed = time.perf_counter() - started
    done.set()
    await task
    return elapsed, lags


def run_cli(url: str, questions: list[str]) -> tuple[list[dict[str, Any]], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_CONFIG=str(ROOT / "config" / "switchboard.yaml"),
        SWITCHBOARD_DATABASE_URL=url,
        SWITCHBOARD_LOG_LEVEL="WARNING",
    )
    cmd = [str(VENV / "bin" / "switchboard"), "kb", "search", "-", "--json"]
    stdin = "".join(q + "\n" for q in questions)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, input=stdin, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`switchboard kb search` took over {CLI_TIMEOUT:.0f} s") from None
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"`switchboard kb search` failed ({done.returncode}):\n{done.stderr}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if len(lines) != len(questions):
        raise RuntimeError(
            f"`switchboard kb search` printed {len(lines)} of {len(questions)} lines"
        )
    return lines, elapsed


def _first_key(line: dict[str, Any]) -> tuple[str, str] | None:
    results = line["results"]
    return (results[0]["id"], results[0]["locale"]) if results else None


def accuracy(hits: Sequence[bool]) -> str:
    return f"{100 * sum(hits) / len(hits):.1f}% ({sum(hits)}/{len(hits)})" if hits else "n/a"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_venv()
    from knowledge_base.index import SearchIndex

    run_started = time.perf_counter()
    say(f"generating {args.articles} articles (seed {args.seed})")
    articles = make_kb(args.articles, args.seed)
    locales = {loc: sum(a["locale"] == loc for a in articles) for loc in ("en", "th", "zh")}
    queries = make_queries(articles, args.queries, args.random_share, args.seed)
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-kb-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'kb.db'}"
        index, times = asyncio.run(build_database(url, articles))
        times["build"], lags = asyncio.run(build_in_thread(SearchIndex, index.articles))
        model = getattr(index, "_model", index)  # the scorers moved into index.Model
        n_docs = model._matrix.shape[0] if hasattr(model, "_matrix") else math.nan
        vocabulary = len(getattr(model, "_vocabulary", ()))
        say(f"index: {n_docs} phrasings, {vocabulary} features; searching {len(queries)} queries")

        for q in queries[:10]:  # warm-up, untimed
            index.search(q.text, limit=LIMIT)
        latencies: list[float] = []
        top: list[tuple[tuple[str, str] | None, float]] = []
        started = time.perf_counter()
        for q in queries:
            matches, dt = timed(lambda q=q: index.search(q.text, limit=LIMIT))
            latencies.append(dt)
            top.append((matches[0].key, matches[0].score) if matches else (None, 0.0))
        search_wall = time.perf_counter() - started
        perturbed = [i for i, q in enumerate(queries) if q.target is not None]
        hits = [top[i][0] == queries[i].target for i in perturbed]
        answered = [top[i][0] == queries[i].target and top[i][1] >= THRESHOLD for i in perturbed]

        cli: dict[str, Any] = {}
        if args.cli_questions:
            chosen = [q.text for q in queries[: args.cli_questions]]
            say("timing `switchboard kb search - --json` with no question (fixed cost)")
            _, cli["empty"] = run_cli(url, [])
            say(f"timing `switchboard kb search - --json` with {len(chosen)} questions")
            lines, cli["full"] = run_cli(url, chosen)
            cli["agree"] = sum(_first_key(line) == top[i][0] for i, line in enumerate(lines))
            cli["n"] = len(chosen)

    subset = list(range(args.baseline_queries))
    say(f"baseline: naive linear scan over every phrasing for {len(subset)} queries")
    scan, prep = timed(lambda: LinearScan(articles))
    base_latencies: list[float] = []
    base_hits: list[bool] = []
    for i in subset:
        (key, _score), dt = timed(lambda i=i: scan.top1(queries[i].text))
        base_latencies.append(dt)
        if queries[i].target is not None:
            base_hits.append(key == queries[i].target)
    index_subset = [latencies[i] for i in subset]
    index_subset_hits = [top[i][0] == queries[i].target for i in subset if queries[i].target]

    # ---- the report ----
    ms = 1000.0
    print()
    print(
        f"Knowledge-base search: {args.articles} articles ({locales['en']} en, {locales['th']} th, "
        f"{locales['zh']} zh), {n_docs} phrasings indexed, {vocabulary} features, seed {args.seed}"
    )
    print(
        f"import (KnowledgeBase.import_articles, SQLite): {times['import']:.2f} s "
        f"({args.articles / times['import']:,.0f} articles/s)"
    )
    print(
        f"index: load from DB + build (KnowledgeBase.refresh) {times['refresh']:.2f} s; "
        f"SearchIndex build alone {times['build']:.2f} s (in a thread, as the server does; "
        f"a 10 ms event-loop timer meanwhile fired late by p50 {percentile(lags, 50) * ms:.1f} ms, "
        f"p99 {percentile(lags, 99) * ms:.1f} ms, max {max(lags, default=0) * ms:.0f} ms)"
    )
    print()
    header = f"{'search':<44} {'queries':>7} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'q/s':>8}"
    print(header)
    print("-" * len(header))

    def row(name: str, values: Sequence[float], wall: float | None = None) -> None:
        mean = sum(values) / len(values)
        qps = len(values) / wall if wall else 1 / mean
        print(
            f"{name:<44} {len(values):>7} {percentile(values, 50) * ms:>8.2f} "
            f"{percentile(values, 99) * ms:>8.2f} {mean * ms:>8.2f} {qps:>8,.0f}"
        )

    row("SearchIndex.search (all queries)", latencies, search_wall)
    for loc in ("en", "th", "zh"):
        part = [dt for dt, q in zip(latencies, queries, strict=True) if q.locale == loc]
        if part:
            row(f"  {loc} queries", part)
    row("SearchIndex.search (baseline subset)", index_subset)
    row("naive linear scan, token overlap (subset)", base_latencies)
    ratio = (sum(base_latencies) / len(base_latencies)) / (sum(index_subset) / len(index_subset))
    print(f"speed ratio on the subset (linear-scan mean / SearchIndex mean): {ratio:,.1f}x")
    print(f"(linear-scan preparation, tokenising every phrasing once: {prep:.2f} s)")
    print()
    print(
        f"top-1 accuracy on {len(perturbed)} perturbed queries (the {len(queries) - len(perturbed)} "
        f"random ones only time the search): SearchIndex {accuracy(hits)}"
    )
    print(
        f"  ... and answered (right article, score >= {THRESHOLD}): {accuracy(answered)}; "
        f"same subset as the baseline: SearchIndex {accuracy(index_subset_hits)}, "
        f"linear scan {accuracy(base_hits)}"
    )
    if cli:
        extra = cli["full"] - cli["empty"]
        marginal = (
            f"~{extra / cli['n'] * ms:.1f} ms per question on top"
            if extra > 0
            else "the questions themselves are below the run-to-run noise"
        )
        print()
        print(
            f"switchboard kb search - --json: {cli['n']} questions via stdin in {cli['full']:.2f} s "
            f"end to end ({cli['full'] / cli['n'] * ms:.0f} ms per question amortised); with no "
            f"question {cli['empty']:.2f} s (start-up, DB load, index build), so {marginal}; "
            f"top-1 agrees with in-process search for {cli['agree']}/{cli['n']}"
        )
    say(f"done in {time.perf_counter() - run_started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
