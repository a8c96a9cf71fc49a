"""The knowledge-base editor: workflow and permissions, versions and rollback, what the bot
answers from, Markdown, import/export, and bad input — through the JSON API, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from console.auth import create_agent
from knowledge_base.importer import dumps, loads
from storage.models import AuditEvent
from switchboard.app import KB, ROUTER
from tests.conftest import PASSWORD
from tests.helpers import AgentApi, ChatClient

BASE = "/api/v1/kb/articles"
PARROT = {
    "locale": "en",
    "title": "Parrot grooming service",
    "body": "We groom **parrots** on Tuesdays. Book at [our site](https://example.com/book).",
    "questions": ["do you groom parrots", "parrot grooming appointment"],
    "tags": ["pets"],
    "category": "Services",
}


async def staff(client: TestClient, email: str, role: str) -> AgentApi:
    """A signed-in staff member of ``role``, new."""
    router = client.app[ROUTER]
    await create_agent(
        router.db, router.clock, email=email, name=email.split("@")[0], password=PASSWORD, role=role
    )
    return await AgentApi.login(client, email, PASSWORD)


@pytest.fixture
async def manager(client: TestClient) -> AgentApi:
    return await staff(client, "km@example.com", "knowledge_manager")


async def _act(api: AgentApi, key: str, action: str, expect: int = 200, **body: Any) -> Any:
    return await api.call("POST", f"{BASE}/{key}/{action}", expect=expect, json=body or None)


async def _bot_says(client: TestClient, chat: ChatClient, question: str) -> dict[str, Any]:
    await client.app[KB].refresh()  # waits for the refresh the API started, if any
    await chat.say(question)
    return await chat.reply(lambda m: m["author"] == "bot")


async def test_an_article_goes_from_draft_through_review_to_the_bot_and_agents_cannot_publish(
    client: TestClient, chat: ChatClient, agent1: AgentApi, manager: AgentApi
) -> None:
    await chat.connect()
    draft = await agent1.call("POST", BASE, expect=201, json=PARROT)
    assert draft["id"] == "parrot-grooming-service"
    assert (draft["status"], draft["version"], draft["published_version"]) == ("draft", 1, None)
    assert draft["actions"] == ["edit", "submit"]  # no publish button for an agent
    key = "parrot-grooming-service/en"

    # A draft never reaches customers.
    answer = await _bot_says(client, chat, "do you groom parrots?")
    assert "Tuesdays" not in answer["text"]

    for action in ("publish", "archive"):
        refused = await _act(agent1, key, action, expect=403)
        assert refused["error"]["code"] == "not_allowed"
    in_review = await _act(agent1, key, "submit")
    assert in_review["status"] == "in_review"
    assert (await _act(agent1, key, "publish", expect=403))["error"]["code"] == "not_allowed"

    # Sending back needs a reason; the history says who did what.
    assert (await _act(manager, key, "reject", expect=400))["error"]["code"] == "comment_required"
    sent_back = await _act(manager, key, "reject", comment="Add the price")
    assert sent_back["status"] == "draft"
    assert sent_back["history"][0] == {
        **sent_back["history"][0],
        "action": "reject",
        "from": "in_review",
        "to": "draft",
        "actor": "km@example.com",
        "comment": "Add the price",
    }
    assert [e["action"] for e in sent_back["history"]] == ["reject", "submit", "create"]
    assert [e["actor"] for e in sent_back["history"]][1:] == ["agent1@example.com"] * 2

    await agent1.call("PATCH", f"{BASE}/{key}", json={"body": PARROT["body"] + " It costs 20 EUR."})
    await _act(agent1, key, "submit")
    published = await _act(manager, key, "publish")
    assert (published["status"], published["version"], published["published_version"]) == (
        "published",
        2,
        2,
    )
    answer = await _bot_says(client, chat, "do you groom parrots?")
    # Customers get plain text: no Markdown marks, the link spelled out.
    assert answer["text"] == (
        "We groom parrots on Tuesdays. Book at our site (https://example.com/book). "
        "It costs 20 EUR."
    )

    # Editing a published article makes a draft; customers keep the published text meanwhile.
    edited = await agent1.call(
        "PATCH", f"{BASE}/{key}", json={"body": "We no longer groom parrots."}
    )
    assert (edited["status"], edited["version"], edited["published_version"]) == ("draft", 3, 2)
    assert "20 EUR" in edited["published"]["body"]
    answer = await _bot_says(client, chat, "parrot grooming appointment")
    assert "Tuesdays" in answer["text"]

    await _act(manager, key, "publish")
    answer = await _bot_says(client, chat, "parrot grooming appointment")
    assert answer["text"] == "We no longer groom parrots."

    archived = await _act(manager, key, "archive")
    assert (archived["status"], archived["published_version"]) == ("archived", None)
    assert archived["actions"] == ["restore"]
    answer = await _bot_says(client, chat, "do you groom parrots?")
    assert "groom" not in answer["text"]
    assert (await _act(manager, key, "archive", expect=409))["error"]["code"] == "bad_status"
    assert (await _act(manager, key, "restore"))["status"] == "draft"

    async with client.app[ROUTER].db.transaction() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.target == f"article:{key}")
            )
        ).all()
    assert actions.count("article.publish") == 2 and "article.reject" in actions


async def test_every_save_is_a_version_with_a_diff_and_a_rollback_republishes_the_old_text(
    client: TestClient, chat: ChatClient, agent1: AgentApi, manager: AgentApi
) -> None:
    await chat.connect()
    await manager.call("POST", BASE, expect=201, json={**PARROT, "id": "parrots"})
    key = "parrots/en"
    await _act(manager, key, "publish")
    unchanged = await manager.call("PATCH", f"{BASE}/{key}", json={"title": PARROT["title"]})
    assert unchanged["version"] == 1  # saving the same content makes no version
    await manager.call(
        "PATCH",
        f"{BASE}/{key}",
        json={
            "body": "Parrot grooming is cancelled.\nAsk about our other services.",
            "questions": ["do you groom parrots", "parrot spa"],
            "base_version": 1,
        },
    )
    stale = await manager.call(
        "PATCH", f"{BASE}/{key}", expect=409, json={"title": "Old tab", "base_version": 1}
    )
    assert stale["error"]["code"] == "stale_version" and "version 2" in stale["error"]["message"]
    await _act(manager, key, "publish")
    answer = await _bot_says(client, chat, "do you groom parrots?")
    assert answer["text"].startswith("Parrot grooming is cancelled.")

    versions = await manager.call("GET", f"{BASE}/{key}/versions")
    assert (versions["current"], versions["published_version"]) == (2, 2)
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert all(v["created_by"] == "km@example.com" for v in versions["items"])

    diff = await manager.call("GET", f"{BASE}/{key}/diff", params={"from": "1", "to": "2"})
    changes = {c["field"]: c for c in diff["changes"]}
    assert set(changes) == {"body", "questions"}
    assert changes["questions"]["added"] == ["parrot spa"]
    assert changes["questions"]["removed"] == ["parrot grooming appointment"]
    assert "-We groom **parrots**" in changes["body"]["diff"]
    assert "+Ask about our other services." in changes["body"]["diff"]

    # Agents cannot roll back; a manager's rollback is live at once.
    refused = await agent1.call("POST", f"{BASE}/{key}/rollback", expect=403, json={"version": 1})
    assert refused["error"]["code"] == "not_allowed"
    missing = await manager.call("POST", f"{BASE}/{key}/rollback", expect=404, json={"version": 9})
    assert missing["error"]["code"] == "version_not_found"
    rolled = await manager.call("POST", f"{BASE}/{key}/rollback", json={"version": 1})
    assert (rolled["status"], rolled["version"], rolled["published_version"]) == (
        "published",
        3,
        3,
    )
    assert rolled["body"] == PARROT["body"] and rolled["questions"] == PARROT["questions"]
    assert rolled["history"][0]["action"] == "rollback"
    v3 = await manager.call("GET", f"{BASE}/{key}/versions/3")
    assert v3["note"] == "rollback to version 1"
    answer = await _bot_says(client, chat, "do you groom parrots?")
    assert answer["text"].startswith("We groom parrots on Tuesdays.")


async def test_markdown_is_rendered_safely_and_variants_share_an_id(
    client: TestClient, agent1: AgentApi
) -> None:
    body = (
        "## Steps\n\n1. Open **Settings**\n2. Tap [reset](javascript:alert(1))\n\n"
        "<script>alert('x')</script> <img src=x onerror=alert(1)>"
    )
    created = await agent1.call(
        "POST",
        BASE,
        expect=201,
        json={"id": "reset", "locale": "en", "title": "Reset", "body": body},
    )
    html = created["body_html"]
    assert "<h2>Steps</h2>" in html and "<strong>Settings</strong>" in html
    # The script link is left as text, raw HTML is shown as text: nothing runs.
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html
    preview = await agent1.call(
        "POST", "/api/v1/kb/preview", json={"body": "*hi* [a](https://x.org)"}
    )
    assert preview["html"].strip() == (
        '<p><em>hi</em> <a href="https://x.org" rel="noopener noreferrer nofollow">a</a></p>'
    )
    assert preview["text"] == "hi a (https://x.org)"

    thai = await agent1.call(
        "POST",
        BASE,
        expect=201,
        json={"id": "reset", "locale": "th", "title": "รีเซ็ตรหัสผ่าน", "body": "เปิดการตั้งค่า"},
    )
    assert {v["locale"] for v in thai["variants"]} == {"en", "th"}
    again = await agent1.call(
        "POST", BASE, expect=409, json={"id": "reset", "locale": "th", "title": "x", "body": "y"}
    )
    assert again["error"]["code"] == "article_exists"
    # A title with no Latin letters still gets an id.
    zh = await agent1.call(
        "POST", BASE, expect=201, json={"locale": "zh", "title": "退款", "body": "七天"}
    )
    assert zh["id"].startswith("article-")


async def test_the_editor_lists_searches_and_filters(
    client: TestClient, agent1: AgentApi, manager: AgentApi
) -> None:
    await manager.call("POST", BASE, expect=201, json={**PARROT, "id": "parrots"})
    await manager.call(
        "POST",
        BASE,
        expect=201,
        json={
            "id": "cats",
            "locale": "th",
            "title": "แมว",
            "body": "Cats 50% off",
            "tags": ["pets", "sale"],
        },
    )
    await _act(manager, "parrots/en", "publish")

    async def ids(**params: str) -> list[str]:
        found = await agent1.call("GET", BASE, params=params)
        return [i["id"] for i in found["items"]]

    assert "parrots" in await ids(q="TUESDAYS")
    assert await ids(q="50%") == ["cats"]  # % is searched for, not a wildcard
    assert await ids(q="แมว") == ["cats"]
    assert "cats" not in await ids(status="published")
    assert await ids(status="draft") == ["cats"]
    assert await ids(tag="sale") == ["cats"]
    assert await ids(category="Services") == ["parrots"]
    assert await ids(locale="th", tag="pets") == ["cats"]
    assert "parrots" not in await ids(locale="th")
    page = await agent1.call("GET", BASE, params={"limit": "1", "offset": "0", "tag": "pets"})
    assert (page["total"], len(page["items"])) == (2, 1)
    facets = await agent1.call("GET", "/api/v1/kb/facets")
    assert facets["tags"]["pets"] == 2 and facets["categories"]["Services"] == 1
    assert facets["statuses"]["draft"] == 1

    bad = await agent1.call("GET", BASE, expect=400, params={"status": "live"})
    assert bad["error"]["code"] == "bad_status"
    assert (await agent1.call("GET", BASE, expect=400, params={"limit": "0"}))["error"][
        "code"
    ] == "bad_limit"


async def test_bad_requests_name_the_problem(client: TestClient, agent1: AgentApi) -> None:
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", BASE, {"locale": "en", "title": "x"}, 400, "missing_field"),
        ("POST", BASE, {**PARROT, "colour": "red"}, 400, "unknown_field"),
        ("POST", BASE, {**PARROT, "questions": "one"}, 400, "bad_field"),
        ("POST", BASE, {**PARROT, "questions": [1]}, 400, "invalid_article"),
        ("POST", BASE, {**PARROT, "locale": "English"}, 400, "invalid_article"),
        ("POST", BASE, {**PARROT, "title": "  "}, 400, "invalid_article"),
        ("GET", f"{BASE}/nope/en", None, 404, "article_not_found"),
        ("PATCH", f"{BASE}/nope/en", {"title": "x"}, 404, "article_not_found"),
        ("POST", f"{BASE}/nope/en/submit", None, 404, "article_not_found"),
        ("GET", f"{BASE}/nope/en/versions/x", None, 400, "bad_version"),
        ("GET", "/api/v1/kb/export", {"format": "xml"}, 400, "bad_format"),
    ]
    for method, path, body, status, code in cases:
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["params" if method == "GET" else "json"] = body
        answer = await agent1.call(method, path, expect=status, **kwargs)
        assert answer["error"]["code"] == code, (method, path, answer)
    await agent1.call("POST", BASE, expect=201, json={**PARROT, "id": "p"})
    empty = await agent1.call("PATCH", f"{BASE}/p/en", expect=400, json={})
    assert empty["error"]["code"] == "missing_field"
    unauth = await client.get(BASE)
    assert unauth.status == 401


TRICKY = [
    {
        "id": "refunds",
        "locale": "en",
        "title": 'Refunds, "quotes" and commas',
        "body": "Line one\n\n- item: yes\n- null\n\n    code block  \n# not a comment",
        "questions": ["a | b pipe", "how, exactly?"],
        "tags": ["yes", "1.0"],
        "category": "Billing: money",
        "status": "published",
    },
    {
        "id": "refunds",
        "locale": "th",
        "title": "การคืนเงิน",
        "body": "คืนเงินภายใน ๗ วัน",
        "questions": ["ขอคืนเงิน"],
        "tags": [],
        "status": "draft",
    },
    {
        "id": "pipe",
        "locale": "fa",
        "title": "بازپرداخت",
        "body": "متن\u200cفارسی",
        "questions": ["only | one"],
        "tags": ["x|y"],
        "category": None,
        "status": "in_review",
    },
]


@pytest.mark.parametrize("fmt", ["yaml", "json", "csv"])
def test_every_format_round_trips_exactly(fmt: str) -> None:
    text = dumps(TRICKY, fmt)
    back = loads(text, fmt)
    expected = [{**a, "category": a.get("category")} for a in TRICKY]
    assert back == expected
    assert dumps(back, fmt) == text


async def test_import_and_export_through_the_api_round_trip(
    client: TestClient, agent1: AgentApi, manager: AgentApi
) -> None:
    before = await manager.call("GET", f"{BASE}", params={"limit": "500"})
    for fmt in ("yaml", "json", "csv"):
        resp = await client.get(
            "/api/v1/kb/export", params={"format": fmt}, headers=manager.headers
        )
        assert resp.status == 200
        assert f"knowledge-base.{fmt}" in resp.headers["Content-Disposition"]
        exported = await resp.text()
        again = await client.post(
            "/api/v1/kb/import",
            params={"format": fmt},
            data=exported.encode(),
            headers={**manager.headers, "Content-Type": "application/octet-stream"},
        )
        counts = await again.json()
        assert again.status == 200, counts
        assert counts == {
            "articles": before["total"],
            "created": 0,
            "updated": 0,
            "unchanged": before["total"],
        }

    upload = dumps(TRICKY, "csv")
    refused = await client.post(
        "/api/v1/kb/import", params={"format": "csv"}, data=upload.encode(), headers=agent1.headers
    )
    assert refused.status == 403
    imported = await client.post(
        "/api/v1/kb/import",
        params={"format": "csv", "name": "tricky.csv"},
        data=upload.encode(),
        headers=manager.headers,
    )
    assert (await imported.json())["created"] == 3
    fa = await manager.call("GET", f"{BASE}/pipe/fa")
    assert (fa["status"], fa["tags"], fa["questions"]) == ("in_review", ["x|y"], ["only | one"])
    assert fa["history"][0]["actor"] == "km@example.com"
    v1 = await manager.call("GET", f"{BASE}/pipe/fa/versions/1")
    assert v1["note"] == "import tricky.csv"
    resp = await client.get(
        "/api/v1/kb/export",
        params={"format": "json", "status": "draft,in_review"},
        headers=manager.headers,
    )
    subset = loads(await resp.text(), "json")
    assert {(a["id"], a["locale"]) for a in subset} == {("refunds", "th"), ("pipe", "fa")}

    broken = await client.post(
        "/api/v1/kb/import",
        params={"format": "csv"},
        data=b"id,locale,title,body\nx,en,,body\n",
        headers=manager.headers,
    )
    error = (await broken.json())["error"]
    assert broken.status == 400 and error["code"] == "invalid_file"
    assert "line 2" in error["message"] and "'title'" in error["message"]


@pytest.mark.parametrize(
    ("fmt", "upload", "field"),
    [
        pytest.param(
            "csv", b"id,locale,title,body\nx,en,Nul\x00here,body\n", "'title'", id="csv-nul"
        ),
        pytest.param(
            "json",
            b'[{"id": "x", "locale": "en", "title": "t", "body": "b\\u0000"}]',
            "'body'",
            id="json-nul",
        ),
        pytest.param(
            "json",
            b'[{"id": "x", "locale": "en", "title": "t", "body": "b", "tags": ["\\ud83d"]}]',
            "'tags'",
            id="json-lone-surrogate",
        ),
    ],
)
async def test_an_import_with_text_no_database_stores_is_refused_naming_the_field(
    client: TestClient, manager: AgentApi, fmt: str, upload: bytes, field: str
) -> None:
    # PostgreSQL refuses a NUL: this import was a 500 there.
    resp = await client.post(
        "/api/v1/kb/import", params={"format": fmt}, data=upload, headers=manager.headers
    )

    error = (await resp.json())["error"]
    assert resp.status == 400 and error["code"] == "invalid_file"
    assert field in error["message"] and "NUL or an unpaired surrogate" in error["message"]


async def test_a_rollback_to_a_version_number_past_the_column_is_400(
    client: TestClient, manager: AgentApi
) -> None:
    key = (await manager.call("GET", BASE, params={"limit": "1"}))["items"][0]
    path = f"{BASE}/{key['id']}/{key['locale']}/rollback"

    body = await manager.call("POST", path, expect=400, json={"version": 2**40})

    assert body["error"]["code"] == "bad_version"
