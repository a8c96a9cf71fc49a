"""Event fan-out to open sockets: in-process, or through Redis pub/sub across processes.

Topics: ``customer:<channel>:<address>`` for a customer's open chat sockets, ``console`` for
agent consoles. Events are small JSON objects; the database stays the source of truth, so a
missed event costs a refetch, never data.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol
from weakref import WeakSet

log = logging.getLogger("switchboard.hub")
CONSOLE = "console"
QUEUE_SIZE = 1000
GOING_AWAY = 1001  # WebSocket close code: the server is going down; reconnect


class LiveSocket(Protocol):
    async def close(self, *, code: int, message: bytes) -> bool: ...


def customer_topic(channel: str, address: str) -> str:
    return f"customer:{channel}:{address}"


class Subscription:
    def __init__(self, hub: Hub, topic: str) -> None:
        self._hub = hub
        self.topic = topic
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.queue.get()

    async def close(self) -> None:
        await self._hub._unsubscribe(self)

    async def pump(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Pass every event to ``send`` until the peer is gone."""
        async for event in self:
            try:
                await send(event)
            except (ConnectionResetError, RuntimeError):  # closing or closed socket
                return


class Hub:
    """In-process hub; the base for the Redis one, which only adds the wire between processes."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._sockets: WeakSet[LiveSocket] = WeakSet()

    def track(self, socket: LiveSocket) -> None:
        """A chat or console socket to close when the server shuts down."""
        self._sockets.add(socket)

    async def close_sockets(self) -> None:
        """Close every open socket with "going away" (browsers reconnect, to another process
        if there is one), so their handlers end as after a hang-up, not cut off mid-write."""
        await asyncio.gather(  # a socket that fails to close is going anyway
            *(ws.close(code=GOING_AWAY, message=b"server shutting down") for ws in self._sockets),
            return_exceptions=True,
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        self._deliver(topic, event)

    async def subscribe(self, topic: str) -> Subscription:
        sub = Subscription(self, topic)
        self._subs[topic].add(sub)
        return sub

    async def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.topic]

    def listeners(self, topic: str) -> int:
        return len(self._subs.get(topic, ()))

    def _deliver(self, topic: str, event: dict[str, Any]) -> None:
        for sub in list(self._subs.get(topic, ())):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A socket that stopped reading must not stall everyone; it refetches on resume.
                log.warning("hub_subscriber_overflow", extra={"fields": {"topic": topic}})


STOP_TIMEOUT = 5.0


class RedisHub(Hub):
    """Publishes through Redis so a socket held by any process receives the event."""

    def __init__(self, url: str, channel: str = "switchboard") -> None:
        super().__init__()
        self._url = url
        # Every Switchboard on one Redis that shares this name hears the others' events.
        self.CHANNEL_PREFIX = f"{channel}:"
        self._redis: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(self._url)
        await self._redis.ping()
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(self.CHANNEL_PREFIX + "*")
        self._reader = asyncio.create_task(self._read(), name="redis-hub-reader")

    async def stop(self) -> None:
        if self._reader:
            self._reader.cancel()
            # redis-py's get_message can swallow a cancellation that lands while it reads (seen
            # as a rare shutdown hang): wait a bounded time, then close the connection under it.
            await asyncio.wait({self._reader}, timeout=STOP_TIMEOUT)
            if not self._reader.done():
                log.warning("redis_hub_reader_did_not_stop")
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        await self._redis.publish(self.CHANNEL_PREFIX + topic, json.dumps(event))

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis_hub_read_failed")
                await asyncio.sleep(1.0)
                continue
            if not message or message.get("type") != "pmessage":
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            topic = channel[len(self.CHANNEL_PREFIX) :]
            if topic in self._subs:
                self._deliver(topic, json.loads(message["data"]))
