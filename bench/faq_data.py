"""Knowledge bases and questions for the bot's benchmarks and for fitting its confidence.

Two sources:

- the public intent sets in ../shared/data (BANKING77, CLINC150): each intent an article whose
  phrasings are training texts; small knowledge bases are drawn from them at random;
- our own multilingual FAQ sets in bench/data/faq/*.yaml: per domain, 15–18 articles, each in
  English, Thai, Simplified Chinese, Traditional Chinese and Persian with a title, a body and
  three phrasings, and customer questions written independently of those phrasings (plus
  out-of-scope questions) in each language.

A ``Case`` is one knowledge base with the questions asked of it; an out-of-scope question's
expected article is None.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge_base.index import IndexedArticle

HERE = Path(__file__).resolve().parent
FAQ_DIR = HERE / "data" / "faq"
DATA = HERE.parent.parent / "shared" / "data"
LOCALES = ("en", "th", "zh", "zh-Hant", "fa")
# The shipped confidence model is fitted on every set; the benchmark measures each of the
# evaluation sets with a model fitted without it (bench/small_kb.py, held-out priors).
DOMAINS = ("shop", "bank", "telco", "travel")
EVALUATION_DOMAINS = ("shop", "bank", "telco")

Question = tuple[str, str | None]  # (text, article id or None: out of scope)


@dataclass(frozen=True)
class Case:
    name: str  # e.g. "CLINC150 25 intents #3", "shop th"
    group: str  # what the figures are reported by: "CLINC150 25", "shop", ...
    language: str  # the questions' language ("en" for the public sets)
    articles: list[IndexedArticle]
    questions: list[Question]


# ---- the public intent sets ------------------------------------------------------------------


@dataclass(frozen=True)
class IntentSet:
    name: str
    train: dict[str, list[str]]  # intent -> phrasings a KB may hold
    test: dict[str, list[str]]  # intent -> questions to ask
    oos: list[str]  # questions no intent of the set answers


def intent_sets(folder: Path = DATA, *, split: str = "test") -> list[IntentSet]:
    """BANKING77 and CLINC150. ``split="test"`` asks their test questions (measuring);
    ``split="fit"`` keeps the test sets untouched: CLINC150's validation questions and
    out-of-scope ones, and half of BANKING77's training texts as questions."""
    clinc = json.loads((folder / "clinc150" / "data_full.json").read_text(encoding="utf-8"))

    def group(rows: Sequence[Sequence[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for text, intent in rows:
            out[intent].append(text)
        return dict(out)

    with open(folder / "banking77" / "train.csv", encoding="utf-8", newline="") as f:
        bank_train = group([(r["text"], r["category"]) for r in csv.DictReader(f)])
    with open(folder / "banking77" / "test.csv", encoding="utf-8", newline="") as f:
        bank_test = group([(r["text"], r["category"]) for r in csv.DictReader(f)])
    if split == "fit":
        halves = {i: (t[::2], t[1::2]) for i, t in bank_train.items()}
        return [
            IntentSet(
                "BANKING77",
                {i: a for i, (a, _) in halves.items()},
                {i: b for i, (_, b) in halves.items()},
                [],
            ),
            IntentSet(
                "CLINC150",
                group(clinc["train"]),
                group(clinc["val"]),
                [t for t, _ in clinc["oos_val"]] + [t for t, _ in clinc["oos_train"]],
            ),
        ]
    return [
        IntentSet("BANKING77", bank_train, bank_test, []),
        IntentSet(
            "CLINC150",
            group(clinc["train"]),
            group(clinc["test"]),
            [t for t, _ in clinc["oos_test"]],
        ),
    ]


def intent_article(intent: str, phrasings: Sequence[str]) -> IndexedArticle:
    from knowledge_base.index import IndexedArticle

    name = intent.replace("_", " ")
    return IndexedArticle(
        id=intent,
        locale="en",
        title=name.capitalize(),
        body=f"Answer for {name}.",
        questions=tuple(phrasings),
    )


def small_kbs(
    data: IntentSet,
    sizes: Sequence[int],
    draws: int,
    rng: random.Random,
    *,
    phrasings: Sequence[int] = (3,),
    questions_per_intent: int = 5,
) -> Iterator[Case]:
    """``draws`` random KBs per size: that many intents with ``phrasings`` training texts each
    (one of the given counts at random); questions: up to ``questions_per_intent`` test
    questions of each chosen intent, and as many out of scope again, half other intents' test
    questions (near misses: same domain) and half the set's out-of-scope questions (where it
    has them)."""
    intents = sorted(data.train)
    for size in sizes:
        for draw in range(draws):
            chosen = rng.sample(intents, min(size, len(intents)))
            n = rng.choice(phrasings)
            kb = [
                intent_article(i, rng.sample(data.train[i], min(n, len(data.train[i]))))
                for i in chosen
            ]
            asked: list[Question] = []
            for i in chosen:
                tests = data.test.get(i, [])
                asked += [(q, i) for q in rng.sample(tests, min(questions_per_intent, len(tests)))]
            others = [i for i in intents if i not in set(chosen)]
            outside = len(asked) // 2 if data.oos else len(asked)
            near = (
                [rng.choice(data.test[rng.choice(others)]) for _ in range(outside)]
                if others
                else []
            )
            far = rng.sample(data.oos, min(len(data.oos), len(asked) - outside)) if data.oos else []
            asked += [(q, None) for q in near + far]
            yield Case(
                f"{data.name} {size} intents #{draw + 1}", f"{data.name} {size}", "en", kb, asked
            )


# ---- our multilingual FAQ sets ---------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    name: str
    articles: dict[str, dict[str, dict[str, Any]]]  # id -> locale -> {title, body, questions}
    questions: dict[str, list[Question]]  # locale -> questions


def load_domain(name: str, folder: Path = FAQ_DIR) -> Domain:
    import yaml

    raw = yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))
    articles = {a["id"]: {loc: a[loc] for loc in LOCALES if loc in a} for a in raw["articles"]}
    questions = {
        loc: [(q["text"], q["article"]) for q in qs] for loc, qs in raw["questions"].items()
    }
    return Domain(name, articles, questions)


def domain_articles(
    domain: Domain, locales: Sequence[str], ids: Sequence[str] | None = None, phrasings: int = 3
) -> list[IndexedArticle]:
    from knowledge_base.index import IndexedArticle

    out = []
    for article_id in ids if ids is not None else domain.articles:
        for locale in locales:
            variant = domain.articles[article_id].get(locale)
            if variant:
                out.append(
                    IndexedArticle(
                        id=article_id,
                        locale=locale,
                        title=variant["title"],
                        body=variant["body"],
                        questions=tuple(variant["questions"][:phrasings]),
                    )
                )
    return out


# Traditional Chinese questions asked of a KB without a zh-Hant variant are answered from the
# Simplified articles: the case a shop with a Simplified KB meets every day.
CROSS = {"zh-Hant→zh": ("zh-Hant", "zh")}


def domain_cases(domain: Domain, *, languages: Sequence[str] = LOCALES) -> Iterator[Case]:
    """Per language, the domain's KB in that language alone and its questions; then
    Traditional questions against the Simplified KB; then every language in one KB (as the
    demo: the customer's question finds its own language's variant)."""
    pairs = [(lang, lang, lang) for lang in languages]
    pairs += [(label, asked, kb) for label, (asked, kb) in CROSS.items()]
    for label, asked, kb in pairs:
        if asked in domain.questions:
            yield Case(
                f"{domain.name} {label}",
                domain.name,
                label,
                domain_articles(domain, [kb]),
                domain.questions[asked],
            )
    everything = [q for lang in languages for q in domain.questions.get(lang, [])]
    kb_locales = [loc for loc in LOCALES if loc != "zh-Hant"]
    yield Case(
        f"{domain.name} all languages",
        domain.name,
        "all",
        domain_articles(domain, kb_locales),
        everything,
    )


def domain_subsets(
    domain: Domain, draws: int, rng: random.Random, *, sizes: Sequence[int] = (3, 5, 8, 12)
) -> Iterator[Case]:
    """Smaller KBs from a domain, for fitting: a random subset of its articles with 1–3
    phrasings, in one language; the other articles' questions become out of scope."""
    ids = sorted(domain.articles)
    for language, asked in domain.questions.items():
        kb_locale = "zh" if language == "zh-Hant" and rng.random() < 0.5 else language
        for _ in range(draws):
            size = rng.choice([s for s in sizes if s <= len(ids)])
            chosen = rng.sample(ids, size)
            kb = domain_articles(domain, [kb_locale], chosen, phrasings=rng.choice((1, 2, 3)))
            kept = set(chosen)
            questions = [(q, a if a in kept else None) for q, a in asked]
            yield Case(f"{domain.name} {language} {size}", domain.name, language, kb, questions)


def available_domains(names: Sequence[str], folder: Path = FAQ_DIR) -> list[Domain]:
    return [load_domain(n, folder) for n in names if (folder / f"{n}.yaml").exists()]
