"""The knowledge-gap report: clustering the questions the bot missed, and its API and CSV."""

from __future__ import annotations

import csv
import io
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.base import InboundMessage
from channels.buttons import feedback_labels
from knowledge_base.gaps import cluster, title_of
from knowledge_base.keywords import thai_dictionary
from storage.repos.gaps import GapQuestion
from switchboard.app import ROUTER
from tests.helpers import AgentApi

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

GIFT_CARDS = [  # none close enough to the demo KB's articles to be answered
    "Do you sell gift vouchers?",
    "Can I get a gift voucher for my friend?",
    "where can i buy gift vouchers",
    "Do you have gift vouchers for birthdays?",
    "Is there a gift voucher I can give my mum?",
]
PARKING = [  # Thai: is there parking?
    "มีที่จอดรถไหมครับ",
    "ร้านมีที่จอดรถไหม",
    "มีที่จอดรถให้ลูกค้าไหม",
    "ที่จอดรถของร้านอยู่ตรงไหน",
]
INVOICE = ["可以开发票吗", "怎么开发票", "我需要开发票"]  # Chinese: can I get an invoice?
SINGLETONS = [("What is the meaning of life?", "en"), ("Do you sponsor football teams?", "en")]


def _question(
    text: str, locale: str, n: int, kind: str = "missed", best: str | None = None
) -> GapQuestion:
    return GapQuestion(text, locale, kind, T0 + timedelta(minutes=n), 100 + n, 1000 + n, best)


def scripted() -> list[GapQuestion]:
    texts = (
        [(t, "en") for t in GIFT_CARDS]
        + [(t, "th") for t in PARKING]
        + [(t, "zh") for t in INVOICE]
        + SINGLETONS
    )
    items = [_question(t, loc, n) for n, (t, loc) in enumerate(texts)]
    # One gift-card question escalated, one was a "not helpful" on an article about payments.
    items[1] = _question(GIFT_CARDS[1], "en", 1, "escalated")
    items[3] = _question(GIFT_CARDS[3], "en", 3, "unhelpful", best="payment-methods")
    return items


# ---- clustering --------------------------------------------------------------------------


def test_three_topics_in_three_languages_and_the_singletons() -> None:
    clusters = cluster(scripted())

    assert [(c.locale, c.count) for c in clusters] == [
        ("en", 5),
        ("th", 4),
        ("zh", 3),
        ("en", 1),
        ("en", 1),
    ]
    gift, parking, invoice = clusters[:3]
    assert {e.text for e in gift.examples} == set(GIFT_CARDS)
    assert {e.text for e in parking.examples} == set(PARKING)
    assert {e.text for e in invoice.examples} == set(INVOICE)
    # Singletons: the most recent first.
    assert [c.representative for c in clusters[3:]] == [t for t, _ in reversed(SINGLETONS)]
    assert gift.kinds == {"escalated": 1, "missed": 3, "unhelpful": 1}
    assert gift.nearest_article_id == "payment-methods"
    assert invoice.nearest_article_id is None
    assert {e.conversation_id for e in gift.examples} == {100, 101, 102, 103, 104}
    assert gift.representative in GIFT_CARDS and gift.title == title_of(gift.representative)
    assert "gift" in gift.top_terms
    assert any("发票" in term for term in invoice.top_terms)
    assert (gift.first_at, gift.last_at) == (T0, T0 + timedelta(minutes=4))


def test_the_representative_is_the_medoid_and_examples_are_at_most_five() -> None:
    texts = [
        "How do I get a gift card?",
        "gift card",
        "Can I buy a gift card online?",
        "Where do I get a gift card?",
        "gift card for a friend please",
        "Is a gift card available?",
    ]
    items = scripted()[5:] + [_question(t, "en", 40 + n) for n, t in enumerate(texts)]

    [found] = [c for c in cluster(items) if "gift card" in c.questions]

    assert found.count == 6 and len(found.examples) == 5
    # The medoid: the phrasing closest to all the others, here the bare topic.
    assert found.representative == "gift card" == found.examples[0].text == found.questions[0]
    assert sorted(found.questions) == sorted(texts)


def test_result_does_not_depend_on_the_input_order_and_keys_are_stable() -> None:
    items = scripted()
    shuffled = items[:]
    random.Random(7).shuffle(shuffled)

    first, second = cluster(items), cluster(shuffled)

    assert [(c.key, c.count, c.representative) for c in first] == [
        (c.key, c.count, c.representative) for c in second
    ]
    assert len({c.key for c in first}) == len(first)


