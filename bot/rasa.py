"""A Rasa Open Source server as the bot, over its HTTP API, with the embedded FAQ bot behind it.

Each message goes at once to the REST channel's webhook (the dialogue's replies) and to
``/model/parse`` (the intent and Rasa's confidence in it). When Rasa is slow, down, failing or
answers something that is not its wire format, the fallback assistant (the embedded FAQ bot)
answers instead: the customer never meets silence. After several failures in a row a circuit
breaker skips Rasa for a while, so an outage does not add the timeout to every message.

The router owns the handoff. Rasa asks for one with a configured intent (``human_handoff``) or
a reply carrying the custom payload ``{"handoff": true}``; the router then escalates, and a
conversation with the agents is never sent to Rasa again, so Rasa's tracker needs no pause
event and agents' replies need not be recorded there. A conversation handed back to the bot
continues under the same sender id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.assistant import Assistant, BotContext, BotReply, Intent
from bot.templates import say
from knowledge_base.text import detect_language

log = logging.getLogger("switchboard.bot.rasa")
NLU_FALLBACK = "nlu_fallback"
SMALLTALK_INTENTS = {
    "greet": Intent.GREET,
    "thanks": Intent.THANKS,
    "thankyou": Intent.THANKS,
    "goodbye": Intent.GOODBYE,
    "bye": Intent.GOODBYE,
}


class RasaUnavailable(Exception):
    """Rasa gave no usable answer; ``reason`` is the metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class RasaAnswer:
    """What Rasa said about one message: its replies and its reading of the text."""

    texts: tuple[str, ...]
    handoff_payload: bool
    intent: str | None
    confidence: float


