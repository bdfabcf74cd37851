"""Scaled-out mode for real: PostgreSQL + Redis, two uvicorn processes serving one shop.

A shopper connected to one process and an agent to the other exchange messages (with a forced
disconnect in the middle); a third process with no hub (a task worker) posts a message through
``post_message_sync``. Nothing may be lost or doubled, on either side. Finally that worker
deactivates the agent, and the agent's sockets on both processes are closed with 4003. Runs against the
PostgreSQL and Redis on 127.0.0.1; skipped with the reason when either is absent.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from xiaoer.chat.client import ChatClient, ChatError
from xiaoer.chat.tests.chatkit import assert_exactly_once_on_wire, recording_client

PG_ADMIN = os.environ.get("XIAOER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("XIAOER_TEST_REDIS", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[3]


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)


def _skip_reason() -> str | None:
    try:
        _pg_admin().close()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL not reachable at {PG_ADMIN}: {exc.__class__.__name__}"
    try:
        import redis

        redis.Redis.from_url(REDIS, socket_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis not reachable at {REDIS}: {exc.__class__.__name__}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SETUP = """
import json, django
django.setup()
from django.test import Client
from django.utils import timezone
from xiaoer.chat.auth import make_shopper_token
from xiaoer.chat.models import Conversation
from xiaoer.customers.models import Customer
from xiaoer.testing import make_seat, make_shop, make_staff
shop = make_shop("twoproc")
agent = make_staff(shop)
seat = make_seat(shop, operator=agent)
customer = Customer.objects.create(shop=shop, visitor_id="v-two-proc")
conv = Conversation.objects.create(shop=shop, customer=customer, seat=seat, status="open",
                                   queued_at=timezone.now())
client = Client()
client.force_login(agent.user)
print(json.dumps({"token": make_shopper_token(shop, customer), "session": client.cookies["sessionid"].value,
                  "conversation": conv.pk, "staff": agent.pk}))
"""

WORKER = """
import sys, django
django.setup()
from xiaoer.chat import writer
writer.post_message_sync(int(sys.argv[1]), sender_kind="system", body="订单已发货（任务进程）",
                         client_id="worker-1")
"""

REVOKE = """
import sys, django
django.setup()
from xiaoer.accounts.models import Staff
staff = Staff.objects.get(pk=int(sys.argv[1]))
staff.is_active = False
staff.save()
"""


@pytest.fixture
def scaled_out(tmp_path):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    name = f"xiaoer_2p_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = dict(os.environ, DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{name}", REDIS_URL=REDIS,
               XIAOER_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="xiaoer.settings",
               CHAT_SHOPPER_RATE="100000", CHAT_SHOPPER_BURST="100000", PYTHONPATH=str(ROOT))
    procs: list[subprocess.Popen] = []
    try:
        subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                       check=True, timeout=180)
        out = subprocess.run([sys.executable, "-c", SETUP], env=env, cwd=ROOT, check=True, timeout=60,
                             capture_output=True, text=True).stdout
        data = json.loads(out.strip().splitlines()[-1])
        ports = [_free_port(), _free_port()]
        for port in ports:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "xiaoer.asgi:application", "--host", "127.0.0.1", "--port",
                 str(port), "--log-level", "warning", "--ws-ping-interval", "0"], env=env, cwd=ROOT))
        for port in ports:
            _wait_port(port)
        data["urls"] = [f"http://127.0.0.1:{p}" for p in ports]
        data["env"] = env
        yield data
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


async def test_shopper_on_one_process_agent_on_other(scaled_out):
    conv = scaled_out["conversation"]
    url_a, url_b = scaled_out["urls"]
    shopper = recording_client(url_a, token=scaled_out["token"])
    agent = recording_client(url_b, session=scaled_out["session"])
    await shopper.connect()
    await agent.connect()
    agent.follow(conv)
    pending = []
    for i in range(300):
        pending.append(await shopper.send(f"顾客 {i}", wait=False))
        pending.append(await agent.send(f"客服 {i}", conversation=conv, wait=False))
        if i == 150:
            await shopper.drop()
        if i % 50 == 0:
            await asyncio.sleep(0.01)  # let deliveries interleave with sends
    acks = await asyncio.wait_for(asyncio.gather(*pending), 60)
    assert shopper.reconnects >= 1
    # A process with no hub and no socket (a task worker) posts through Redis.
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", WORKER, str(conv)], env=scaled_out["env"],
                            cwd=ROOT, check=True, timeout=60)
    worker_msg = await _wait_for_body(shopper, "订单已发货（任务进程）")
    await _wait_for_body(agent, "订单已发货（任务进程）")
    expected = {a["client_id"] for a in acks} | {"sys:worker-1"}
    assert sorted(a["seq"] for a in acks) == list(range(1, 601)) and worker_msg["seq"] == 601
    for side in (shopper, agent):
        await side.sync(conv)
        history = side.history[conv]
        assert [m["seq"] for m in history] == list(range(1, 602)), "gap, duplicate or disorder"
        assert {m["client_id"] for m in history} == expected
    # The raw frames, before the client's filter: no process delivered a message twice (locally
    # and again through Redis). Each side's `message` frames all come from the other process
    # through the one Redis channel, so they also keep commit order; its own acks come from its
    # own process and may overtake them (the client's gap filling is for that).
    # The shopper's second connection may also get, locally, its own sends from the dropped first
    # connection that committed after the reconnect: those come from another source than the
    # agent's messages through Redis, so only the agent's stream (one source) is checked for order.
    live = {shopper: assert_exactly_once_on_wire(shopper, with_acks=False, ordered=False),
            agent: assert_exactly_once_on_wire(agent, with_acks=False)}
    # The agent got the shopper's messages live across processes, not only by sync.
    assert len(live[agent][conv]) >= 301
    await _revoke_across_processes(scaled_out, agent)
    await shopper.close()
    await agent.close()


async def _revoke_across_processes(scaled_out, agent: ChatClient) -> None:
    # Deactivated from a process with no hub (through Redis): the person's sockets on both
    # processes are closed with 4003, and reconnecting is refused.
    url_a, _url_b = scaled_out["urls"]
    tab_on_a = ChatClient(url_a, session=scaled_out["session"])
    await tab_on_a.connect()
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", REVOKE, str(scaled_out["staff"])],
                            env=scaled_out["env"], cwd=ROOT, check=True, timeout=60)
    deadline = time.monotonic() + 10
    while {agent.close_code, tab_on_a.close_code} != {4003} and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert agent.close_code == tab_on_a.close_code == 4003
    again = ChatClient(url_a, session=scaled_out["session"])
    with pytest.raises(ChatError):
        await again.connect()
    assert again.close_code == 4401
    await tab_on_a.close()


async def _wait_for_body(client: ChatClient, body: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for history in client.history.values():
            for m in history:
                if m["body"] == body:
                    return m
        await asyncio.sleep(0.02)
    raise AssertionError(f"{body!r} never arrived")
