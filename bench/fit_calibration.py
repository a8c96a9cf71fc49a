#!/usr/bin/env python3
"""Fit the confidence model every knowledge base starts from (knowledge_base/confidence.py).

About a thousand knowledge bases of 3 to 150 articles with 1 to 10 phrasings each: from
CLINC150, its training texts as phrasings with its validation and out-of-scope questions asked;
from BANKING77, half its training texts as phrasings with the other half asked (neither test
split is touched: the benchmark measures on those); and from our multilingual FAQ sets
(bench/data/faq/*.yaml: English, Thai, Simplified and Traditional Chinese, Persian) whole and in
random subsets of 3–12 articles with 1–3 phrasings. Each question's top answer gives the
features of ``confidence.NAMES`` and whether it was right; out-of-scope questions (another
intent's, the sets' own out-of-scope ones, and every language's) are always wrong. A weighted
logistic regression of rightness on the features is the model: every knowledge base weighs the
same, its out-of-scope questions half of it; the public and the multilingual knowledge bases
weigh half each. The benchmark (bench/small_kb.py) measures each multilingual set with a model
fitted the same way without it.

    .venv/bin/python bench/fit_calibration.py            # fit and print the coefficients
    .venv/bin/python bench/fit_calibration.py --write    # and write them into confidence.py
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
sys.path[:0] = [str(ROOT), str(SCRIPT.parent)]

import faq_data  # noqa: E402

from knowledge_base.calibration import Calibrator  # noqa: E402

OUT_OF_SCOPE_SHARE = 0.5  # of each knowledge base's weight
PUBLIC_SIZES = (3, 5, 8, 10, 15, 20, 30, 50, 80, 150)
PUBLIC_PHRASINGS = (1, 2, 3, 3, 5, 10)
MULTILINGUAL_SHARE = 0.5  # of the whole weight, when the multilingual sets are there
L2 = 1e-4


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=8, help="KBs per size and data set (8)")
    p.add_argument("--domain-draws", type=int, default=40, help="KBs per language of travel (40)")
    p.add_argument("--seed", type=int, default=20261207)
    p.add_argument("--write", action="store_true", help="write the coefficients into confidence.py")
    p.add_argument(
        "--domains",
        default=",".join(faq_data.DOMAINS),
        help="multilingual FAQ sets to fit on (default: %(default)s; the others are measured)",
    )
    return p.parse_args(argv)


def collect(cases: list[faq_data.Case]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, rightness and weight of every question that found an article."""
    from knowledge_base.index import SearchIndex

    xs, ys, ws = [], [], []
    for n, case in enumerate(cases):
        index = SearchIndex(case.articles)
        ids, x = index.top_answers([q for q, _ in case.questions])
        truth = [a for _, a in case.questions]
        found = np.asarray([i is not None for i in ids])
        right = np.asarray([i is not None and i == t for i, t in zip(ids, truth, strict=True)])
        outside = np.asarray([t is None for t in truth])
        w = np.where(
            outside,
            OUT_OF_SCOPE_SHARE / max(outside.sum(), 1),
            (1 - OUT_OF_SCOPE_SHARE) / max((~outside).sum(), 1),
        )
        xs.append(x[found])
        ys.append(right[found])
        ws.append(w[found])
        if n % 200 == 0:
            say(f"{n}/{len(cases)} knowledge bases")
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws)


Sample = tuple[np.ndarray, np.ndarray, np.ndarray]  # features, right, weight


def public_sample(draws: int, seed: int) -> Sample:
    rng = random.Random(seed)
    cases = [
        case
        for data in faq_data.intent_sets(split="fit")
        for case in faq_data.small_kbs(data, PUBLIC_SIZES, draws, rng, phrasings=PUBLIC_PHRASINGS)
    ]
    say(f"{len(cases)} public knowledge bases")
    return collect(cases)


def domain_samples(names: Sequence[str], draws: int, seed: int) -> dict[str, Sample]:
    """Per multilingual FAQ set: its subsets and its whole KBs, each language."""
    out = {}
    for domain in faq_data.available_domains(names):
        rng = random.Random(f"{seed}:{domain.name}")
        cases = list(faq_data.domain_subsets(domain, draws, rng))
        cases += faq_data.domain_cases(domain)
        say(f"{domain.name}: {len(cases)} knowledge bases")
        out[domain.name] = collect(cases)
    return out


def fit(public: Sample, domains: Sequence[Sample]) -> Calibrator:
    """Public and multilingual samples weigh ``MULTILINGUAL_SHARE`` apart, each domain alike."""
    parts = [(public[0], public[1], public[2] / public[2].sum())]
    if domains:
        parts[0] = (public[0], public[1], (1 - MULTILINGUAL_SHARE) * parts[0][2])
        for x, y, w in domains:
            parts.append((x, y, MULTILINGUAL_SHARE / len(domains) * w / w.sum()))
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts])
    return Calibrator.fit(x, y, w, l2=L2)


def main(argv: list[str] | None = None) -> int:
    from knowledge_base import confidence
    from knowledge_base.calibration import expected_calibration_error

    args = parse_args(argv)
    public = public_sample(args.draws, args.seed)
    names = [d for d in args.domains.split(",") if d]
    domains = domain_samples(names, args.domain_draws, args.seed)
    model = fit(public, list(domains.values()))
    for name, (x, y, _) in {"public": public, **domains}.items():
        print(f"{name}: {len(y)} questions, ECE {expected_calibration_error(model(x), y):.3f}")
    for name, c in zip(confidence.NAMES, model.coef, strict=True):
        print(f"  {name:<14} {c:+.4f}")
    print(f"  {'intercept':<14} {model.intercept:+.4f}")
    if args.write:
        path = ROOT / "knowledge_base" / "confidence.py"
        text = path.read_text(encoding="utf-8")
        coef = ", ".join(f"{c:.4f}" for c in model.coef)
        text = re.sub(
            r"PRIOR_COEF = .*?(?=\nPRIOR_INTERCEPT)", f"PRIOR_COEF = [{coef}]", text, flags=re.S
        )
        text = re.sub(r"PRIOR_INTERCEPT = .*", f"PRIOR_INTERCEPT = {model.intercept:.4f}", text)
        path.write_text(text, encoding="utf-8")
        # The project's formatter lays the list out one number a line.
        ruff = Path(sys.executable).with_name("ruff")
        if ruff.exists():
            subprocess.run([str(ruff), "format", "--quiet", str(path)], check=False)
        say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
