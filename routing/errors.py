"""Domain errors of the routing core; the HTTP layer turns them into 4xx answers."""

from __future__ import annotations

from channels.errors import SwitchboardError


class RoutingError(SwitchboardError):
    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Conflict(RoutingError):
    """The conversation is not in a state that allows this (claimed by another, closed …)."""

    status = 409


class Forbidden(RoutingError):
    status = 403
