"""Frame building and the small value rules shared by the writer, the hub and the socket.

Frames are JSON objects (orjson), one per WebSocket text frame; docs/protocol.md is the contract.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

MAX_BODY = 5000
MAX_CLIENT_ID = 64
MAX_PAYLOAD_BYTES = 4000
MAX_FRAME_CHARS = 64 * 1024
PREVIEW_CHARS = 200
SYNC_PAGE = 200
HISTORY_PAGE = 50  # a `history` frame's default limit (at most SYNC_PAGE)

SHOPPER_KINDS = frozenset({"text", "image", "card"})
STAFF_KINDS = frozenset({"text", "image", "card", "note"})
ALL_KINDS = frozenset({"text", "image", "card", "note", "event"})
SENDER_KINDS = frozenset({"shopper", "agent", "robot", "system"})


# A seat's greeting (docs/decisions/120): "sys:greet:<conversation>", in the server's own client-id
# namespace, so no client can make its message pass for one. A greeting is not an answer: the
# shopper's wait (已等) goes on, and the robot learns nothing from it.
GREETING_CLIENT_ID = "sys:greet:"


def is_greeting(client_id: str | None) -> bool:
    return bool(client_id) and client_id.startswith(GREETING_CLIENT_ID)


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def iso(value: datetime | str | None) -> str | None:
    """ISO 8601 in UTC with microseconds and a Z, the same for a fresh row and a re-read one."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.endswith("Z"):
            return value  # already ours
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def preview(kind: str, body: str) -> str:
    """Conversation-list preview of a message (never of an internal one)."""
    if kind == "image":
        return "[图片]"
    if kind == "card" and not body.strip():
        return "[卡片]"
    return body[:PREVIEW_CHARS]


def message_dict(*, id: int, conversation: int, shop: int, seq: int, client_id: str, sender_kind: str,
                 kind: str, internal: bool, body: str, payload: Any, seat: dict | None,
                 created_at: Any) -> dict:
    if isinstance(payload, (str, bytes)):
        payload = orjson.loads(payload) if payload else {}
    return {
        "id": id, "conversation": conversation, "shop": shop, "seq": seq, "client_id": client_id,
        "sender_kind": sender_kind, "kind": kind, "internal": bool(internal), "body": body,
        "payload": payload or {}, "seat": seat, "created_at": iso(created_at),
    }


def ack_frame(message: dict) -> str:
    return dumps({"type": "ack", "client_id": message["client_id"], "conversation": message["conversation"],
                  "id": message["id"], "seq": message["seq"], "created_at": message["created_at"]})


def message_frame(message: dict) -> str:
    return dumps({"type": "message", "message": message})


def error_frame(code: str, detail: str, client_id: str | None = None) -> str:
    frame = {"type": "error", "code": code, "detail": detail}
    if client_id is not None:
        frame["client_id"] = client_id
    return dumps(frame)


class FrameError(Exception):
    """Bad input in a client frame: answered with an error frame, the socket stays up."""

    def __init__(self, code: str, detail: str, client_id: str | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id


def check_send(frame: dict, *, staff: bool) -> tuple[str, str, str, dict]:
    """Validate a ``send`` frame → (client_id, kind, body, payload); raise FrameError."""
    client_id = frame.get("client_id")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID:
        # Echo a string id, whatever its length: the client finds the send it refused.
        raise FrameError("invalid", "client_id must be a string of 1-64 characters",
                         client_id if isinstance(client_id, str) else None)
    if client_id.startswith("sys:"):
        raise FrameError("invalid", "client_id may not start with sys:", client_id)
    kind = frame.get("kind", "text")
    allowed = STAFF_KINDS if staff else SHOPPER_KINDS
    if kind not in allowed:
        raise FrameError("invalid", f"kind must be one of {sorted(allowed)}", client_id)
    body = frame.get("body", "")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise FrameError("invalid", "body must be a string", client_id)
    if len(body) > MAX_BODY:
        raise FrameError("too_long", f"message longer than {MAX_BODY} characters", client_id)
    payload = frame.get("payload") or {}
    if not isinstance(payload, dict):
        raise FrameError("invalid", "payload must be an object", client_id)
    if len(orjson.dumps(payload)) > MAX_PAYLOAD_BYTES:
        raise FrameError("too_long", f"payload larger than {MAX_PAYLOAD_BYTES} bytes", client_id)
    if kind in ("text", "note") and not body.strip():
        raise FrameError("empty", "message is empty", client_id)
    if kind == "image":
        token = payload.get("attachment")
        if not isinstance(token, str) or not 1 <= len(token) <= 40:
            raise FrameError("invalid", "image needs payload.attachment (an upload token)", client_id)
        payload = {"attachment": token}
    if kind == "card" and not payload and not body.strip():
        raise FrameError("empty", "card is empty", client_id)
    return client_id, kind, body, payload
