"""A collecting channel adapter: records what it was asked to send, fails when told to."""

from __future__ import annotations

from collections import deque

from channels.base import DeliveryReceipt, OutboundMessage
from storage.models import DeliveryState


class FakeChannel:
    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []
        self.attempts = 0
        self._failures: deque[Exception] = deque()

    def fail_next(self, *errors: Exception) -> None:
        self._failures.extend(errors)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        self.attempts += 1
        if self._failures:
            raise self._failures.popleft()
        self.sent.append(message)
        return DeliveryReceipt(
            provider_message_id=f"{self.name}-{len(self.sent)}", state=DeliveryState.SENT
        )

    def texts(self) -> list[str]:
        return [m.text for m in self.sent]
