"""The live chat server, one per test session for every test package (registered as a plugin by
the root conftest.py): uvicorn serving the whole ASGI app (pages, API, chat sockets) on a free
port, on the test database, from a thread of the test process. The hub, the writer and the test
share one process, so ``post_message_sync``/``publish_event`` called from a test reach the
sockets like they would from a view. Settings changed with pytest-django's ``settings`` fixture
are seen by the server (rate limits, heartbeat).

One server only: the writer and the hub are per process and bound to the loop that serves them;
a second server (a test module importing the fixture made pytest build another one) left the
first one's sockets with futures of the other loop ("unavailable", attached to a different loop).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ServerThread(threading.Thread):
    def __init__(self, port: int):
        super().__init__(name="live-chat-server", daemon=True)
        self.port = port
        self.server = None
        self.error: BaseException | None = None

    def run(self) -> None:
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from xiaoer.asgi import application

        config = uvicorn.Config(ASGIStaticFilesHandler(application), host="127.0.0.1", port=self.port,
                                lifespan="on", log_level="warning", ws_ping_interval=None)
        self.server = uvicorn.Server(config)
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # noqa: BLE001 - reported by the fixture
            self.error = exc


@pytest.fixture(scope="session")
def _chat_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        thread = _ServerThread(free_port())
        thread.start()
        deadline = time.monotonic() + 20
        while not (thread.server and thread.server.started):
            if thread.error or not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"live chat server did not start: {thread.error!r}")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{thread.port}"
        thread.server.should_exit = True
        thread.join(timeout=15)
        _close_asgiref_connection()


def _close_asgiref_connection() -> None:
    # Tests call the ORM through sync_to_async, whose one worker thread keeps its own connection;
    # PostgreSQL refuses to drop the test database while it stays open.
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture
def live_chat_server(transactional_db, _chat_server) -> str:
    """Base URL (http://127.0.0.1:PORT) of a real uvicorn serving the app on the test database."""
    return _chat_server