def test_repeats_fold_and_count() -> None:
    items = [_question("Do you sell gift cards?", "en", n % 50) for n in range(1000)]
    items += [_question("DO YOU SELL GIFT CARDS", "en", 60)]

    [found] = cluster(items)

    assert found.count == 1001
    assert found.questions == ["Do you sell gift cards?", "DO YOU SELL GIFT CARDS"]
    assert len(found.examples) == 2


def test_different_topics_in_one_language_stay_apart() -> None:
    texts = [
        "Do you sell gift cards?",
        "Can I buy a gift card?",
        "Do you have a store in Chiang Mai?",
        "Is there a shop in Chiang Mai?",
        "Do you ship live plants?",
        "Can you deliver live plants?",
    ]
    clusters = cluster([_question(t, "en", n) for n, t in enumerate(texts)])

    assert sorted(sorted(e.text for e in c.examples) for c in clusters) == sorted(
        sorted(texts[n : n + 2]) for n in (0, 2, 4)
    )


def test_titles_read_like_article_titles() -> None:
    assert title_of("  where can i   buy gift cards??  ") == "Where can i buy gift cards"
    assert title_of("可以开发票吗？") == "可以开发票吗"
    long = title_of("why " * 100)
    assert len(long) <= 121 and long.endswith("…")


def test_nothing_to_cluster() -> None:
    assert cluster([]) == []
    assert cluster([_question("   ", "en", 0)]) == []


# ---- keyword chips -----------------------------------------------------------------------

TRACKING_TH = [  # Thai: where is my parcel, how do I track it
    "ติดตามพัสดุได้อย่างไร",
    "พัสดุของฉันอยู่ที่ไหนครับ",
    "อยากติดตามพัสดุค่ะ",
    "เช็คพัสดุยังไง",
    "ขอเลขติดตามพัสดุหน่อยครับ",
    "พัสดุยังไม่มาเลย ติดตามได้ที่ไหน",
]
RETURNS_ZH = [
    "怎么退货？",
    "我想退货",
    "退货怎么操作",
    "可以退货吗",
    "这个商品能退货吗",
    "申请退货要多久",
]
TRACKING_FA = [
    "سفارشم کجاست؟",
    "چطوری سفارشم را پیگیری کنم؟",
    "پیگیری سفارش",
    "کد رهگیری سفارشم رو از کجا بگیرم؟",
]


def _chips(texts: list[str], locale: str) -> list[list[str]]:
    """Each cluster's keyword chips, biggest cluster first."""
    found = cluster([_question(t, locale, n) for n, t in enumerate(texts)])
    assert sum(c.count for c in found) == len(texts)
    return [c.top_terms for c in found]


def test_thai_and_chinese_chips_are_whole_words_not_character_fragments() -> None:
    thai = _chips(TRACKING_TH, "th")
    chinese = _chips(RETURNS_ZH, "zh")

    assert {"ติดตาม", "พัสดุ"} <= set(thai[0])
    every_thai = {chip for chips in thai for chip in chips}
    assert not {"ดตาม", "ติดต", "พัสด", "สดุ"} & every_thai
    # Every chip is a word of the dictionary PyThaiNLP ships, and none a particle.
    assert every_thai <= thai_dictionary() and not {"ครับ", "ค่ะ", "ยังไง", "ที่ไหน"} & every_thai
    assert all("退货" in chips for chips in chinese)
    assert not any(c in chip for chips in chinese for chip in chips for c in "么怎吗我")


def test_english_and_persian_chips_keep_their_words_without_function_words() -> None:
    [persian] = _chips(TRACKING_FA, "fa")
    english = _chips(
        ["I didn't get my parcel", "where's my parcel?", "parcel not delivered", "lost parcel"],
        "en",
    )

    assert {"سفارشم", "پیگیری"} <= set(persian)
    assert not {"را", "رو", "از", "کجا", "چطوری"} & set(persian)
    assert all(chips[0] == "parcel" for chips in english)
    assert not {"didn", "didn't", "t", "where's", "my"} & {c for chips in english for c in chips}


