"""A small asyncio client for the chat protocol (docs/protocol.md), over ``websockets``.

It does what the protocol asks of every client: sends each message with a client_id and keeps it
until acknowledged, reconnects with back-off, says on reconnect the last seq it has per
conversation (``sync``), retries unacknowledged sends with the same client_id, fills gaps in seq,
and drops duplicates. ``history_page()`` reads a page of earlier messages (``history``). Tests
and bench/ use it; it is also a worked example for third parties.

    client = ChatClient("ws://127.0.0.1:8000", token=shopper_token)
    await client.connect()
    ack = await client.send("你好")
    msg = await client.next_message()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

log = logging.getLogger(__name__)

FATAL_CLOSE_CODES = {4003, 4401, 4403, 4404}


class ChatError(Exception):
    """The server answered a send (or the connection) with an error."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ChatClient:
    def __init__(self, base_url: str, *, token: str | None = None, session: str | None = None,
                 cookie_name: str = "sessionid", origin: str | None = None, auto_reconnect: bool = True,
                 on_message: Callable[[dict], None] | None = None):
        base = base_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        if token is not None:
            self.url = f"{base}/ws/chat?token={quote(token)}"
            self.headers: dict[str, str] = {}
        else:
            self.url = f"{base}/ws/desk"
            self.headers = {"Cookie": f"{cookie_name}={session}"} if session else {}
        self.origin = origin
        self.auto_reconnect = auto_reconnect
        self.on_message = on_message
        self.ws: ClientConnection | None = None
        self.welcome: dict | None = None
        self.history: dict[int, list[dict]] = {}  # conversation → messages in seq order, each once
        self.last_seq: dict[int, int] = {}
        self.frames: asyncio.Queue[dict] = asyncio.Queue()  # every non-message frame, for the caller
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()  # messages from others, in order
        self.close_code: int | None = None
        self.reconnects = 0
        self.live_frames = 0  # `message` frames received (as opposed to sync pages)
        self._unacked: dict[str, tuple[dict, asyncio.Future]] = {}  # insertion-ordered
        self._pending: dict[int, dict[int, dict]] = {}  # out-of-order messages awaiting a sync
        self._syncing: set[int] = set()
        self._history_lock = asyncio.Lock()
        self._history_waiter: asyncio.Future | None = None  # the answer to the one `history` request
        self._reader: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._welcomed: asyncio.Future | None = None
        self._closing = False
        self._counter = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:12]

    # --- connection ---------------------------------------------------------------------------
    async def connect(self, timeout: float = 10.0) -> dict:
        """Connect and wait for ``welcome``; raises ChatError('closed:<code>') if refused."""
        self._closing = False
        await asyncio.wait_for(self._open(), timeout)
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())
        return self.welcome

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._welcomed = loop.create_future()
        try:
            self.ws = await connect(self.url, additional_headers=self.headers, origin=self.origin,
                                    max_size=2**22, ping_interval=None, open_timeout=10)
        except InvalidStatus as exc:
            raise ChatError("refused", str(exc)) from exc
        try:
            first = await self.ws.recv()
        except ConnectionClosed:
            self.close_code = self.ws.close_code or 1006
            raise ChatError("closed", str(self.close_code)) from None
        frame = orjson.loads(first)
        if frame.get("type") != "welcome":
            raise ChatError("protocol", f"expected welcome, got {frame.get('type')}")
        self.close_code = None
        self._on_welcome(frame)

    async def _read_forever(self) -> None:
        while True:
            try:
                async for raw in self.ws:
                    self._on_frame(orjson.loads(raw))
            except ConnectionClosed:
                pass
            except Exception:  # noqa: BLE001 - a bug in a handler must not kill reconnects silently
                log.exception("chat client: frame handling failed")
            code = self.ws.close_code if self.ws is not None else None
            self.close_code = code if code is not None else 1006
            if self._closing or not self.auto_reconnect or self.close_code in FATAL_CLOSE_CODES:
                self._fail_unacked(ChatError("closed", f"connection closed ({self.close_code})"))
                return
            await self._reconnect()
            if self.ws is None:
                return

    async def _reconnect(self) -> None:
        delay = 0.05
        while not self._closing:
            try:
                await asyncio.wait_for(self._open(), 10)
                self.reconnects += 1
                return
            except ChatError as exc:
                if self.close_code in FATAL_CLOSE_CODES or exc.code == "refused":
                    self._fail_unacked(exc)
                    self.ws = None
                    return
            except (TimeoutError, OSError, ConnectionClosed):
                pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def drop(self) -> None:
        """Cut the connection abruptly, as a network failure would (tests)."""
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()

    # --- sending --------------------------------------------------------------------------------
    def new_client_id(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"

    async def send(self, body: str = "", *, conversation: int | None = None, kind: str = "text",
                   payload: dict | None = None, client_id: str | None = None, wait: bool = True):
        """Send a message; returns the ack (or, with wait=False, a Future of it). The message is
        kept and resent with the same client_id after a reconnect until it is acknowledged."""
        frame: dict[str, Any] = {"type": "send", "client_id": client_id or self.new_client_id(), "kind": kind,
                                 "body": body}
        if conversation is not None:
            frame["conversation"] = conversation
        if payload is not None:
            frame["payload"] = payload
        future = asyncio.get_running_loop().create_future()
        self._unacked[frame["client_id"]] = (frame, future)
        await self._send_frame(frame)
        return await future if wait else future

    async def send_raw(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def _send_frame(self, frame: dict) -> None:
        try:
            await self.ws.send(orjson.dumps(frame).decode())
        except (ConnectionClosed, AttributeError):
            pass  # resent after the reconnect

    async def request(self, frame: dict) -> None:
        await self._send_frame(frame)

    def unacked(self) -> int:
        return len(self._unacked)

    def _fail_unacked(self, exc: Exception) -> None:
        for _frame, future in self._unacked.values():
            if not future.done():
                future.set_exception(exc)
        self._unacked.clear()

    # --- receiving ------------------------------------------------------------------------------
    def _on_welcome(self, frame: dict) -> None:
        self.welcome = frame
        conv = frame.get("conversation")
        if conv is not None:
            self.last_seq.setdefault(conv, 0)
            self.history.setdefault(conv, [])
        loop = asyncio.get_running_loop()
        # Catch up on every conversation we know, then resend what was never acknowledged.
        for conv_id, last in self.last_seq.items():
            self._syncing.add(conv_id)
            loop.create_task(self._send_frame({"type": "sync", "conversation": conv_id, "after": last}))
        for frame_, _future in list(self._unacked.values()):
            loop.create_task(self._send_frame(frame_))

    def _on_frame(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "message":
            self.live_frames += 1
            self._accept(frame["message"], own=False)
        elif kind == "ack":
            self._on_ack(frame)
        elif kind == "messages":
            self._on_messages(frame)
        elif kind == "ping":
            asyncio.get_running_loop().create_task(self._send_frame({"type": "pong"}))
        elif kind == "error" and frame.get("client_id") in self._unacked:
            _f, future = self._unacked.pop(frame["client_id"])
            if not future.done():
                future.set_exception(ChatError(frame.get("code", "error"), frame.get("detail", "")))
        elif ((kind == "history" or (kind == "error" and "client_id" not in frame))
              and self._history_waiter is not None and not self._history_waiter.done()):
            self._history_waiter.set_result(frame)  # the server answers frames in the order sent
        else:
            self.frames.put_nowait(frame)

    def _on_ack(self, ack: dict) -> None:
        entry = self._unacked.pop(ack["client_id"], None)
        if entry is None:
            return
        sent, future = entry
        message = {"id": ack["id"], "conversation": ack["conversation"], "seq": ack["seq"],
                   "client_id": ack["client_id"], "sender_kind": "self", "kind": sent.get("kind", "text"),
                   "internal": sent.get("kind") == "note", "body": sent.get("body", ""),
                   "payload": sent.get("payload") or {}, "created_at": ack["created_at"]}
        self._accept(message, own=True)
        if not future.done():
            future.set_result(ack)

    def _accept(self, message: dict, *, own: bool) -> None:
        conv = message["conversation"]
        seq = message["seq"]
        if own and conv not in self.last_seq:
            # Our own ack is the first we hear of this conversation: whatever came before it is a
            # gap to fetch, like any other (its message frames may even arrive later).
            self.follow(conv)
        last = self.last_seq.get(conv, 0)
        if seq <= last:
            return  # duplicate
        if seq > last + 1 and conv in self.last_seq:
            # A gap: hold this one and fetch what is missing (shoppers' seqs also skip internal notes).
            self._pending.setdefault(conv, {})[seq] = message
            if conv not in self._syncing:
                self._syncing.add(conv)
                asyncio.get_running_loop().create_task(
                    self._send_frame({"type": "sync", "conversation": conv, "after": last}))
            return
        self._deliver(conv, message, own)

    def _deliver(self, conv: int, message: dict, own: bool) -> None:
        self.last_seq[conv] = message["seq"]
        self.history.setdefault(conv, []).append(message)
        if not own:
            self.inbox.put_nowait(message)
            if self.on_message is not None:
                self.on_message(message)

    def _on_messages(self, frame: dict) -> None:
        conv = frame["conversation"]
        for message in frame["messages"]:
            if message["seq"] > self.last_seq.get(conv, 0):
                own = message["client_id"] in self._unacked
                self._deliver(conv, message, own)
        self.last_seq[conv] = max(self.last_seq.get(conv, 0), frame["upto"])
        if frame.get("more"):
            asyncio.get_running_loop().create_task(
                self._send_frame({"type": "sync", "conversation": conv, "after": frame["upto"]}))
            return
        self._syncing.discard(conv)
        pending = self._pending.pop(conv, {})
        for seq in sorted(pending):
            self._accept(pending[seq], own=False)
        self.frames.put_nowait({"type": "synced", "conversation": conv, "upto": self.last_seq[conv]})

    # --- helpers for callers --------------------------------------------------------------------
    async def next_message(self, timeout: float = 10.0) -> dict:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def next_frame(self, type_: str | None = None, timeout: float = 10.0) -> dict:
        """The next non-message frame (of TYPE_ if given; others are skipped)."""
        async def wait() -> dict:
            while True:
                frame = await self.frames.get()
                if type_ is None or frame.get("type") == type_:
                    return frame
        return await asyncio.wait_for(wait(), timeout)

    async def sync(self, conversation: int, after: int | None = None, timeout: float = 10.0) -> None:
        """Fetch everything after AFTER (default: our last seq) and wait until caught up."""
        self.last_seq.setdefault(conversation, 0)
        self._syncing.add(conversation)
        await self._send_frame({"type": "sync", "conversation": conversation,
                                "after": self.last_seq[conversation] if after is None else after})

        async def wait() -> None:
            while conversation in self._syncing:
                await asyncio.sleep(0.005)
        await asyncio.wait_for(wait(), timeout)

    async def history_page(self, before: int | None = None, limit: int = 50, *, conversation: int | None = None,
                      timeout: float = 10.0) -> dict:
        """One page of earlier messages (the `history` frame): the LIMIT newest with seq < BEFORE,
        or the newest of all when BEFORE is None. Returns the answer frame (``messages`` in seq
        order, ``earlier``: whether older ones exist, ``upto`` for the newest page); raises
        ChatError with the error's code. A read only: ``history``/``last_seq`` (what ``sync`` and
        live messages build) are not touched. Calls are serialized, one request on the wire at a
        time; send no other request that may answer an error without a client_id meanwhile."""
        frame: dict[str, Any] = {"type": "history", "before": before, "limit": limit}
        if conversation is not None:
            frame["conversation"] = conversation
        async with self._history_lock:
            self._history_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._send_frame(frame)
                answer = await asyncio.wait_for(self._history_waiter, timeout)
            finally:
                self._history_waiter = None
        if answer.get("type") == "error":
            raise ChatError(answer.get("code", "error"), answer.get("detail", ""))
        return answer

    def follow(self, conversation: int) -> None:
        """Start tracking CONVERSATION (staff): gaps in it are filled, reconnects resync it."""
        self.last_seq.setdefault(conversation, 0)
        self.history.setdefault(conversation, [])
