"""What the bot would do, for knowledge managers: trying a question (the same answer a customer
gets, with its confidence and the runner-up) and an article's coverage (which phrasings the bot
would answer from the others) — through the JSON API, on both databases.

No exact confidences are asserted: the calibration behind them is tuned elsewhere. The articles
chosen, the outcomes' agreement with the threshold and the shapes are."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.templates import say
from switchboard.app import KB, ROUTER
from tests import test_kb_editor
from tests.helpers import AgentApi, ChatClient
from tests.test_kb_editor import staff

TRY = "/api/v1/kb/try"
ARTICLES = "/api/v1/kb/articles"
COVERAGE = ARTICLES + "/{id}/{locale}/coverage"

manager = test_kb_editor.manager  # a knowledge manager, signed in (fixture)


async def _try(api: AgentApi, question: str, expect: int = 200, **more: Any) -> Any:
    return await api.call("POST", TRY, expect=expect, json={"question": question, **more})


def _consistent(result: dict[str, Any]) -> None:
    """The outcome follows the threshold; the runner-up and the rest rank below the choice."""
    confidence, threshold = result["confidence"], result["threshold"]
    assert 0.0 <= confidence <= 1.0
    assert result["answered"] == (result["intent"] == "faq" and confidence >= threshold)
    ranked = [result["runner_up"], *result["others"]] if result["runner_up"] else []
    scores = [confidence] + [item["confidence"] for item in ranked]
    assert scores == sorted(scores, reverse=True)
    ids = [result["article"]["id"]] + [item["id"] for item in ranked]
    assert len(ids) == len(set(ids))  # each article once: the runner-up is another article


# ---- try a question -----------------------------------------------------------------------


async def test_a_question_the_demo_kb_covers_gets_that_article_and_a_runner_up_as_a_customer_would(
    client: TestClient, chat: ChatClient, manager: AgentApi
) -> None:
    question = "How can I track my order?"
    result = await _try(manager, question)

    assert result["intent"] == "faq" and result["locale"] == "en"
    assert result["article"]["id"] == "order-tracking" and result["article"]["locale"] == "en"
    assert result["article"]["title"] == "How can I track my order?"
    assert result["article"]["excerpt"] and result["article"]["text"].startswith(
        result["article"]["excerpt"].rstrip("…")
    )
    assert result["runner_up"] is not None and result["runner_up"]["id"] != "order-tracking"
    assert len(result["others"]) <= 3
    assert result["threshold"] == client.app[ROUTER].policy.threshold
    assert (result["channel"], result["max_misses"]) == ("webchat", 2)
    _consistent(result)
    assert result["outcome"] == ("answered" if result["answered"] else "missed")

    # A customer asking the same in the web chat gets exactly what the box said.
    await chat.connect()
    await chat.say(question)
    answer = await chat.reply(lambda m: m["author"] == "bot")
    assert answer["text"] == result["reply"]
    if result["answered"]:
        assert result["reply"] == result["article"]["text"]
    else:
        assert result["reply"] == say("not_sure", "en")


async def test_the_customers_language_picks_the_variant(manager: AgentApi) -> None:
    thai = await _try(manager, "ติดตามพัสดุได้อย่างไร")
    persian = await _try(manager, "سفارشم کجاست؟")

    assert (thai["locale"], thai["article"]["id"], thai["article"]["locale"]) == (
        "th",
        "order-tracking",
        "th",
    )
    assert (persian["locale"], persian["article"]["id"]) == ("fa", "order-tracking")
    assert persian["article"]["locale"] == "fa"
    _consistent(thai)
    _consistent(persian)


async def test_small_talk_a_request_for_a_person_and_a_miss(manager: AgentApi) -> None:
    hello = await _try(manager, "hello")
    person = await _try(manager, "I want to talk to a person")
    unknown = await _try(manager, "Do you sponsor football teams?")

    assert (hello["intent"], hello["outcome"], hello["reply"]) == (
        "greet",
        "smalltalk",
        say("greet", "en"),
    )
    assert hello["article"] is None and hello["runner_up"] is None
    assert (person["intent"], person["outcome"], person["reply"]) == ("handoff", "escalated", None)
    assert not unknown["answered"] and unknown["outcome"] == "missed"
    assert unknown["reply"] == say("not_sure", "en")


async def test_a_draft_is_not_what_the_bot_answers_from(
    client: TestClient, manager: AgentApi
) -> None:
    draft = {
        "locale": "en",
        "title": "Do you groom parrots?",
        "body": "On Tuesdays.",
        "questions": ["parrot grooming appointment"],
    }
    await manager.call("POST", ARTICLES, expect=201, json=draft)
    await client.app[KB].refresh()

    result = await _try(manager, "Do you groom parrots?")

    assert result["article"] is None or result["article"]["id"] != "do-you-groom-parrots"


# ---- who may, and bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("agent", 403), ("supervisor", 403), ("knowledge_manager", 200), ("admin", 200)],
)
async def test_only_knowledge_managers_and_admins_may_ask(
    client: TestClient, role: str, status: int
) -> None:
    api = await staff(client, f"{role}@example.com", role)
    spec = json.loads(await (await client.get("/api/v1/openapi.json")).text())
    routes = [
        ("post", TRY, {"json": {"question": "How can I track my order?"}}),
        ("get", COVERAGE.format(id="shipping-cost", locale="en"), {}),
    ]

    for method, path, kwargs in routes:
        answer = await api.call(method.upper(), path, expect=status, **kwargs)
        if status == 403:
            assert answer["error"]["code"] == "not_allowed"
        template = COVERAGE if path.endswith("/coverage") else path
        documented = spec["paths"][template][method]
        assert {"200", "401", "403"} <= set(documented["responses"])
        assert "Knowledge managers and admins" in documented["description"]
        anonymous = await client.request(method.upper(), path, **kwargs)
        assert anonymous.status == 401


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param({}, "missing_field", "question", id="missing"),
        pytest.param({"question": "   "}, "empty_question", "question", id="empty"),
        pytest.param({"question": "x" * 5000}, "question_too_long", "question", id="too-long"),
        pytest.param({"question": 42}, "bad_field", "question", id="number"),
        pytest.param({"question": ["a"]}, "bad_field", "question", id="list"),
        pytest.param({"question": None}, "bad_field", "question", id="null"),
        pytest.param({"question": "hi", "locale": 7}, "bad_field", "locale", id="locale-number"),
        pytest.param({"question": "hi", "locale": "th th"}, "bad_locale", "locale", id="locale"),
        pytest.param({"question": "hi", "channel": "pigeon"}, "unknown_channel", "channel"),
        pytest.param({"question": "hi", "channel": True}, "bad_field", "channel", id="bool"),
        pytest.param({"question": "hi", "page": 1}, "unknown_field", "page", id="unknown"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    manager: AgentApi, body: dict[str, Any], code: str, field: str
) -> None:
    answer = await manager.call("POST", TRY, expect=400, json=body)

    assert answer["error"]["code"] == code
    assert field in answer["error"]["message"]


async def test_a_body_that_is_not_json_is_400(client: TestClient, manager: AgentApi) -> None:
    resp = await client.post(
        TRY, data=b"question=hi", headers={**manager.headers, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_json"


# ---- coverage -----------------------------------------------------------------------------

PARROTS = {
    "id": "parrots",
    "locale": "en",
    "title": "Do you groom parrots?",
    "body": "We groom parrots on Tuesdays.",
    "questions": [
        "parrot grooming appointment",
        "can I book parrot grooming",
        "Is my cockatoo allowed a bath with you?",  # no other phrasing shares a word with it
        "How can I track my order?",  # another article's title, word for word
    ],
}


async def test_a_draft_s_phrasing_no_other_phrasing_covers_is_listed(manager: AgentApi) -> None:
    await manager.call("POST", ARTICLES, expect=201, json=PARROTS)

    report = await manager.call("GET", COVERAGE.format(id="parrots", locale="en"))

    assert (report["id"], report["locale"], report["unpublished"]) == ("parrots", "en", True)
    assert [item["text"] for item in report["items"]] == [PARROTS["title"], *PARROTS["questions"]]
    assert report["phrasings"] == report["checked"] == 5 and report["capped"] is None
    assert sum(report["counts"].values()) == 5
    by_text = {item["text"]: item for item in report["items"]}
    cockatoo = by_text["Is my cockatoo allowed a bath with you?"]
    assert cockatoo["outcome"] in ("not_answered", "other_article")  # listed: not answered
    assert cockatoo["top"] is None or cockatoo["confidence"] < report["threshold"]
    # Asked without it, the copied title finds the article it was copied from.
    copied = by_text["How can I track my order?"]
    assert copied["top"]["id"] == "order-tracking" and copied["outcome"] != "answered"
    for item in report["items"]:
        assert item["outcome"] in {"answered", "other_article", "not_answered"}
        assert item["kind"] == ("title" if item["text"] == PARROTS["title"] else "question")
        if item["outcome"] == "answered":
            assert item["top"]["id"] == "parrots"
            assert item["confidence"] >= report["threshold"]
        if item["outcome"] == "other_article":
            assert item["top"]["id"] != "parrots"
        if item["runner_up"] is not None:
            assert item["runner_up"]["id"] != item["top"]["id"]


async def test_a_published_article_is_checked_in_every_language_its_own_first(
    manager: AgentApi,
) -> None:
    report = await manager.call("GET", COVERAGE.format(id="order-tracking", locale="th"))

    assert report["unpublished"] is False
    locales = [item["locale"] for item in report["items"]]
    assert locales[0] == "th" and {"en", "th", "zh", "fa"} <= set(locales)
    assert locales == sorted(locales, key=lambda loc: (loc != "th", loc))
    assert report["items"][0]["kind"] == "title"
    checked = [i for i in report["items"] if i["outcome"] != "not_checked"]
    assert len(checked) == report["checked"] >= 1
    assert report["capped"] in (None, "time", "count")
    if report["capped"] is None:
        assert report["checked"] == report["phrasings"]


async def test_the_report_follows_the_article_as_it_is_saved(manager: AgentApi) -> None:
    await manager.call("POST", ARTICLES, expect=201, json=PARROTS)
    path = COVERAGE.format(id="parrots", locale="en")
    first = await manager.call("GET", path)
    again = await manager.call("GET", path)
    assert again == first  # kept: nothing changed

    await manager.call(
        "PATCH", f"{ARTICLES}/parrots/en", json={"questions": ["cockatoo bath", "parrot spa"]}
    )
    changed = await manager.call("GET", path)

    assert [i["text"] for i in changed["items"]] == [
        PARROTS["title"],
        "cockatoo bath",
        "parrot spa",
    ]


async def test_coverage_of_an_unknown_article_is_404(manager: AgentApi) -> None:
    answer = await manager.call("GET", COVERAGE.format(id="nope", locale="en"), expect=404)
    assert answer["error"]["code"] == "article_not_found"
