"""Redis bridge between app processes (REDIS_URL set): one pub/sub connection per process.

Each process publishes the hub items of a committed batch as one Redis message, in commit order,
and delivers the items other processes publish to its own sockets. Redis only wakes sockets up:
if the subscription drops, messages published meanwhile are not replayed, so after
resubscribing the process closes its sockets with 1012 and clients reconnect and ``sync`` from
the database — nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid

import orjson
import redis
import redis.asyncio as aioredis
from django.conf import settings

log = logging.getLogger(__name__)

ORIGIN = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def channel_name() -> str:
    """One channel per deployment: pub/sub ignores Redis database numbers, so name the database."""
    db = settings.DATABASES["default"]
    return f"xiaoer:hub:{db.get('HOST') or ''}:{db.get('NAME')}"


class RedisBridge:
    def __init__(self, url: str, on_items) -> None:
        self.url = url
        self.on_items = on_items
        self.channel = channel_name()
        self.client: aioredis.Redis | None = None
        self.outbox: asyncio.Queue | None = None
        self.tasks: list[asyncio.Task] = []
        self.subscribed = False
        self.last_error = ""

    async def start(self) -> None:
        self.client = aioredis.from_url(self.url, socket_keepalive=True, health_check_interval=30)
        self.outbox = asyncio.Queue()
        ready = asyncio.get_running_loop().create_future()
        self.tasks = [asyncio.create_task(self._listen(ready)), asyncio.create_task(self._publisher())]
        await asyncio.wait_for(ready, timeout=10)

    async def stop(self) -> None:
        deadline = asyncio.get_running_loop().time() + 5
        while self.outbox is not None and not self.outbox.empty() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self.client is not None:
            await self.client.aclose()

    def publish(self, items: list[list]) -> None:
        """Queue ITEMS for the other processes (loop thread; sent in order by one task)."""
        if self.outbox is not None:
            self.outbox.put_nowait(orjson.dumps({"o": ORIGIN, "i": items}))

    async def _publisher(self) -> None:
        while True:
            data = await self.outbox.get()
            for attempt in range(5):
                try:
                    await self.client.publish(self.channel, data)
                    break
                except (redis.RedisError, OSError) as exc:
                    self.last_error = f"publish: {exc.__class__.__name__}"
                    log.warning("redis publish failed (%s), retrying", exc)
                    await asyncio.sleep(0.1 * (attempt + 1))
            else:
                log.error("redis publish gave up; remote sockets will catch up by sync")

    async def _listen(self, ready: asyncio.Future) -> None:
        dropped = False
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed = True
                self.last_error = ""
                if not ready.done():
                    ready.set_result(None)
                if dropped:
                    # We may have missed wake-ups while disconnected: make every client resync.
                    from xiaoer.chat import hub

                    hub.HUB.close_all(hub.CLOSE_RESYNC)
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                    if msg is None or msg.get("type") != "message":
                        continue
                    try:
                        envelope = orjson.loads(msg["data"])
                    except orjson.JSONDecodeError:
                        continue
                    if envelope.get("o") != ORIGIN:
                        self.on_items(envelope.get("i") or [])
            except asyncio.CancelledError:
                await _quiet_close(pubsub)
                raise
            except (redis.RedisError, OSError) as exc:
                self.subscribed = False
                self.last_error = f"subscribe: {exc.__class__.__name__}"
                dropped = True
                log.warning("redis subscription lost (%s); reconnecting", exc)
                await _quiet_close(pubsub)
                await asyncio.sleep(0.5)


async def _quiet_close(pubsub) -> None:
    try:
        await pubsub.aclose()
    except Exception:  # noqa: BLE001
        pass


_sync_client: redis.Redis | None = None
_sync_lock = threading.Lock()


def _client() -> redis.Redis:
    global _sync_client
    with _sync_lock:
        if _sync_client is None:
            _sync_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        return _sync_client


def publish_sync(items: list[list]) -> None:
    """Publish from a process without a running hub (a task worker, a management command)."""
    _client().publish(channel_name(), orjson.dumps({"o": ORIGIN, "i": items}))


def health() -> str:
    from xiaoer.chat import hub

    bridge = hub.HUB.bridge
    if bridge is not None and not bridge.subscribed:
        return f"error: redis {bridge.last_error or 'not subscribed'}"
    try:
        _client().ping()
    except (redis.RedisError, OSError) as exc:
        return f"error: redis {exc.__class__.__name__}"
    return "ok"
