"""The OpenAPI document is a valid OpenAPI 3.1 document, as a file and as served, and every
operation says who may call it (``x-roles``) consistently with its security and responses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from tests import api_spec

SPEC = api_spec.load()
OPERATIONS = list(api_spec.operations(SPEC))


def test_the_openapi_file_is_a_valid_openapi_document() -> None:
    validate(api_spec.load())  # raises naming the first fault, e.g. a broken parameter


async def test_the_served_openapi_document_is_valid_and_is_the_file(client: TestClient) -> None:
    resp = await client.get("/api/v1/openapi.json")
    served = json.loads(await resp.text())

    validate(served)
    assert served == api_spec.load()


def test_operation_ids_are_unique() -> None:
    ids = [op.id for op in OPERATIONS]

    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_every_operation_says_who_may_call_it(op: api_spec.Operation) -> None:
    roles = op.roles
    responses: dict[str, Any] = op.spec["responses"]

    assert roles, f"{op}: no x-roles"
    if op.public:
        assert op.spec.get("security") == [], f"{op}: x-roles [public] needs security: []"
        return
    assert "security" not in op.spec, f"{op}: a staff operation takes the bearer token"
    assert set(roles) <= set(api_spec.ROLES), f"{op}: unknown role in {roles}"
    assert len(set(roles)) == len(roles), f"{op}: a role listed twice"
    assert "401" in responses, f"{op}: a staff operation answers 401 without a token"
    if set(roles) != set(api_spec.ROLES):
        assert "403" in responses, f"{op}: answers 403 to the roles not listed"