class CircuitBreaker:
    """Open after ``failures`` failures in a row; once ``cooldown`` seconds have passed, let
    calls through again (one more failure opens it again at once)."""

    def __init__(
        self, failures: int, cooldown: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = failures
        self._cooldown = cooldown
        self._now = now
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def open(self) -> bool:
        return self._opened_at is not None and self._now() - self._opened_at < self._cooldown

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failed(self) -> bool:
        """Count a failure; True when this one opens the breaker."""
        self._failures += 1
        if self._failures >= self._limit and not self.open:
            self._opened_at = self._now()
            return True
        return False


class RasaAssistant:
    """Answers through a Rasa server; ``start()`` and ``close()`` bound its HTTP session."""

    does_io = True

    def __init__(
        self,
        url: str,
        fallback: Assistant,
        *,
        timeout: float = 2.0,
        handoff_intents: Iterable[str] = ("human_handoff",),
        threshold: float = 0.5,
        default_locale: str = "en",
        breaker: CircuitBreaker | None = None,
        on_fallback: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        self._url = url.rstrip("/")
        self._fallback = fallback
        self._timeout = timeout
        self._handoff_intents = frozenset(handoff_intents)
        self._threshold = threshold
        self._default_locale = default_locale
        self._breaker = breaker or CircuitBreaker(failures=3, cooldown=30.0)
        self._on_fallback = on_fallback
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(raise_for_status=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def respond(self, context: BotContext) -> BotReply:
        if self._breaker.open:
            return await self._fall_back(context, "circuit_open")
        try:
            answer = await self._ask(context)
        except RasaUnavailable as exc:
            if self._breaker.failed():
                log.warning("rasa_circuit_open", extra={"fields": {"url": self._url}})
            log.warning(
                "rasa_unavailable",
                extra={"fields": {"reason": exc.reason, "error": str(exc), "url": self._url}},
            )
            return await self._fall_back(context, exc.reason)
        self._breaker.succeeded()
        return self._reply(answer, context)

    async def _fall_back(self, context: BotContext, reason: str) -> BotReply:
        self._on_fallback(reason)
        return await self._fallback.respond(context)

    async def _ask(self, context: BotContext) -> RasaAnswer:
        if self._session is None:
            raise RuntimeError("RasaAssistant.start() was not awaited")
        message = {
            "sender": sender_id(context),
            "message": context.text,
            "metadata": {
                "channel": context.channel,
                "locale": context.locale,
                "conversation_id": context.conversation_id,
                "customer_id": context.customer_id,
            },
        }
        try:
            async with asyncio.timeout(self._timeout):
                # return_exceptions: both calls end (or are cancelled) here, none is left behind.
                results: tuple[Any, ...] = await asyncio.gather(
                    self._post("/webhooks/rest/webhook", message),
                    self._post("/model/parse", {"text": context.text}),
                    return_exceptions=True,
                )
        except TimeoutError:
            raise RasaUnavailable("timeout", f"no answer within {self._timeout:g} s") from None
        for result in results:
            if isinstance(result, RasaUnavailable):
                raise result
            if isinstance(result, aiohttp.ClientError | OSError):
                raise RasaUnavailable("connection", repr(result)) from result
            if isinstance(result, BaseException):
                raise result
        return read_answer(*results)

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        assert self._session is not None
        async with self._session.post(self._url + path, json=body) as resp:
            if resp.status != 200:
                raise RasaUnavailable(f"http_{resp.status // 100}xx", f"{path} {resp.status}")
            try:
                return await resp.json(content_type=None)
            except ValueError:
                raise RasaUnavailable("malformed", f"{path} did not answer JSON") from None

    def _reply(self, answer: RasaAnswer, context: BotContext) -> BotReply:
        locale = detect_language(context.text, default=context.locale or self._default_locale)
        text = "\n\n".join(answer.texts)
        confident = answer.intent is not None and answer.confidence >= self._threshold
        if answer.handoff_payload or (confident and answer.intent in self._handoff_intents):
            # The router writes its own notice (queue position, wait) in the customer's language.
            return BotReply(Intent.HANDOFF, answer.confidence, locale=locale)
        if not confident or answer.intent == NLU_FALLBACK:
            return BotReply(Intent.UNKNOWN, answer.confidence, locale=locale)
        smalltalk = SMALLTALK_INTENTS.get(answer.intent or "")
        if smalltalk is not None:
            return BotReply(
                smalltalk, answer.confidence, text or say(smalltalk.value, locale), locale
            )
        if not text:  # an intent the Rasa project has no response for
            return BotReply(Intent.UNKNOWN, answer.confidence, locale=locale)
        return BotReply(Intent.FAQ, answer.confidence, text, locale)


def sender_id(context: BotContext) -> str:
    """Rasa's conversation key: ours, else the customer's, else a one-off for a first message."""
    if context.conversation_id is not None:
        return f"conversation-{context.conversation_id}"
    if context.customer_id is not None:
        return f"customer-{context.customer_id}"
    return f"visitor-{uuid.uuid4().hex}"


def read_answer(replies: Any, parsed: Any) -> RasaAnswer:
    """Rasa's webhook replies (``[{"recipient_id", "text"} | {"recipient_id", "custom"}]``) and
    ``/model/parse`` result (``{"intent": {"name", "confidence"}, …}``), checked."""
    if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
        raise RasaUnavailable("malformed", "the webhook did not answer a list of messages")
    intent = parsed.get("intent") if isinstance(parsed, dict) else None
    if not isinstance(intent, dict):
        raise RasaUnavailable("malformed", "/model/parse answered no intent")
    name, confidence = intent.get("name"), intent.get("confidence", 0.0)
    if name is not None and not isinstance(name, str):
        raise RasaUnavailable("malformed", "/model/parse answered an intent name that is not text")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise RasaUnavailable("malformed", "/model/parse answered a confidence that is no number")
    texts = tuple(
        r["text"] for r in replies if isinstance(r.get("text"), str) and r["text"].strip()
    )
    handoff = any(
        isinstance(r.get("custom"), dict) and r["custom"].get("handoff") is True for r in replies
    )
    return RasaAnswer(texts, handoff, name or None, min(max(float(confidence), 0.0), 1.0))
