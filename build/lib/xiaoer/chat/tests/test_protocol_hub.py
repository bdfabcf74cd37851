"""The hub's bounded send queues: a socket that cannot keep up is closed, never skipped."""

from __future__ import annotations

import asyncio

from xiaoer.chat import hub


async def test_slow_socket_is_closed_with_4008_not_skipped():
    sent: list[dict] = []
    never = asyncio.Event()

    async def stuck_send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "websocket.send":
            await never.wait()  # the peer stopped reading

    conn = hub.Conn(send=stuck_send, role="shopper", shop_id=1, conversation_id=1)
    conn.start(maxsize=3)
    for i in range(10):
        conn.push(f'{{"n": {i}}}')
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert conn.closed and conn.close_code == hub.CLOSE_SLOW
    assert sent[-1] == {"type": "websocket.close", "code": 4008}
    texts = [m["text"] for m in sent if m["type"] == "websocket.send"]
    assert texts == ['{"n": 0}']  # what was sent went in order; the rest waits for a resync


async def test_audience_is_scoped_to_the_shop_and_seat():
    h = hub.Hub()

    async def noop(message: dict) -> None:
        return None

    shopper = hub.Conn(send=noop, role="shopper", shop_id=1, conversation_id=10)
    agent = hub.Conn(send=noop, role="staff", shop_id=1, staff_id=5, seat_ids=frozenset({7}))
    other_agent = hub.Conn(send=noop, role="staff", shop_id=1, staff_id=6, seat_ids=frozenset({8}))
    boss = hub.Conn(send=noop, role="staff", shop_id=1, staff_id=9, supervisor=True)
    stranger = hub.Conn(send=noop, role="staff", shop_id=2, staff_id=11, supervisor=True, seat_ids=frozenset({7}))
    for c in (shopper, agent, other_agent, boss, stranger):
        h.register(c)
    assert h.audience(1, 10, 7, hub.TO_CONV_STAFF) >= {agent, boss}
    assert other_agent not in h.audience(1, 10, 7, hub.TO_CONV_STAFF)
    assert h.audience(1, 10, None, hub.TO_CONV_STAFF) == {agent, other_agent, boss}
    assert h.audience(1, 10, 7, hub.TO_SHOPPER) == {shopper}
    h.unregister(agent)
    assert agent not in h.audience(1, 10, 7, hub.TO_CONV_STAFF | hub.TO_SHOP_STAFF)
