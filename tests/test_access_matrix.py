"""Who may call what, from the OpenAPI document: every operation is called with a token of
every staff role and with none, and the server is held to the operation's ``x-roles``:
a role listed never gets 401 or 403, a role not listed gets 403 with the JSON error body,
and no token gets 401 unless the operation is public. On SQLite and PostgreSQL.

Each call is harmless: reads look at an existing conversation, customer and article;
anything that writes is aimed at a missing object (the access check comes first, so an
allowed role gets 404 or 400, a refused one 403), and the logout uses a token of its own."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from console.auth import create_agent
from switchboard.app import ROUTER
from tests import api_spec
from tests.conftest import PASSWORD
from tests.helpers import AgentApi, ChatClient

SPEC = api_spec.load()
OPERATIONS = list(api_spec.operations(SPEC))
MISSING = {"integer": "999999", "string": "no-such-thing"}
# A body that gets a request past reading it to the access check; others get ``{}``.
BODIES: dict[str, Any] = {"rollbackArticle": {"version": 1}}
# Reads of a missing object: checking a real article's coverage takes seconds.
SLOW_READS = {"articleCoverage"}


async def _staff(client: TestClient, role: str) -> AgentApi:
    router = client.app[ROUTER]
    email = f"{role}@example.com"
    await create_agent(
        router.db, router.clock, email=email, name=role.title(), password=PASSWORD, role=role
    )
    return await AgentApi.login(client, email, PASSWORD)


async def _existing(client: TestClient, admin: AgentApi) -> dict[str, str]:
    """Path parameter values of real objects, by the path before the parameter."""
    chat = ChatClient(client)
    try:
        await chat.connect()
        await chat.say("hello")
    finally:
        await chat.close()
    conv = (await admin.call("GET", "/api/v1/conversations"))["items"][0]
    article = (await admin.call("GET", "/api/v1/kb/articles", params={"limit": 1}))["items"][0]
    articles = "/api/v1/kb/articles/"
    return {
        "/api/v1/conversations/": str(conv["id"]),
        "/api/v1/customers/": str(conv["customer"]["id"]),
        articles: article["id"],
        articles + "{id}/": article["locale"],
        articles + "{id}/{locale}/versions/": "1",
        "/api/v1/segments/": "vip",
    }


def _url(op: api_spec.Operation, existing: dict[str, str]) -> str:
    """Reads address an existing object where there is one, writes a missing one."""
    path = op.path
    for param in op.path_parameters:
        slot = "{" + param["name"] + "}"
        schema = param.get("schema", {})
        before = op.path[: op.path.index(slot)]
        if "enum" in schema:
            value = str(schema["enum"][0])
        elif op.method == "get" and op.id not in SLOW_READS and before in existing:
            value = existing[before]
        else:
            value = MISSING[schema.get("type", "string")]
        path = path.replace(slot, value)
    return path


async def _call(
    client: TestClient, op: api_spec.Operation, path: str, token: str | None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if "requestBody" in op.spec:
        kwargs["json"] = BODIES.get(op.id, {})
    resp = await client.request(op.method.upper(), path, **kwargs)
    return resp.status, await _body(resp)


async def _body(resp: ClientResponse) -> Any:
    if resp.content_type != "application/json":
        return None
    return await resp.json()


def _error_body(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
    )


async def test_each_role_may_call_exactly_the_operations_that_list_it(
    client: TestClient,
) -> None:
    staff = {role: await _staff(client, role) for role in api_spec.ROLES}
    existing = await _existing(client, staff["admin"])
    wrong: list[str] = []

    for op in OPERATIONS:
        path = _url(op, existing)
        for role, api in staff.items():
            token = api.token
            if op.id == "logout":  # ends the token: use one of its own
                token = (await AgentApi.login(client, f"{role}@example.com", PASSWORD)).token
            status, body = await _call(client, op, path, token)
            if op.public or role in op.roles:
                if status in (401, 403) or status >= 500:
                    wrong.append(f"{op} as {role}: {status} {body} (x-roles lists {role})")
            elif status != 403 or not _error_body(body):
                wrong.append(f"{op} as {role}: {status} {body}, expected 403 with an error")

    assert wrong == [], "\n".join(wrong)


async def test_without_a_token_only_the_public_operations_answer(client: TestClient) -> None:
    existing = await _existing(client, await _staff(client, "admin"))
    wrong: list[str] = []

    for op in OPERATIONS:
        status, body = await _call(client, op, _url(op, existing), None)
        if op.public:
            if status in (401, 403) or status >= 500:
                wrong.append(f"{op}: {status} {body} (public)")
        elif status != 401 or not _error_body(body):
            wrong.append(f"{op}: {status} {body}, expected 401 with an error")

    assert wrong == [], "\n".join(wrong)
