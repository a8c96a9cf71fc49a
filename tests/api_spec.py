"""The staff API's OpenAPI document (console/openapi.yaml) read the way the tests walk it:
every operation with its method, path and who may call it (``x-roles``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from routing.assignment import Role

SPEC_FILE = Path(__file__).resolve().parent.parent / "console" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PUBLIC = "public"
ROLES = tuple(role.value for role in Role)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.spec["operationId"])

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.spec.get("x-roles", ()))

    @property
    def public(self) -> bool:
        return self.roles == (PUBLIC,)

    @property
    def path_parameters(self) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p.get("in") == "path"]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path} ({self.id})"


def load() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    return spec


def operations(spec: dict[str, Any]) -> Iterator[Operation]:
    """Every operation, with the path's shared parameters merged into its own."""
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                op = dict(item[method])
                params = [*shared, *op.get("parameters", [])]
                op["parameters"] = [resolve(spec, p) for p in params]
                yield Operation(method, path, op)


def resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """``item``, or what its local ``$ref`` ("#/components/...") points to."""
    ref = item.get("$ref")
    if ref is None:
        return item
    target: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return resolve(spec, target)
