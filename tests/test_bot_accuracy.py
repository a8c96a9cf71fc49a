"""The index's ranking and calibrated confidence, and the accuracy benchmark on a small sample."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from knowledge_base import semantic
from knowledge_base.calibration import Calibrator, expected_calibration_error
from knowledge_base.importer import read_articles
from knowledge_base.index import IndexedArticle, SearchIndex
from knowledge_base.semantic import encoder_for, is_latin
from knowledge_base.text import features
from switchboard.settings import BotSettings, SettingsError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"

VERBS = "cancel renew upgrade reset track return update export block transfer".split()
NOUNS = "subscription parcel invoice voucher password router warranty mattress ticket".split()
TEMPLATES = (
    "how do i {v} my {n}",
    "i need to {v} the {n}",
    "can you help me {v} my {n}",
    "{v} {n}",
    "what is the way to {v} a {n}",
    "is it possible to {v} my {n} online",
    "i can't {v} my {n}",
    "where do i go to {v} the {n}",
)


def demo_articles() -> list[IndexedArticle]:
    return [
        IndexedArticle(a["id"], a["locale"], a["title"], a["body"], tuple(a.get("questions") or ()))
        for a in read_articles(ROOT / "config" / "demo_kb.yaml")
    ]


def synthetic_articles() -> list[IndexedArticle]:
    """30 English articles, one per (verb, noun): enough for the index to quiz itself."""
    pairs = [(v, n) for v in VERBS for n in NOUNS][::3][:30]
    return [
        IndexedArticle(
            id=f"{v}-{n}",
            locale="en",
            title=f"{v.capitalize()} your {n}",
            body=f"To {v} your {n}, open Settings.",
            questions=tuple(t.format(v=v, n=n) for t in TEMPLATES),
        )
        for v, n in pairs
    ]


@pytest.fixture(scope="module")
def mixed() -> SearchIndex:
    """The demo KB (English, Thai, Chinese, Persian) plus 30 synthetic articles: calibrated."""
    return SearchIndex([*demo_articles(), *synthetic_articles()], semantic=None)


def top(index: SearchIndex, question: str) -> tuple[str, str, float]:
    best = index.search(question, limit=3)[0]
    return best.article.id, best.article.locale, best.score


def test_every_learning_kb_is_calibrated_and_a_big_one_also_quizzes_itself(
    mixed: SearchIndex,
) -> None:
    assert mixed.calibrated and mixed.self_calibrated
    tiny = SearchIndex(demo_articles(), semantic=None)
    assert tiny.calibrated and not tiny.self_calibrated
    assert not SearchIndex(synthetic_articles(), semantic=None, learn=False).calibrated


def test_a_paraphrase_of_a_phrasing_is_answered_confidently(mixed: SearchIndex) -> None:
    article, _, confidence = top(mixed, "please, how can I renew my voucher online today?")

    assert article == "renew-voucher"
    assert confidence >= 0.5


def test_a_question_far_from_every_article_gets_low_confidence(mixed: SearchIndex) -> None:
    for question in ("Do you sell pianos to penguins?", "zxqv blorf wibble"):
        matches = mixed.search(question)
        assert not matches or matches[0].score < 0.5, (question, matches[:1])


def test_thai_and_chinese_questions_still_match_their_articles(mixed: SearchIndex) -> None:
    assert top(mixed, "ลืมรหัสผ่านต้องทำยังไงครับ")[:2] == ("reset-password", "th")
    assert top(mixed, "密码忘了怎么办")[:2] == ("reset-password", "zh")
    assert top(mixed, "I forgot my password and can't log in")[:2] == ("reset-password", "en")


def test_confidence_is_bounded_and_never_rises_down_the_list(mixed: SearchIndex) -> None:
    for question in ("track parcel", "how long does shipping take", "refund", "ลืมรหัสผ่าน"):
        scores = [m.score for m in mixed.search(question, limit=8)]
        assert scores and all(0 < s <= 1 for s in scores)
        assert scores == sorted(scores, reverse=True)


def test_more_of_a_phrasing_means_more_confidence(mixed: SearchIndex) -> None:
    vague = top(mixed, "my voucher")
    exact = top(mixed, "how do i renew my voucher")

    assert exact[0] == "renew-voucher" and exact[2] > vague[2]


def test_locales_restrict_the_results(mixed: SearchIndex) -> None:
    matches = mixed.search("password reset or refund", limit=10, locales=["en"])

    assert matches and all(m.article.locale == "en" for m in matches)
    assert mixed.search("ลืมรหัสผ่าน", locales=["zh"]) == []


def test_a_tiny_kb_is_confident_about_its_phrasings_and_not_about_strangers() -> None:
    index = SearchIndex(demo_articles(), semantic=None)

    exact = index.search("How long does shipping take?")[0]
    thai = index.search("ลืมรหัสผ่านครับ")[0]

    threshold = BotSettings().threshold
    assert exact.article.id == "shipping-times" and exact.score >= threshold
    assert (thai.article.id, thai.article.locale) == ("reset-password", "th")
    assert thai.score >= threshold
    assert index.search("Do you sell pianos to penguins?")[0].score < threshold
    assert SearchIndex([], semantic=None).search("anything") == []


def test_three_articles_with_one_phrasing_each_still_answer_with_a_probability() -> None:
    index = SearchIndex(
        [
            IndexedArticle("pw", "en", "Reset your password", "", ()),
            IndexedArticle("track", "en", "Track your parcel", "", ()),
            IndexedArticle("refund", "en", "When will my refund arrive", "", ()),
        ],
        semantic=None,
    )

    answer = index.search("how do i reset my password")[0]
    stranger = index.search("what is the weather in Paris tomorrow")

    assert answer.article.id == "pw" and answer.score >= 0.5
    assert not stranger or stranger[0].score < 0.5


class HashingEncoder:
    """Stands in for the sentence model: a normalised hash of the text's features."""

    dimensions = 64

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for name, count in features(text).items():
                out[row, hash(name) % self.dimensions] += count
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


