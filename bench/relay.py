"""A bare WebSocket relay that stores nothing: the yardstick of bench/chat_bench.py.

Plain ASGI under uvicorn, speaking the same frames as xiaoer's chat (send → ack to the sender,
``message`` to the peer) so the load client is identical; sockets pair up by ``?pair=N``
(``/ws/chat`` is the shopper side, ``/ws/desk`` the agent side). No auth, no database, no hub:
just parse, answer, forward.

    .venv/bin/python -m uvicorn bench.relay:app --port 8765
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from urllib.parse import parse_qs

import orjson

_peers: dict[tuple[str, str], object] = {}  # (pair, side) → send callable
_ids = itertools.count(1)
_seqs: dict[str, int] = {}


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    pair = (parse_qs(scope["query_string"].decode()).get("pair") or ["0"])[0]
    side = "shopper" if scope["path"].startswith("/ws/chat") else "agent"
    other = "agent" if side == "shopper" else "shopper"
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": orjson.dumps({"type": "welcome", "role": side}).decode()})
    _peers[(pair, side)] = send
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            frame = orjson.loads(message.get("text") or message.get("bytes"))
            if frame.get("type") != "send":
                continue
            seq = _seqs[pair] = _seqs.get(pair, 0) + 1
            now = datetime.now(UTC).isoformat()
            msg = {"id": next(_ids), "conversation": int(pair), "seq": seq, "client_id": frame["client_id"],
                   "sender_kind": side, "kind": "text", "internal": False, "body": frame.get("body", ""),
                   "payload": {}, "seat": None, "created_at": now}
            await send({"type": "websocket.send", "text": orjson.dumps(
                {"type": "ack", "client_id": frame["client_id"], "conversation": int(pair), "id": msg["id"],
                 "seq": seq, "created_at": now}).decode()})
            peer = _peers.get((pair, other))
            if peer is not None:
                await peer({"type": "websocket.send", "text": orjson.dumps({"type": "message", "message": msg}).decode()})
    finally:
        if _peers.get((pair, side)) is send:
            del _peers[(pair, side)]
