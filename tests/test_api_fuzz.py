"""The staff API fuzzed from its OpenAPI document (schemathesis): each operation gets a
bounded number of generated requests, valid and invalid, with an admin token, sent to the
real server on a local port; none may be answered with a server error, and every answer must
be one the document describes (status code, content type, body schema). On SQLite and
PostgreSQL.

Bounded and repeatable: a fixed number of examples per operation, Hypothesis derandomized
(the same requests every run), no example database, no shrinking. Every failure is listed,
with a curl line to reproduce it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from console.auth import create_agent
from switchboard.app import ROUTER, create_app
from switchboard.settings import Settings
from tests import api_spec
from tests.conftest import PASSWORD, seed
from tests.helpers import AgentApi, ChatClient

# Examples per operation: schema-valid requests, then invalid ones (wrong types, missing
# fields, values out of range). Each login verifies an argon2 hash (deliberately slow).
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 5, schemathesis.GenerationMode.NEGATIVE: 3}
FEWER = {"login": 2}
# Ending the admin's token would turn the rest of the run into 401s; it takes no input and
# the access matrix calls it.
SKIPPED = {"logout"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )


def _fuzz(base_url: str, token: str, pinned: dict[str, dict[str, Any]]) -> list[str]:
    """Fuzz every operation; the failures, each with a curl line to reproduce it."""
    schema = schemathesis.openapi.from_dict(api_spec.load())
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            op_id = operation.definition.raw["operationId"]
            if op_id in SKIPPED:
                continue
            for mode, examples in EXAMPLES.items():
                strategy = operation.as_strategy(
                    generation_mode=mode, path_parameters=pinned.get(op_id)
                )
                run = _settings(min(examples, FEWER.get(op_id, examples)))(
                    hypothesis.given(case=strategy)(_checker(base_url, session, headers, failures))
                )
                try:
                    run()
                except Unsatisfiable:  # no input to make invalid (e.g. GET /healthz)
                    assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    return failures


def _checker(
    base_url: str, session: requests.Session, headers: dict[str, str], failures: list[str]
) -> Callable[[schemathesis.Case], None]:
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{case.operation.label} -> {response.status_code}\n{exc}")

    return check


@pytest.mark.timeout(600)  # bounded by the example counts; generous for a busy machine
async def test_fuzzing_the_api_as_an_admin_gets_no_server_error_and_only_documented_answers(
    aiohttp_server: Any, aiohttp_client: Any, settings: Settings
) -> None:
    await seed(settings.effective_database_url)  # the demo KB, agent1 and agent2
    server = await aiohttp_server(create_app(settings))
    client: TestClient = await aiohttp_client(server)
    router = client.app[ROUTER]
    await create_agent(
        router.db,
        router.clock,
        email="admin@example.com",
        name="Admin",
        password=PASSWORD,
        role="admin",
    )
    admin = await AgentApi.login(client, "admin@example.com", PASSWORD)
    chat = ChatClient(client)  # a customer and a conversation to find
    await chat.connect()
    await chat.say("hello")
    await chat.close()
    other = (await AgentApi.login(client, "agent1@example.com", PASSWORD)).token
    agent1 = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"})
    # The admin must stay an admin for the whole run: role changes go to agent1.
    pinned = {"updateAgent": {"id": (await agent1.json())["id"]}}

    base_url = str(server.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(_fuzz, base_url, admin.token, pinned)

    assert failures == [], "\n\n".join(failures)
