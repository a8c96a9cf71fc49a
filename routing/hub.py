"""Event fan-out to open sockets: in-process, or through Redis pub/sub across processes.

Topics: ``customer:<channel>:<address>`` for a customer's open chat sockets, ``console`` for
agent consoles. Events are small JSON objects; the database stays the source of truth, so a
missed event costs a refetch, never data.

Pub/sub drops whatever is published while a subscriber is cut off (a Redis restart, a network
blip), and a publish that fails never reaches anyone. So whenever the fan-out may have lost
events, every subscription gets a ``resync`` marker in its stream (in order, after what it
already had): the socket behind it then catches up from the database. That happens when this
process's subscription to Redis is back (confirmed by Redis, so nothing published after the
catch-up's read is lost), when a publish from this process failed (once Redis takes a publish
again, a ``resync`` goes to every process), and when a slow socket's queue overflowed.
"""

from __future__ import annotations

import asyncio
import contextlib
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
RESYNC: dict[str, Any] = {"type": "resync"}  # the marker: events may be missing before this


class LiveSocket(Protocol):
    async def close(self, *, code: int, message: bytes) -> bool: ...


def customer_topic(channel: str, address: str) -> str:
    return f"customer:{channel}:{address}"


class Subscription:
    def __init__(self, hub: Hub, topic: str) -> None:
        self._hub = hub
        self.topic = topic
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._resync_queued = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            event = await self.queue.get()
            if event is RESYNC:
                self._resync_queued = False
            yield event

    async def close(self) -> None:
        await self._hub._unsubscribe(self)

    def put(self, event: dict[str, Any]) -> None:
        """Queue an event; a subscriber too far behind drops its backlog and catches up."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A socket that stopped reading must not stall everyone nor grow without bound.
            log.warning("hub_subscriber_overflow", extra={"fields": {"topic": self.topic}})
            while not self.queue.empty():
                self.queue.get_nowait()
            self._resync_queued = False
            self.resync()
            self.queue.put_nowait(event)

    def resync(self) -> None:
        """Mark the stream as possibly incomplete here (one marker at a time is enough)."""
        if self._resync_queued:
            return
        self._resync_queued = True
        if self.queue.full():
            self.queue.get_nowait()  # the catch-up at the marker covers the event it replaces
        self.queue.put_nowait(RESYNC)

    async def pump(
        self,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        catch_up: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Pass every event to ``send`` until the peer is gone. At a resync marker, ``catch_up``
        runs (reading what was missed from the database); without one, the marker itself is
        sent, for a client that refetches what it shows."""
        async for event in self:
            try:
                if event is RESYNC and catch_up is not None:
                    await catch_up()
                else:
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

    async def health(self) -> dict[str, str]:
        """The state of each dependency of the fan-out ("ok" or what is wrong); none here."""
        return {}

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        """Hand an event to the subscribers; never raises for the wire's sake (a lost event is
        made good by a resync, see the module docstring)."""
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

    def resync_all(self) -> None:
        """Every subscription may have missed events: each catches up."""
        count = 0
        for subs in self._subs.values():
            for sub in subs:
                sub.resync()
                count += 1
        log.info("hub_resync", extra={"fields": {"subscriptions": count}})

    def _deliver(self, topic: str, event: dict[str, Any]) -> None:
        for sub in list(self._subs.get(topic, ())):
            sub.put(event)


STOP_TIMEOUT = 5.0
RECONNECT_SECONDS = 1.0  # between attempts to subscribe again while Redis is away
REDIS_TIMEOUT = 5.0  # connecting, or one command; a publish never hangs the outbox longer
HEALTH_TIMEOUT = 1.0  # /healthz's ping
HEALTH_CHECK_SECONDS = 15  # an idle subscription pings Redis this often: a silent drop shows
RESYNC_TOPIC = "hub:resync"  # a process that lost publishes asks every process to catch up


