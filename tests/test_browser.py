"""Real browser (Playwright + Debian's Chromium): a shopper page and agent pages exchange text, an
image, a transfer, and an XSS payload that must show as plain text.

Runs by default when /usr/bin/chromium exists; skipped with the reason otherwise.
"""

from __future__ import annotations

import io
import os
import re

import pytest
from PIL import Image

from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]
XSS = '<img src=x onerror=alert(1)><script>alert("x")</script>'
TIMEOUT = 15_000


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself
    # (factories, database teardown) are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def shop_world(live_chat_server):
    shop = make_shop(name="小二的店")
    lina = make_staff(shop, display_name="李娜")
    qiang = make_staff(shop, display_name="王强")
    make_seat(shop, "小美", operator=lina)
    ajie = make_seat(shop, "阿杰", operator=qiang, online=False)
    return {"base": live_chat_server, "shop": shop, "lina": lina, "qiang": qiang, "ajie": ajie}


def new_page(browser, dialogs: list, **kwargs):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **kwargs)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return page


def login(page, base: str, staff) -> None:
    page.goto(f"{base}/desk/login")
    page.fill("input[name=username]", staff.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/desk$"))
    page.wait_for_selector('#conn-state[data-state="open"]')


def png_file(tmp_path, color) -> str:
    path = tmp_path / f"photo-{color[0]}.png"
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return str(path)


def send(page, text: str) -> None:
    page.fill("#composer-text", text)
    page.press("#composer-text", "Enter")


def last_bubble_text(page, selector: str) -> str:
    return page.locator(selector).last.text_content()


def test_shopper_and_agents_exchange_text_image_transfer_and_xss(browser, shop_world, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    base = shop_world["base"]
    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    login(agent, base, shop_world["lina"])

    shopper.goto(f"{base}/s/{shop_world['shop'].slug}/chat")
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")

    # text: shopper -> agent (the list updates live; the agent opens the conversation)
    send(shopper, "你好，这件有现货吗？")
    expect(shopper.locator("#seat-line")).to_contain_text("小美")  # routed on the first message
    assert "李娜" not in shopper.content()  # the shopper sees the seat, never the person
    conv_row = agent.locator(".conv").filter(has_text="你好，这件有现货吗？")
    expect(conv_row).to_be_visible()
    conv_row.click()
    expect(agent.locator("#messages .msg .bubble").filter(has_text="你好，这件有现货吗？")).to_be_visible()

    # text: agent -> shopper, shown with the seat's name
    send(agent, "亲，有现货的，今天下单今天发～")
    expect(shopper.locator(".msg .bubble").filter(has_text="今天下单今天发")).to_be_visible()
    expect(shopper.locator(".msg").filter(has_text="今天下单今天发").locator(".who")).to_contain_text("小美")

    # XSS both ways: exactly the typed characters, no element, no dialog
    send(shopper, XSS)
    agent_bubble = agent.locator("#messages .msg:not(.mine) .bubble").filter(has_text="onerror")
    expect(agent_bubble).to_have_count(1)
    assert agent_bubble.text_content() == XSS
    assert agent_bubble.locator("img, script").count() == 0
    expect(agent.locator(".conv.active .conv-preview")).to_have_text(XSS)
    send(agent, XSS)
    shopper_bubble = shopper.locator(".msg.mine .bubble, .msg:not(.mine) .bubble").filter(has_text="onerror")
    expect(shopper_bubble).to_have_count(2)
    assert all(t == XSS for t in shopper_bubble.all_text_contents())
    assert shopper.locator(".messages img[src='x']").count() == 0

    # images both ways, checked by the browser actually decoding them
    shopper.set_input_files("#image-input", png_file(tmp_path, (255, 80, 0)))
    agent_img = agent.locator("#messages .msg:not(.mine) .bubble img")
    expect(agent_img).to_have_count(1)
    agent.wait_for_function("() => { const i = document.querySelector('#messages .msg:not(.mine) .bubble img');"
                            " return i && i.complete && i.naturalWidth === 64; }")
    agent.set_input_files("#image-input", png_file(tmp_path, (0, 120, 255)))
    shopper.wait_for_function("() => [...document.querySelectorAll('.msg:not(.mine) .bubble img')]"
                              ".some(i => i.complete && i.naturalWidth === 64)")

    # transfer with a note only staff see
    agent.click("#btn-transfer")
    agent.select_option("#transfer-seat", value=str(shop_world["ajie"].pk))
    agent.fill("#transfer-note", "顾客想要退货，请阿杰跟进")
    agent.click("#transfer-ok")
    expect(agent.locator("#chat-sub")).to_contain_text("阿杰")
    expect(agent.locator("#messages .msg.event")).to_contain_text("顾客想要退货，请阿杰跟进")

    colleague = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(colleague, base, shop_world["qiang"])
    row = colleague.locator(".conv")
    expect(row).to_have_count(1)  # in 阿杰's "mine" list
    expect(row).to_contain_text("[图片]")
    row.click()
    expect(colleague.locator("#messages .msg.event")).to_contain_text("请阿杰跟进")
    expect(colleague.locator("#messages .bubble").filter(has_text="你好，这件有现货吗？")).to_be_visible()
    send(colleague, "您好，我是阿杰，退货的事我来帮您处理")
    expect(shopper.locator(".msg .bubble").filter(has_text="我是阿杰")).to_be_visible()
    expect(shopper.locator("#seat-line")).to_contain_text("阿杰")
    assert "请阿杰跟进" not in shopper.content()  # the internal note never reaches the shopper

    # history survives a reload of the shopper page (same visitor identity)
    shopper.reload()
    expect(shopper.locator(".msg .bubble").filter(has_text="我是阿杰")).to_be_visible()
    expect(shopper.locator(".msg .bubble").filter(has_text="你好，这件有现货吗？")).to_be_visible()

    assert dialogs == []


def test_robot_suggestion_quick_phrase_and_order_card(browser, shop_world):
    """The workbench's side panel offers the shop's own answer for the shopper's question; one
    click puts it in the input for editing; "/fh" lists quick phrases. The shopper picks one of
    their orders; the agent sees it as a card built from the database."""
    from playwright.sync_api import expect

    from xiaoer.assistant import demo as assistant_demo
    from xiaoer.chat import services as chat_services
    from xiaoer.orders import services as order_services
    from xiaoer.orders.models import OrderSource

    expect.set_options(timeout=30_000)
    base, shop = shop_world["base"], shop_world["shop"]
    assistant_demo.seed(shop)
    order_services.upsert_orders(shop, [{
        "order_no": "T20261125001", "buyer_id": "tb_card", "total_amount": "189.00",
        "receiver_name": "小雨", "receiver_phone": "13800000000", "receiver_address": "杭州市西湖区",
        "items": [{"title": "碎花连衣裙 S 码", "quantity": 1, "unit_price": "189.00"}]}],
        source=OrderSource.MANUAL)
    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    login(agent, base, shop_world["lina"])
    shopper.goto(base + chat_services.make_buyer_link(shop, "tb_card", name="小雨"))
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")

    send(shopper, "亲 什么时候发货呀")
    agent.locator(".conv").filter(has_text="什么时候发货呀").click()
    insert = agent.locator('[data-panel="assistant-panel"] [data-insert-text]').first
    expect(insert).to_be_visible()
    offered = insert.get_attribute("data-insert-text")
    insert.click()
    assert offered and agent.input_value("#composer-text") == offered

    # quick phrases: "/" plus pinyin initials lists the shop's phrases, Enter inserts for editing
    agent.fill("#composer-text", "/fh")
    expect(agent.locator("#phrase-menu li:not(.phrase-group)").first).to_contain_text("发货")
    agent.press("#composer-text", "Enter")
    assert agent.input_value("#composer-text") == "亲，下午4点前付款当天发货哦～"
    expect(agent.locator("#phrase-menu")).to_be_hidden()

    shopper.click("#orders-button")
    shopper.locator(".order-row").filter(has_text="T20261125001").click()
    card = agent.locator("#messages .order-card")
    expect(card).to_contain_text("T20261125001")
    expect(card).to_contain_text("碎花连衣裙 S 码")
    expect(shopper.locator(".msg.mine .order-card")).to_contain_text("T20261125001")

    # the order panel's actions are htmx forms (CSRF included): 立即催付 claims the one reminder
    remind = agent.locator('[data-panel="orders-panel"] button', has_text="立即催付")
    expect(remind).to_have_count(1)
    remind.click()
    expect(remind).to_have_count(0)
    assert dialogs == []


def test_shopper_sees_the_newest_history_and_pages_back_to_the_first(browser, shop_world):
    """A returning buyer with 120 stored messages: the page draws the newest 50 (one `history`
    request, never a `sync` from 0), "查看更早的消息" and scrolling to the top each add an earlier page
    above without moving the view, down to the first message; every message is drawn once. After a
    dropped socket the page syncs from its last seq; an agent's live reply (after an internal
    note: a seq jump, filled by sync) still lands at the end."""
    import json

    from playwright.sync_api import expect

    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer
    from xiaoer.chat.hub import HUB
    from xiaoer.chat.models import Message
    from xiaoer.customers import services as customer_services

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    customer = customer_services.get_or_create_buyer(shop, "tb_old", "老顾客")
    conv = chat_services.get_or_create_conversation(shop, customer)
    seat_id = conv.seat_id
    assert seat_id is not None
    for i in range(1, 121):
        shopper_turn = i % 2 == 1
        writer.post_message_sync(conv.pk, sender_kind="shopper" if shopper_turn else "agent", body=f"第 {i} 条",
                                 seat_id=None if shopper_turn else seat_id)
        if i % 25 == 0:
            writer.post_message_sync(conv.pk, sender_kind="agent", kind="note", body="内部备注", internal=True,
                                     seat_id=seat_id)
    assert Message.objects.filter(conversation=conv, internal=False).count() == 120

    dialogs: list[str] = []
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    sent: list[dict] = []
    shopper.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))))
    shopper.goto(base + chat_services.make_buyer_link(shop, "tb_old", name="老顾客"))
    msgs = shopper.locator("#messages .msg")
    bubbles = shopper.locator("#messages .msg .bubble")

    def bubble(i: int):
        return bubbles.filter(has_text=re.compile(rf"^第 {i} 条$"))

    expect(bubble(120)).to_be_in_viewport()  # the newest, at the bottom
    expect(msgs).to_have_count(50)
    expect(bubble(71)).to_have_count(1)
    expect(bubble(70)).to_have_count(0)
    expect(bubble(1)).to_have_count(0)
    expect(shopper.locator("#load-older")).to_have_text("查看更早的消息")
    asked = [f for f in sent if f.get("type") in ("sync", "history")]
    assert asked[0] == {"type": "history", "conversation": conv.pk, "before": None, "limit": 50}
    assert not [f for f in asked if f["type"] == "sync" and f["after"] == 0]

    # the button: 50 earlier ones above, and what the shopper was looking at does not move
    y_before = bubble(120).bounding_box()["y"]
    shopper.locator("#load-older").dispatch_event("click")  # (a click would scroll it into view first)
    expect(msgs).to_have_count(100)
    expect(bubble(21)).to_have_count(1)
    expect(bubble(20)).to_have_count(0)
    assert abs(bubble(120).bounding_box()["y"] - y_before) < 2
    expect(bubble(120)).to_be_in_viewport()

    # scrolling to the top: the last 20, then "no more"
    shopper.locator("#messages").hover()
    for _ in range(60):
        if bubble(1).count() and bubble(1).evaluate(
                "b => { const r = b.getBoundingClientRect(), l = document.getElementById('messages')"
                ".getBoundingClientRect(); return r.top >= l.top && r.bottom <= l.bottom; }"):
            break
        shopper.mouse.wheel(0, -1500)
        shopper.wait_for_timeout(100)
    expect(bubble(1)).to_be_in_viewport()
    expect(shopper.locator("#load-more")).to_have_text("没有更早的消息了")
    expect(msgs).to_have_count(120)  # every message drawn once
    assert bubbles.all_text_contents() == [f"第 {i} 条" for i in range(1, 121)]
    befores = [f["before"] for f in sent if f.get("type") == "history"]
    assert befores[0] is None and len(befores) == 3 and len(set(befores)) == 3  # each page asked for once

    # the socket drops: the page reconnects and syncs from its last seq (no new history from the
    # newest), and what was sent meanwhile is drawn once, at the end
    last_seq = Message.objects.filter(conversation=conv).count()
    assert shopper.evaluate("window.xiaoerShopper.lastSeq") == last_seq
    asked_before = len(sent)
    HUB.loop.call_soon_threadsafe(lambda: [c.close(1012) for c in list(HUB.by_conv.get(conv.pk, ()))])
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "closed")
    writer.post_message_sync(conv.pk, sender_kind="agent", body="断线时的回复", seat_id=seat_id)
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    expect(msgs).to_have_count(121)
    expect(bubbles.last).to_have_text("断线时的回复")
    again = [f for f in sent[asked_before:] if f.get("type") in ("sync", "history")]
    assert again[0] == {"type": "sync", "conversation": conv.pk, "after": last_seq}
    assert all(f["type"] == "sync" for f in again)

    # live: an internal note (the shopper's seqs jump), then an agent's reply from the workbench
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, base, shop_world["lina"])
    agent.locator(".conv").filter(has_text="老顾客").click()
    writer.post_message_sync(conv.pk, sender_kind="agent", kind="note", body="又一条备注", internal=True,
                             seat_id=seat_id)
    send(agent, "亲，您的包裹明天到～")
    expect(msgs).to_have_count(122)
    expect(bubbles.last).to_have_text("亲，您的包裹明天到～")
    expect(shopper.locator(".msg").last.locator(".who")).to_contain_text("小美")
    assert "备注" not in shopper.content()
    assert bubbles.all_text_contents() == [f"第 {i} 条" for i in range(1, 121)] + ["断线时的回复", "亲，您的包裹明天到～"]
    gap = {"type": "sync", "conversation": conv.pk, "after": last_seq + 1}  # the note's seq is skipped by sync
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    assert gap in sent
    assert shopper.evaluate("window.xiaoerShopper.lastSeq") == Message.objects.filter(conversation=conv).count()
    assert dialogs == []