def test_a_sentence_encoder_reranks_latin_questions_only() -> None:
    index = SearchIndex([*demo_articles(), *synthetic_articles()], semantic=HashingEncoder())  # type: ignore[arg-type]

    assert index.semantic and index.calibrated
    assert top(index, "how do i renew my voucher")[0] == "renew-voucher"
    assert top(index, "ลืมรหัสผ่านต้องทำยังไงครับ")[:2] == ("reset-password", "th")
    assert all(0 < m.score <= 1 for m in index.search("tell me about warranties", limit=5))


def test_the_semantic_setting_is_checked() -> None:
    assert encoder_for("off") is None
    with pytest.raises(ValueError):
        encoder_for("sometimes")
    BotSettings(semantic="off").validate()
    with pytest.raises(SettingsError, match=r"bot\.semantic"):
        BotSettings(semantic="sometimes").validate()


def test_semantic_on_without_the_model_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "available", lambda: False)
    with pytest.raises(SettingsError, match=r"bot\.semantic.*not installed"):
        BotSettings(semantic="on").validate()
    BotSettings(semantic="auto").validate()
    monkeypatch.setattr(semantic, "available", lambda: True)
    BotSettings(semantic="on").validate()


def test_script_detection_for_the_english_model() -> None:
    assert is_latin("How do I reset my password?")
    assert is_latin("Café au lait, s'il vous plaît")
    assert not is_latin("ลืมรหัสผ่าน iPhone")
    assert not is_latin("密码")
    assert not is_latin("12345 ?!")


def test_the_calibrator_learns_a_monotone_probability() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4000, 1))
    right = rng.uniform(0, 1, size=4000) < x[:, 0]  # P(right) = x

    calibrator = Calibrator.fit(x, right, np.ones(len(x)))
    p = calibrator(np.array([[0.1], [0.5], [0.9]]))

    assert p[0] < p[1] < p[2]
    assert expected_calibration_error(calibrator(x), right) < 0.05
    assert expected_calibration_error([0.0, 1.0], [False, True]) == 0.0


# ---- the benchmark ---------------------------------------------------------------------------


