"""One ASGI app: chat WebSockets on the lean path, everything else to Django.

The chat socket handler is plain ASGI (docs/design.md "The chat hot path"): no Channels, no ORM or
thread hop per frame. Lifespan starts and stops the group-commit writer and the hub.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaoer.settings")

import django  # noqa: E402

django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402

from xiaoer.chat import runtime  # noqa: E402
from xiaoer.chat.socket import chat_socket  # noqa: E402

django_app = get_asgi_application()


async def application(scope, receive, send) -> None:
    kind = scope["type"]
    if kind == "websocket":
        await chat_socket(scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(receive, send)
    else:
        await django_app(scope, receive, send)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await runtime.startup()
            except Exception as exc:  # noqa: BLE001 - reported to the server, which exits
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await runtime.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
