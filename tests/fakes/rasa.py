"""A local stand-in for a Rasa Open Source 3.6 server started with ``rasa run --enable-api``
and the REST channel, speaking its wire format.

``POST /webhooks/rest/webhook`` takes ``{"sender", "message", "metadata"}`` and answers the
bot's messages as ``[{"recipient_id", "text"}, {"recipient_id", "custom": {…}}]``;
``POST /model/parse`` takes ``{"text"}`` and answers ``{"text", "intent": {"name",
"confidence"}, "entities", "intent_ranking"}``. Its NLU is a keyword table: the first intent
with a keyword in the text wins, with that intent's confidence; nothing matches →
``nlu_fallback``. It records what it received and can be told to fail: the next request(s)
with an HTTP status or a body that is not JSON, every request slowly (until stopped), or not at
all (stopped: connections are refused).

    async with FakeRasa() as rasa:
        assistant = RasaAssistant(rasa.base_url, fallback)
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.server import LocalServer, free_port, next_failure

SHIPPING = "Standard shipping takes 3 to 5 business days (Rasa)."
REFUND = "Refunds reach your card within 5 to 10 business days (Rasa)."
GREETING = "Hello from the Rasa assistant!"
HANDOFF_TEXT = "Let me get a person for you."
SORRY = "Sorry, I didn't understand that."


@dataclass(frozen=True)
class Understanding:
    """One intent of the keyword NLU and what the dialogue answers to it."""

    intent: str
    keywords: tuple[str, ...]
    confidence: float
    responses: tuple[dict[str, Any], ...]


DEFAULT_NLU = (
    Understanding(
        "human_handoff",
        ("human", "person", "agent"),
        0.97,
        ({"text": HANDOFF_TEXT}, {"custom": {"handoff": True}}),
    ),
    Understanding("complaint", ("complain",), 0.91, ({"text": "I'm sorry to hear that."},)),
    Understanding("greet", ("hello", "hi there"), 0.95, ({"text": GREETING},)),
    Understanding("thanks", ("thank",), 0.96, ()),  # no response: Switchboard's own words
    Understanding("faq_shipping", ("shipping", "delivery"), 0.93, ({"text": SHIPPING},)),
    Understanding("faq_refund", ("refund",), 0.9, ({"text": REFUND}, {"text": "Anything else?"})),
    Understanding("faq_unsure", ("maybe",), 0.42, ({"text": "Perhaps this helps."},)),
    Understanding("faq_unanswered", ("warranty",), 0.88, ()),
)


@dataclass(frozen=True)
class Failure:
    status: int = 500
    body: str | None = None  # sent as is (a body that is not JSON when status is 200)
    after: int = 0  # requests to let through first


class FakeRasa(LocalServer):
    def __init__(self, nlu: tuple[Understanding, ...] = DEFAULT_NLU) -> None:
        self.port = free_port()
        self.nlu = nlu
        self.received: list[dict[str, Any]] = []  # webhook bodies
        self.parsed: list[str] = []  # texts sent to /model/parse
        self.requests = 0
        self.delay: float | None = None  # hold every answer this long (or until stopped)
        self._failures: deque[Failure] = deque()
        self._released = asyncio.Event()

    # --- controls ----------------------------------------------------------------------------

    def fail_next(
        self, status: int = 500, *, body: str | None = None, times: int = 1, after: int = 0
    ) -> None:
        """The next ``times`` requests (after ``after`` more succeed) fail with ``status``."""
        self._failures.append(Failure(status, body, after))
        self._failures.extend(Failure(status, body) for _ in range(times - 1))

    def stopping(self) -> None:
        self._released.set()  # let held requests end so the server can stop

    # --- the API -----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        self._released = asyncio.Event()
        app.router.add_get("/", self._hello)
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_post("/model/parse", self._parse)

    async def _hello(self, _request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        failed = await self._before(request)
        if failed is not None:
            return failed
        body = await request.json()
        if not isinstance(body.get("sender"), str) or not isinstance(body.get("message"), str):
            return web.json_response({"error": "sender and message are required"}, status=400)
        self.received.append(body)
        understood = self._understand(body["message"])
        responses = understood.responses if understood else ({"text": SORRY},)
        return web.json_response([{"recipient_id": body["sender"], **r} for r in responses])

    async def _parse(self, request: web.Request) -> web.StreamResponse:
        failed = await self._before(request)
        if failed is not None:
            return failed
        text = (await request.json())["text"]
        self.parsed.append(text)
        understood = self._understand(text)
        if understood is None:
            intent = {"name": "nlu_fallback", "confidence": 0.6}
            ranking = [intent, {"name": "faq_shipping", "confidence": 0.21}]
        else:
            intent = {"name": understood.intent, "confidence": understood.confidence}
            ranking = [intent, {"name": "greet", "confidence": 1 - understood.confidence}]
        return web.json_response(
            {"text": text, "intent": intent, "entities": [], "intent_ranking": ranking}
        )

    async def _before(self, request: web.Request) -> web.StreamResponse | None:
        self.requests += 1
        if self.delay is not None:
            try:
                await asyncio.wait_for(self._released.wait(), self.delay)
            except TimeoutError:
                pass
        failure = next_failure(self._failures)
        if failure is None:
            return None
        if failure.body is not None:
            return web.Response(status=failure.status, text=failure.body)
        return web.json_response(
            {"version": "3.6.21", "status": "failure", "message": "Internal error"},
            status=failure.status,
        )

    def _understand(self, text: str) -> Understanding | None:
        lowered = text.lower()
        return next((u for u in self.nlu if any(k in lowered for k in u.keywords)), None)