def test_seat_handover_updates_both_workbenches_without_reload(browser, shop_world):
    """Issue 10, broken 2: the person who lost 小美 loses its toggle, its chats and the right to
    reply there; the one who got it sees the toggle and the chat — both live, no reload."""
    from playwright.sync_api import expect

    from xiaoer.accounts import services as account_services
    from xiaoer.accounts.models import Role, Seat
    from xiaoer.testing import shopper_arrives

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    session = shopper_arrives(shop)  # routed to 小美 (阿杰 is offline)
    customer = session.customer.display_name
    dialogs: list[str] = []
    lina = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    qiang = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(lina, base, shop_world["lina"])
    login(qiang, base, shop_world["qiang"])
    expect(lina.locator("#seat-toggles .seat-toggle").filter(has_text="小美")).to_be_visible()
    lina.locator("#conv-list .conv").filter(has_text=customer).click()
    expect(qiang.locator("#seat-toggles .seat-toggle").filter(has_text="小美")).to_have_count(0)
    for page in (lina, qiang):
        page.evaluate("window.__notReloaded = true")

    lead = make_staff(shop, role=Role.SUPERVISOR)
    account_services.do_hand_over_seat(lead, Seat.objects.get(shop=shop, display_name="小美"), shop_world["qiang"])

    # 李娜: the toggle and the chat leave her 我的 tab; the open chat is read-only, in Chinese.
    expect(lina.locator("#seat-toggles .seat-toggle").filter(has_text="小美")).to_have_count(0)
    expect(lina.locator("#conv-list .conv").filter(has_text=customer)).to_have_count(0)
    expect(lina.locator("#composer")).to_have_class(re.compile(r"\bread-only\b"))
    send(lina, "还在吗")
    expect(lina.locator("#composer-error")).to_have_text("这个会话不属于你值守的客服账号，不能回复")
    # 王强: the toggle appears, the chat is in 我的, and he can reply at once.
    expect(qiang.locator("#seat-toggles .seat-toggle").filter(has_text="小美")).to_be_visible()
    row = qiang.locator("#conv-list .conv").filter(has_text=customer)
    expect(row).to_be_visible()
    row.click()
    send(qiang, "您好，我来接着帮您")
    expect(qiang.locator("#messages .msg.mine .status").last).to_have_text("已送达")
    for page in (lina, qiang):
        assert page.evaluate("window.__notReloaded") is True
    assert dialogs == []
