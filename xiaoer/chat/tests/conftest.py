"""Fixtures of the chat tests. The live server (``live_chat_server``) is in live_server.py, a
plugin shared by every test package (one server per session)."""

from __future__ import annotations

import pytest


@pytest.fixture
def ws_url(live_chat_server) -> str:
    return live_chat_server.replace("http://", "ws://")


@pytest.fixture(autouse=True)
def _fresh_seat_names():
    """The writer caches seat names by id for a minute; a new test database reuses ids."""
    from xiaoer.chat import writer

    writer._seat_names.clear()
    yield