def test_the_segmenters_neither_download_nor_write_anything(tmp_path: Path) -> None:
    script = (
        "from knowledge_base.keywords import content_words;"
        "print(content_words('ติดตามพัสดุได้อย่างไร'), content_words('怎么退货'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "HOME": str(tmp_path)},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert "ติดตาม" in done.stdout and "退货" in done.stdout
    assert list(tmp_path.iterdir()) == []  # no ~/pythainlp-data, no cache


# ---- through the router and the API ------------------------------------------------------


async def _ask(client: TestClient, visitor: str, text: str) -> Any:
    return await client.app[ROUTER].handle_inbound(
        InboundMessage(
            channel="webchat",
            address=visitor,
            text=text,
            external_id=f"{visitor}:{text}",
            locale=None,
        )
    )


async def _script(client: TestClient) -> None:
    """The scripted questions, asked in web chats: a conversation each, except two gift-card
    questions in a row (a miss, then the escalation), and a "not helpful" vote."""
    await _ask(client, "visitor-gift-00000001", GIFT_CARDS[0])
    await _ask(client, "visitor-gift-00000001", GIFT_CARDS[1])  # the second miss: escalated
    for n, text in enumerate(GIFT_CARDS[2:] + PARKING + INVOICE):
        await _ask(client, f"visitor-{n:016d}", text)
    await _ask(client, "visitor-life-00000001", SINGLETONS[0][0])
    await _ask(client, "visitor-formula-00001", "=HYPERLINK(1) do you buy old phones?")
    await _ask(client, "visitor-vote-00000001", "How can I reset my password?")
    await _ask(client, "visitor-vote-00000001", feedback_labels("en")[1])


async def test_gap_report_over_the_api(client: TestClient, agent1: AgentApi) -> None:
    await _script(client)

    report = await agent1.call("GET", "/api/v1/kb/gaps")
    th_only = await agent1.call("GET", "/api/v1/kb/gaps", params={"locale": "th", "limit": "5"})
    top_two = await agent1.call("GET", "/api/v1/kb/gaps", params={"limit": "2"})
    future = await agent1.call(
        "GET", "/api/v1/kb/gaps", params={"since": "2999-01-01", "until": "2999-02-01"}
    )

    clusters = report["clusters"]
    assert report["total_questions"] == 15
    assert [(c["locale"], c["count"]) for c in clusters[:3]] == [("en", 5), ("th", 4), ("zh", 3)]
    gift = clusters[0]
    assert gift["kinds"] == {"escalated": 1, "missed": 4}
    assert {e["text"] for e in gift["examples"]} == set(GIFT_CARDS)
    assert all(isinstance(e["conversation_id"], int) for e in gift["examples"])
    assert gift["draft"] == {
        "locale": "en",
        "title": gift["suggested_title"],
        "body": "TODO: answer",
        "questions": gift["draft"]["questions"],
        "tags": ["from-gap"],
    }
    assert set(gift["draft"]["questions"]) == set(GIFT_CARDS)
    assert gift["draft"]["questions"][0] == gift["representative"]
    [unhelpful] = [c for c in clusters if c["kinds"] == {"unhelpful": 1}]
    assert unhelpful["representative"] == "How can I reset my password?"
    assert unhelpful["nearest_article_id"] == "reset-password"
    assert [c["locale"] for c in th_only["clusters"]] == ["th"]
    assert th_only["clusters"][0]["count"] == 4 and th_only["locale"] == "th"
    assert [c["key"] for c in top_two["clusters"]] == [c["key"] for c in clusters[:2]]
    assert top_two["total_clusters"] == len(clusters)
    assert future["clusters"] == [] and future["total_questions"] == 0
    assert future["since"].startswith("2999-01-01T00:00:00")


async def test_gap_report_as_csv(client: TestClient, agent1: AgentApi) -> None:
    await _script(client)

    resp = await client.get("/api/v1/kb/gaps.csv", headers=agent1.headers)

    assert resp.status == 200
    assert resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert [(r["locale"], r["count"]) for r in rows[:3]] == [("en", "5"), ("th", "4"), ("zh", "3")]
    assert (rows[0]["missed"], rows[0]["escalated"], rows[0]["unhelpful"]) == ("4", "1", "0")
    assert set(rows[0]["examples"].split("\n")) == set(GIFT_CARDS)
    [formula] = [r for r in rows if "HYPERLINK" in r["representative"]]
    assert formula["representative"].startswith("'=")  # never a live formula in a spreadsheet


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-11-02", "until": "2026-11-01"}, "since"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "since"),
        ({"locale": "en_US!"}, "locale"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"sort": "count"}, "sort"),
        # Past the calendar once in UTC (or 30 days before): these were 500s.
        ({"since": "9999-12-31", "until": "9999-12-31T23:59:59-12:00"}, "until"),
        ({"since": "0001-01-01T00:00:00+14:00", "until": "0001-01-02"}, "since"),
        ({"until": "0001-01-01"}, "until"),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    client: TestClient, agent1: AgentApi, query: dict[str, str], names: str
) -> None:
    for path in ("/api/v1/kb/gaps", "/api/v1/kb/gaps.csv"):
        body = await agent1.call("GET", path, expect=400, params=query)
        assert names in body["error"]["message"], body


async def test_the_report_is_for_signed_in_staff(client: TestClient) -> None:
    resp = await client.get("/api/v1/kb/gaps")
    assert resp.status == 401