def load_bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bot_accuracy", ROOT / "bench" / "bot_accuracy.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bot_accuracy", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (DATA / "clinc150").is_dir(), reason="evaluation data not present")
def test_the_benchmark_runs_on_a_sample_and_reports_sane_values(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_bench(monkeypatch)

    assert (
        bench.main(
            [
                *("--sample", "20", "--questions", "150", "--semantic", "off"),
                *("--small-draws", "0", "--json", "--no-chart"),
            ]
        )
        == 0
    )

    report = json.loads(capsys.readouterr().out)
    results = report["results"]
    assert 0 < report["threshold"] <= 1
    tasks = {r["task"] for r in results}
    assert tasks == {"BANKING77 full", "BANKING77 10/intent", "CLINC150 full", "CLINC150 10/intent"}
    for task in tasks:
        assert {r["scorer"] for r in results if r["task"] == task} == {"baseline", "product"}
    for r in results:
        for key in ("accuracy", "answered_right", "answered_wrong", "ece"):
            assert 0 <= r[key] <= 1, (r["task"], r["scorer"], key, r[key])
        assert r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"] and r["build_s"] > 0
        assert r["articles"] == 20 and r["questions"] > 0
        if r["task"].startswith("CLINC150"):
            assert 0 <= r["oos_recall"] <= 1
        else:
            assert r["oos_recall"] is None
    assert all(r["calibrated"] for r in results if r["scorer"] == "product" and "full" in r["task"])
    assert not any(r["calibrated"] for r in results if r["scorer"] == "baseline")


@pytest.mark.skipif(not (DATA / "clinc150").is_dir(), reason="evaluation data not present")
def test_the_benchmark_draws_its_charts_and_keeps_them_out_of_the_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import xml.etree.ElementTree as ET

    bench = load_bench(monkeypatch)
    chart = tmp_path / "c.svg"
    argv = ["--sample", "20", "--questions", "150", "--semantic", "off", "--json"]
    argv += ["--small-draws", "1", "--fit-draws", "0"]

    assert bench.main([*argv, "--chart", str(chart)]) == 0

    results = json.loads(capsys.readouterr().out)["results"]
    assert all("answers" not in r for r in results)
    root = ET.parse(chart).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    for task in ("BANKING77 full", "CLINC150 full", "BANKING77 10/intent", "CLINC150 10/intent"):
        assert f"{task} · product: answers by threshold" in texts
        assert f"{task}: reliability" in texts
    legend = {"in scope, answered right", "in scope, answered wrong", "out of scope, escalated"}
    assert legend | {"product", "baseline", "perfect calibration"} <= texts
    assert any(t and t.startswith("configured ") for t in texts)
    # The small-KB rows: random public KBs and our multilingual FAQ sets.
    for family in ("public small KBs", "FAQ sets · every language"):
        assert f"{family}: answers by threshold" in texts
        assert f"{family}: reliability" in texts


def test_the_small_kb_benchmark_reports_each_size_and_language(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_bench(monkeypatch)

    argv = ["--only-small", "--small-draws", "1", "--fit-draws", "0", "--json", "--no-chart"]
    assert bench.main(argv) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["results"] == []
    small = {row["family"]: row for row in report["small"]}
    for size in (10, 25, 50):
        for data in ("BANKING77", "CLINC150"):
            assert small[f"{data} {size}"]["knowledge_bases"] == 1
    for language in ("en", "th", "zh", "zh-Hant", "fa", "zh-Hant→zh", "all"):
        row = small[f"FAQ sets · {language}"]
        assert row["knowledge_bases"] == 3  # shop, bank, telco
        for key in ("accuracy", "answered_right", "answered_wrong", "oos_answered", "ece"):
            assert 0 <= row[key] <= 1, (language, key, row[key])
        # Right and wrong answers are a part of the questions, never more than all of them.
        assert row["answered_right"] + row["answered_wrong"] <= 1
        assert row["answered_right"] <= row["accuracy"]


def test_a_line_charts_points_land_where_the_axes_say() -> None:
    import xml.etree.ElementTree as ET

    from bench.charts import line_chart

    svg = line_chart(
        "t", "x", "y", [("a", [(2, 10), (7, 15), (12, 20)])], (2, 12), (10, 20), marker=(7, "m")
    )

    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    plot = root.find("s:rect[@class='plot']", ns)
    series = root.find("s:polyline[@class='series']", ns)
    marker = root.find("s:line[@class='marker']", ns)
    assert plot is not None and series is not None and marker is not None
    x, y, w, h = (float(plot.get(k, "nan")) for k in ("x", "y", "width", "height"))
    points = [float(v) for p in series.get("points", "").split() for v in p.split(",")]
    # (x min, y min) bottom left, the middle in the middle, (x max, y max) top right
    assert points == pytest.approx([x, y + h, x + w / 2, y + h / 2, x + w, y], abs=0.06)
    assert float(marker.get("x1", "nan")) == pytest.approx(x + w / 2, abs=0.06)
    assert {"a", "t", "m"} <= {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
