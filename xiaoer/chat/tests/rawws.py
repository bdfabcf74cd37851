"""A raw WebSocket for protocol tests: every frame the server sent, unfiltered and in order
(the shipped ChatClient hides duplicates and reorders through sync; these tests must not)."""

from __future__ import annotations

import asyncio

import orjson
from websockets.asyncio.client import connect


class RawSocket:
    def __init__(self, ws):
        self.ws = ws
        self.frames: list[dict] = []

    @classmethod
    async def open(cls, server: str, *, token: str | None = None, session: str | None = None,
                   origin: str | None = None) -> RawSocket:
        base = server.replace("http://", "ws://")
        if token is not None:
            ws = await connect(f"{base}/ws/chat?token={token}", ping_interval=None, origin=origin)
        else:
            ws = await connect(f"{base}/ws/desk", ping_interval=None, origin=origin,
                               additional_headers={"Cookie": f"sessionid={session}"} if session else {})
        sock = cls(ws)
        return sock

    async def send(self, frame: dict) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 10.0) -> dict:
        frame = orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def until(self, pred, timeout: float = 10.0) -> dict:
        """Read frames (keeping all of them) until one satisfies PRED; return it."""
        async def loop() -> dict:
            while True:
                frame = await self.recv(timeout)
                if pred(frame):
                    return frame
        return await asyncio.wait_for(loop(), timeout)

    async def quiet(self, seconds: float = 0.3) -> list[dict]:
        """Every frame arriving within SECONDS (to check that nothing more comes)."""
        got = []
        try:
            while True:
                got.append(await self.recv(seconds))
        except TimeoutError:
            return got

    async def close(self) -> None:
        await self.ws.close()
