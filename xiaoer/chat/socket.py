"""PLACEHOLDER — plain ASGI chat WebSocket handler."""


async def chat_socket(scope, receive, send) -> None:
    await send({"type": "websocket.close", "code": 1011})