class RedisHub(Hub):
    """Publishes through Redis so a socket held by any process receives the event."""

    def __init__(self, url: str, channel: str = "switchboard") -> None:
        super().__init__()
        self._url = url
        # Every Switchboard on one Redis that shares this name hears the others' events.
        self.CHANNEL_PREFIX = f"{channel}:"
        self._redis: Any = None  # publishes and pings (redis-py retries a dropped connection)
        self._listener: Any = None  # the subscription's own client, which never reconnects
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._problem: str | None = None  # why the subscription is down, while it is
        self._lost_publishes = False  # a publish failed since the last resync broadcast
        self._next_broadcast = 0.0  # loop time of the next attempt to broadcast a resync

    async def start(self) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        timeouts = {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT}
        self._redis = redis.from_url(self._url, **timeouts)
        # redis-py would reconnect a dead subscription and subscribe again without telling,
        # hiding the gap in between: without retries every loss reaches _read, which resyncs.
        self._listener = redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=HEALTH_CHECK_SECONDS,
            **timeouts,
        )
        await self._redis.ping()  # a wrong URL stops start-up rather than degrading quietly
        self._pubsub = await self._subscribe()
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
            await _close_quietly(self._pubsub)
        for client in (self._listener, self._redis):
            if client is not None:
                await client.aclose()

    async def health(self) -> dict[str, str]:
        if self._problem is not None:
            return {"redis": f"unavailable: {self._problem}"}
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await self._redis.ping()
        except Exception as exc:  # any failure is the answer, not an error of /healthz
            return {"redis": f"unavailable: {_describe(exc)}"}
        return {"redis": "ok"}

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        try:
            await self._redis.publish(self.CHANNEL_PREFIX + topic, json.dumps(event))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The event is lost; what it announced is in the database. Once Redis takes a
            # publish again, the reader asks every process to resync.
            self._lost_publishes = True
            log.warning(
                "redis_hub_publish_failed",
                extra={"fields": {"topic": topic.split(":", 1)[0], "error": _describe(exc)}},
            )

    async def _subscribe(self) -> Any:
        """A new subscription, returned once Redis confirms it: from then on nothing published
        is missed."""
        pubsub = self._listener.pubsub()
        try:
            await pubsub.psubscribe(self.CHANNEL_PREFIX + "*")
            async with asyncio.timeout(REDIS_TIMEOUT):
                while True:
                    message = await pubsub.get_message(timeout=REDIS_TIMEOUT)
                    if message and message.get("type") == "psubscribe":
                        return pubsub
        except BaseException:
            await _close_quietly(pubsub)
            raise

    async def _read(self) -> None:
        while True:
            try:
                if self._pubsub is None:
                    self._pubsub = await self._subscribe()
                    self._problem = None
                    log.info("redis_hub_reconnected")
                    self.resync_all()  # whatever was published while we were away
                await self._listen(self._pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._problem is None:
                    log.warning(
                        "redis_hub_disconnected", extra={"fields": {"error": _describe(exc)}}
                    )
                self._problem = _describe(exc)
                if self._pubsub is not None:
                    await _close_quietly(self._pubsub)
                    self._pubsub = None
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self, pubsub: Any) -> None:
        while True:
            if self._lost_publishes and asyncio.get_running_loop().time() >= self._next_broadcast:
                await self._broadcast_resync()
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if not message or message.get("type") != "pmessage":
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            topic = channel[len(self.CHANNEL_PREFIX) :]
            if topic == RESYNC_TOPIC:
                self.resync_all()
            elif topic in self._subs:
                self._deliver(topic, json.loads(message["data"]))

    async def _broadcast_resync(self) -> None:
        """Every process's sockets catch up on what this process failed to publish."""
        self._lost_publishes = False  # a publish failing from now on asks again
        try:
            await self._redis.publish(self.CHANNEL_PREFIX + RESYNC_TOPIC, json.dumps(RESYNC))
        except asyncio.CancelledError:
            raise
        except Exception:  # still away for publishers: try again in a moment
            self._lost_publishes = True
            self._next_broadcast = asyncio.get_running_loop().time() + RECONNECT_SECONDS


def _describe(exc: BaseException) -> str:
    return type(exc).__name__


async def _close_quietly(pubsub: Any) -> None:
    """Close a subscription whose connection may already be dead."""
    with contextlib.suppress(Exception):
        await pubsub.aclose()
