"""`DATABASE_URL=sqlite:///path` is a supported way to run on SQLite: the same pragmas as the
default database (WAL, busy timeout, immediate transactions), so a burst of messages loses nothing
and the shopper session endpoint keeps answering while the chat writer is busy (issue 10, Broken 4).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from xiaoer.chat.client import ChatClient

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import django
django.setup()
from xiaoer.testing import make_seat, make_shop, make_staff
shop = make_shop("ownsqlite")
make_seat(shop, operator=make_staff(shop))
"""

SHOPPERS = 30
PER_SHOPPER = 10  # 300 messages in all


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_session(base: str) -> tuple[int, dict]:
    request = urllib.request.Request(base + "/s/ownsqlite/chat/session", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


@pytest.fixture
def own_sqlite_server(tmp_path):
    db = tmp_path / "own" / "chat.sqlite3"
    db.parent.mkdir()
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db}", XIAOER_DATA_DIR=str(tmp_path / "data"),
               DJANGO_SETTINGS_MODULE="xiaoer.settings", PYTHONPATH=str(ROOT), XIAOER_PORT=str(port),
               CHAT_SHOPPER_RATE="100000", CHAT_SHOPPER_BURST="100000", XIAOER_LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                   check=True, timeout=180)
    subprocess.run([sys.executable, "-c", SETUP], env=env, cwd=ROOT, check=True, timeout=60)
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "xiaoer.cli", "serve"], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("server did not start: " + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", db, tmp_path / "server.log"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def _shopper(base: str, statuses: list[int]) -> list[dict]:
    status, session = await asyncio.to_thread(_post_session, base)
    statuses.append(status)
    if status != 200:
        return []
    client = ChatClient(base, token=session["token"])
    await client.connect()
    try:
        pending = [await client.send(f"顾客消息 {i}", wait=False) for i in range(PER_SHOPPER)]
        return list(await asyncio.wait_for(asyncio.gather(*pending), 60))
    finally:
        await client.close()


async def test_burst_against_database_url_sqlite_loses_nothing(own_sqlite_server):
    base, db, server_log = own_sqlite_server
    statuses: list[int] = []
    results = await asyncio.gather(*(_shopper(base, statuses) for _ in range(SHOPPERS)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{errors[:3]}\n{server_log.read_text()[-3000:]}"
    assert statuses == [200] * SHOPPERS, server_log.read_text()[-3000:]
    acks = [a for r in results for a in r]
    assert len(acks) == SHOPPERS * PER_SHOPPER
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = conn.execute("SELECT COUNT(*) FROM chat_message WHERE sender_kind = 'shopper'").fetchone()[0]
    assert stored == SHOPPERS * PER_SHOPPER
    assert "database is locked" not in server_log.read_text()


@pytest.mark.django_db(transaction=True)
def test_writer_retries_a_batch_refused_with_database_is_locked(monkeypatch):
    """The SQLite path raises sqlite3's own OperationalError (raw cursor), which the retry must
    recognise: a batch that met a lock is written on the next attempt, not refused."""
    from xiaoer.chat import services, writer
    from xiaoer.chat.models import Message
    from xiaoer.testing import make_shop

    shop = make_shop()
    conv = services.start_shopper_session(shop, visitor_token=None, buyer_signature=None).conversation
    real_store = writer.store_batch
    calls = []

    def locked_once(cur, vendor, drafts):
        calls.append(len(drafts))
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real_store(cur, vendor, drafts)

    monkeypatch.setattr(writer, "store_batch", locked_once)
    draft = writer.Draft(conv.pk, shop.pk, "c-locked-1", "shopper", "text", False, None, None, "还在吗", {})
    result = writer._write([draft], {})
    assert calls == [1, 1]
    assert result.outcomes[0].error is None
    assert Message.objects.filter(conversation=conv, client_id="c-locked-1").count() == 1


@pytest.mark.parametrize("own_url", [False, True])
def test_database_and_data_dir_are_private(tmp_path, own_url):
    """The SQLite file holds password hashes and secrets: created 0600 (its -wal too), the data dir 0700."""
    data, db = tmp_path / "data", tmp_path / "own" / "x.sqlite3"
    env = dict(os.environ, XIAOER_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="xiaoer.settings",
               PYTHONPATH=str(ROOT))
    env.pop("DATABASE_URL", None)
    if own_url:
        env["DATABASE_URL"] = f"sqlite:///{db}"
    code = ("import django; django.setup(); from django.db import connection; "
            "c = connection.cursor(); c.execute('CREATE TABLE t (x int)'); c.execute('INSERT INTO t VALUES (1)')")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=60)
    path = db if own_url else data / "xiaoer.sqlite3"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (data / "huey.sqlite3").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
