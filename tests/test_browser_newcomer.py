"""Real browser, what a newcomer saw (issue 10): the shopper page on a phone, the workbench's
conversation rows and chat view, must-read notices, suggestions and the rough pages.

Runs by default when /usr/bin/chromium exists; skipped with the reason otherwise.
"""

from __future__ import annotations

import os

import pytest

from tests.test_browser import TIMEOUT, browser, login, new_page, send, shop_world  # noqa: F401 - fixtures

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium (/usr/bin/chromium) not installed"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page, name: str) -> None:
    """XIAOER_SHOTS=dir saves a screenshot for a person to look at (not an assertion)."""
    if os.environ.get("XIAOER_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["XIAOER_SHOTS"], f"{name}.png"))


def _box(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    assert box, selector
    return box


def test_phone_input_bar_is_one_row_with_a_flexible_box(browser, shop_world):  # noqa: F811 - fixtures
    """390 px: 订单, ＋, the text box and 发送 sit on one row, left to right, and the box takes the
    room left (it grows with the viewport; the buttons don't)."""
    from playwright.sync_api import expect

    from xiaoer.chat import services as chat_services

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    dialogs: list[str] = []
    widths = {}
    for width in (390, 600):
        shopper = new_page(browser, dialogs, viewport={"width": width, "height": 760})
        shopper.goto(base + chat_services.make_buyer_link(shop, "tb_phone", name="小雨"))
        expect(shopper.locator("#orders-button")).to_be_visible()
        orders = _box(shopper, "#orders-button")
        plus = _box(shopper, "#composer label.tool")
        text = _box(shopper, "#composer-text")
        submit = _box(shopper, "#composer button[type=submit]")
        row = [orders, plus, text, submit]
        for left, right in zip(row, row[1:], strict=False):
            assert left["x"] + left["width"] <= right["x"] + 0.5, (left, right)  # in order, no overlap
        centres = [b["y"] + b["height"] / 2 for b in row]
        assert max(centres) - min(centres) < 12, centres  # one row
        assert submit["x"] + submit["width"] <= width  # 发送 is on screen
        assert text["width"] > width * 0.5  # the box gets the room
        widths[width] = text["width"]
        shot(shopper, f"shopper-{width}")
        shopper.context.close()
    assert widths[600] - widths[390] > 150  # flexible
    assert dialogs == []


def _bottom_in_view(page) -> bool:
    return page.evaluate("""() => { const box = document.getElementById('messages');
        const last = [...box.querySelectorAll('.msg')].pop();
        const r = last.getBoundingClientRect(), b = box.getBoundingClientRect();
        return r.bottom <= b.bottom + 1 && r.top >= b.top - 1
            && box.scrollHeight - box.scrollTop - box.clientHeight < 2; }""")


def test_workbench_row_chat_view_notes_and_resolved(browser, shop_world, tmp_path):  # noqa: F811 - fixtures
    """The row previews the agent's own reply and stops counting 已等, live; a chat opened again
    shows its newest message (images included); a note shows no 已送达/已读 and note mode turns
    off after it; a resolved chat offers no 转接 and shows no unread badge."""
    from playwright.sync_api import expect

    from tests.test_browser import png_file
    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer
    from xiaoer.chat.models import Attachment
    from xiaoer.customers import services as customer_services

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    # an older chat with many messages and images (they load after the list is drawn)
    old = chat_services.get_or_create_conversation(shop, customer_services.get_or_create_buyer(shop, "tb_long", "老王"))
    with open(png_file(tmp_path, (10, 200, 10)), "rb") as fh:
        from django.core.files.uploadedfile import SimpleUploadedFile
        att = chat_services.do_store_image(shop, SimpleUploadedFile("a.png", fh.read(), content_type="image/png"))
    assert isinstance(att, Attachment)
    for i in range(30):
        writer.post_message_sync(old.pk, sender_kind="shopper", body=f"老王第 {i} 条")
        writer.post_message_sync(old.pk, sender_kind="shopper", kind="image", payload={"attachment": att.token})
    writer.post_message_sync(old.pk, sender_kind="shopper", body="老王最后一条")

    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    login(agent, base, shop_world["lina"])
    shopper.goto(base + chat_services.make_buyer_link(shop, "tb_new", name="小雨"))
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    send(shopper, "你好，在吗？")
    row = agent.locator(".conv").filter(has_text="小雨")
    expect(row.locator(".wait")).to_be_visible()
    row.click()
    send(agent, "亲，在的呢")
    expect(row.locator(".conv-preview")).to_have_text("亲，在的呢")  # live, no reload
    expect(row.locator(".wait")).to_have_count(0)  # 已等 stops
    agent.wait_for_timeout(1500)
    expect(row.locator(".wait")).to_have_count(0)

    # an internal note: no 已送达/已读, and the next message is a reply again
    agent.check("#note-mode")
    send(agent, "顾客是老客户，优先处理")
    note = agent.locator("#messages .msg.internal").filter(has_text="优先处理")
    expect(note).not_to_have_class("pending")
    expect(note).not_to_have_class(" msg mine internal pending")
    expect(agent.locator("#note-mode")).not_to_be_checked()
    expect(agent.locator("#composer")).not_to_have_class("composer note")
    expect(row.locator(".conv-preview")).to_have_text("亲，在的呢")  # a note is no preview
    reply = agent.locator("#messages .msg.mine:not(.internal)").filter(has_text="亲，在的呢")
    expect(reply.locator(".status")).to_have_text("已读")  # the shopper's page is open and read it
    send(shopper, "好的")  # the shopper reads again (after the note)
    expect(agent.locator("#messages .msg").filter(has_text="好的")).to_have_count(1)
    agent.wait_for_timeout(500)
    expect(note.locator(".status")).to_have_text("")

    # a chat opened again shows its newest message, also after its images loaded
    agent.locator(".tabs button[data-tab=all]").click()
    old_row = agent.locator(".conv").filter(has_text="老王")
    old_row.click()
    expect(agent.locator("#messages .bubble").filter(has_text="老王最后一条")).to_be_visible()
    row.click()
    expect(agent.locator("#messages .bubble").filter(has_text="好的")).to_be_visible()
    old_row.click()
    expect(agent.locator("#messages .bubble").filter(has_text="老王最后一条")).to_have_count(1)
    agent.wait_for_function("() => [...document.querySelectorAll('#messages img')].filter(i => i.complete"
                            " && i.naturalWidth).length >= 20")
    agent.wait_for_timeout(300)
    assert _bottom_in_view(agent), agent.evaluate("() => { const b = document.getElementById('messages');"
        " return [b.scrollHeight, b.scrollTop, b.clientHeight, window.xiaoerDesk.current.pinned,"
        " [...b.querySelectorAll('.msg')].pop().textContent]; }")

    # resolved: no 转接, no unread badge (老王's messages were never read before it was resolved)
    assert chat_services.list_conversations(shop_world["lina"], "all")
    old_row.click()
    agent.click("#btn-resolve")
    expect(agent.locator("#btn-reopen")).to_be_visible()
    expect(agent.locator("#btn-transfer")).to_be_hidden()
    # reopened after scrolling up: back at the newest message (the reopen line)
    agent.locator("#messages").hover()
    agent.mouse.wheel(0, -3000)
    agent.wait_for_timeout(300)
    assert not _bottom_in_view(agent)
    agent.click("#btn-reopen")
    expect(agent.locator("#btn-transfer")).to_be_visible()
    expect(agent.locator("#messages .msg.event").last).to_contain_text("重新打开")
    agent.wait_for_timeout(300)
    assert _bottom_in_view(agent)
    agent.click("#btn-resolve")
    expect(agent.locator("#btn-reopen")).to_be_visible()
    fresh = chat_services.get_or_create_conversation(
        shop, customer_services.get_or_create_buyer(shop, "tb_unread", "未读客"))
    writer.post_message_sync(fresh.pk, sender_kind="shopper", body="没人看的消息")
    chat_services.do_resolve(shop_world["lina"], fresh)
    agent.reload()
    agent.locator(".tabs button[data-tab=all]").click()
    unread_row = agent.locator(".conv").filter(has_text="未读客")
    expect(unread_row.locator(".tag.resolved")).to_be_visible()
    expect(unread_row.locator(".count")).to_have_count(0)
    assert dialogs == []


def test_must_read_notice_is_a_card_with_variables_rendered_and_goes_on_acknowledgement(browser, shop_world):  # noqa: F811
    """A notice waiting since before login and one pushed live show as cards above the chat, with
    an answer's variables shown as what they stand for (never a raw {顾客}); 我已阅读 records the
    read and removes the card at once, and it stays gone after a reload."""
    from playwright.sync_api import expect

    from xiaoer.knowledge import services as knowledge_services
    from xiaoer.knowledge.models import NoticeAck
    from xiaoer.testing import owner_of

    expect.set_options(timeout=TIMEOUT)
    base, shop, lina = shop_world["base"], shop_world["shop"], shop_world["lina"]
    earlier = knowledge_services.do_save_answer(
        owner_of(shop), code="A1", category="other", question="退货运费谁出", similar=[],
        answer="{顾客}您好，7 天无理由退货运费由买家承担哦")
    knowledge_services.do_set_must_read(owner_of(shop), earlier)
    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, base, lina)
    cards = agent.locator("#notices .notice-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("必读：退货运费谁出")
    expect(cards.first).to_contain_text("亲您好，7 天无理由退货运费由买家承担哦")

    live = knowledge_services.do_save_answer(
        owner_of(shop), code="A2", category="other", question="大促发货时间", similar=[],
        answer="{顾客}，大促期间 48 小时内发货，{客服}会跟进")
    knowledge_services.do_set_must_read(owner_of(shop), live)
    expect(cards).to_have_count(2)
    live_card = cards.filter(has_text="大促发货时间")
    expect(live_card).to_contain_text("亲，大促期间 48 小时内发货，小二会跟进")
    assert "{" not in agent.locator("#notices").text_content()
    assert agent.locator("#composer-error").text_content() == ""  # not squeezed into the error slot
    shot(agent, "desk-notices")

    live_card.get_by_role("button", name="我已阅读").click()
    expect(cards).to_have_count(1)
    cards.first.get_by_role("button", name="我已阅读").click()
    expect(cards).to_have_count(0)
    assert NoticeAck.objects.filter(staff=lina).count() == 2
    agent.reload()
    expect(agent.locator("#conn-state")).to_have_attribute("data-state", "open")
    agent.wait_for_timeout(500)
    expect(cards).to_have_count(0)
    assert dialogs == []


def test_suggestion_after_reassignment_carries_the_new_seat_and_size_advice_leads(browser, shop_world):  # noqa: F811
    """The suggestion computed while 小美 served the chat is inserted by 阿杰 after a transfer with
    阿杰's name; for 「165 110斤穿什么码」 about a dress with a size chart the size advice comes first."""
    import time

    from playwright.sync_api import expect

    from xiaoer.accounts.models import Seat
    from xiaoer.assistant import demo as assistant_demo
    from xiaoer.assistant.models import Suggestion
    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer
    from xiaoer.chat.models import Conversation

    expect.set_options(timeout=30_000)
    base, shop = shop_world["base"], shop_world["shop"]
    assistant_demo.seed(shop)
    dialogs: list[str] = []
    lina = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(lina, base, shop_world["lina"])  # 小美 is online while her person has a workbench open
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    shopper.goto(base + chat_services.make_buyer_link(shop, "tb_size", name="小雨"))
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    send(shopper, "看看这条裙子")
    expect(shopper.locator("#seat-line")).to_contain_text("小美")  # routed on the first message
    conv = Conversation.objects.get(shop=shop, customer__buyer_id="tb_size")
    writer.post_message_sync(conv.pk, sender_kind="shopper", kind="card", payload={"product_code": "P100"})
    send(shopper, "165 110斤穿什么码")
    deadline = time.monotonic() + 120  # the robot builds its index first (seconds; more on a busy machine)
    while not Suggestion.objects.filter(conversation=conv, question="165 110斤穿什么码").exists():
        assert time.monotonic() < deadline, "no suggestion stored"
        time.sleep(0.2)
    stored = Suggestion.objects.get(conversation=conv, question="165 110斤穿什么码").payload
    assert any("小美帮您" in a["text"] for a in stored["answers"])  # computed for 小美

    ajie = Seat.objects.get(pk=shop_world["ajie"].pk)
    chat_services.do_transfer(shop_world["lina"], conv, ajie)
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, base, shop_world["qiang"])
    agent.locator(".conv").filter(has_text="小雨").click()
    inserts = agent.locator('[data-panel="assistant-panel"] .answer [data-insert-text]')
    expect(inserts.first).to_be_visible()
    assert "L 码" in inserts.first.get_attribute("data-insert-text")  # the size advice leads
    ask = agent.locator('[data-panel="assistant-panel"] .answer').filter(has_text="帮您对照尺码表")
    expect(ask).to_contain_text("阿杰帮您")
    ask.locator("[data-insert-text]").click()
    value = agent.input_value("#composer-text")
    assert "阿杰帮您" in value and "小美" not in value
    shot(agent, "desk-suggestion")
    assert dialogs == []


def test_knowledge_robot_and_task_pages_have_the_common_layout_and_a_favicon(browser, shop_world):  # noqa: F811
    """Every page a supervisor opens: the top bar, a centred column with styled forms and tables,
    the right title, the nav to 知识库/机器人 from the supervisor page, and no 404 (favicon)."""
    from playwright.sync_api import expect

    from xiaoer.accounts.models import Role
    from xiaoer.testing import make_staff

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    boss = make_staff(shop, Role.SUPERVISOR, display_name="主管老周")
    dialogs: list[str] = []
    page = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    login(page, base, boss)
    page.goto(f"{base}/desk/supervisor")
    nav = page.locator(".topnav")
    expect(nav.get_by_role("link", name="知识库")).to_be_visible()
    expect(nav.get_by_role("link", name="机器人")).to_be_visible()
    pages = {"/desk/knowledge": "知识库", "/desk/knowledge/answers/new": "知识库", "/desk/knowledge/import": "知识库",
             "/desk/robot": "机器人客服", "/desk/robot/learned": "从客服回复中学习", "/desk/tasks": "内部任务"}
    for path, title in pages.items():
        page.goto(base + path)
        assert page.title().startswith(title), (path, page.title())
        expect(page.locator(".topbar")).to_be_visible()
        main = page.locator("main").bounding_box()
        assert main["width"] <= 1100 and main["x"] >= 100, (path, main)  # a centred column, not the raw page
        form = page.locator("form.form").first
        if form.count():
            assert form.evaluate("f => getComputedStyle(f).borderTopStyle") == "solid", path
            label = page.locator("form.form label").first
            assert label.evaluate("l => getComputedStyle(l).display") == "flex", path
        shot(page, "page" + path.replace("/", "-"))
    robot_nav = page.goto(f"{base}/desk/robot") and page.locator(".topnav a.active")
    expect(robot_nav).to_have_text("机器人")
    assert page.request.get(f"{base}/favicon.ico").status == 200
    assert page.locator("link[rel=icon]").count() == 1
    assert missing == []
    assert dialogs == []


def test_order_picker_and_stock_check_show_what_was_bought(browser, shop_world):  # noqa: F811
    """The shopper's order picker (phone) names the items of each order; the warehouse's stock
    check lists the items with their SKUs."""
    import re

    from playwright.sync_api import expect

    from tests.test_browser import PASSWORD
    from xiaoer.accounts.models import Role
    from xiaoer.chat import services as chat_services
    from xiaoer.orders import services as order_services
    from xiaoer.orders.models import Order, OrderSource
    from xiaoer.testing import make_staff

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    order_services.upsert_orders(shop, [{
        "order_no": "T20261128009", "buyer_id": "tb_pick", "total_amount": "258.00", "status": "paid",
        "paid_amount": "258.00", "receiver_name": "小雨", "receiver_phone": "13800000000",
        "receiver_address": "杭州市西湖区", "items": [
            {"title": "碎花连衣裙", "sku": "P100-L-RED", "quantity": 1, "unit_price": "189.00"},
            {"title": "纯棉短袖T恤", "sku": "P200-M-WHT", "quantity": 1, "unit_price": "69.00"}]}],
        source=OrderSource.MANUAL)
    dialogs: list[str] = []
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    shopper.goto(base + chat_services.make_buyer_link(shop, "tb_pick", name="小雨"))
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    shopper.click("#orders-button")
    row = shopper.locator(".order-row").filter(has_text="T20261128009")
    expect(row).to_contain_text("碎花连衣裙 ×1")
    expect(row).to_contain_text("纯棉短袖T恤 ×1")
    shot(shopper, "shopper-order-picker")

    order_services.do_raise_stock_check(shop_world["lina"], Order.objects.get(order_no="T20261128009"))
    keeper = make_staff(shop, Role.WAREHOUSE, display_name="库管老陈")
    page = new_page(browser, dialogs, viewport={"width": 1200, "height": 800})
    page.goto(f"{base}/desk/login")
    page.fill("input[name=username]", keeper.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/desk/tasks$"))
    task = page.locator(".task").filter(has_text="T20261128009")
    expect(task).to_contain_text("碎花连衣裙 · SKU P100-L-RED × 1")
    expect(task).to_contain_text("纯棉短袖T恤 · SKU P200-M-WHT × 1")
    shot(page, "warehouse-stock-check")
    assert dialogs == []


def test_keyboard_moves_between_conversations_and_sends(browser, shop_world):  # noqa: F811
    """Alt+↓ / Alt+↑ open the next / previous conversation of the list; the input keeps the focus,
    so typing and Enter answer the one just opened."""
    from playwright.sync_api import expect

    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer
    from xiaoer.customers import services as customer_services

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    for buyer, name in (("tb_k1", "甲顾客"), ("tb_k2", "乙顾客")):
        conv = chat_services.get_or_create_conversation(shop, customer_services.get_or_create_buyer(shop, buyer, name))
        writer.post_message_sync(conv.pk, sender_kind="shopper", body=f"{name}的问题")
    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, base, shop_world["lina"])
    rows = agent.locator("#conv-list .conv")
    expect(rows).to_have_count(2)
    first, second = rows.nth(0).locator(".conv-name").text_content(), rows.nth(1).locator(".conv-name").text_content()
    agent.keyboard.press("Alt+ArrowDown")
    expect(agent.locator("#chat-title")).to_have_text(first)
    agent.keyboard.press("Alt+ArrowDown")
    expect(agent.locator("#chat-title")).to_have_text(second)
    agent.keyboard.press("Alt+ArrowDown")  # the last stays
    expect(agent.locator("#chat-title")).to_have_text(second)
    agent.keyboard.press("Alt+ArrowUp")
    expect(agent.locator("#chat-title")).to_have_text(first)
    expect(agent.locator("#composer-text")).to_be_focused()
    agent.keyboard.type("亲，在的")
    agent.keyboard.press("Enter")
    expect(agent.locator("#messages .msg.mine").filter(has_text="亲，在的")).to_have_count(1)
    expect(rows.filter(has_text=first).locator(".conv-preview")).to_have_text("亲，在的")
    assert dialogs == []


def test_search_finds_conversations_by_buyer_phone_tail_order_number_and_text(browser, shop_world):  # noqa: F811
    """The search box above the list finds a conversation by the buyer's name, a phone tail, an
    order number or words in a message, says what matched, and opens it; Esc goes back. Another
    shop's conversations are never found."""
    from playwright.sync_api import expect

    from xiaoer.chat import services as chat_services
    from xiaoer.chat import writer
    from xiaoer.customers import services as customer_services
    from xiaoer.orders import services as order_services
    from xiaoer.orders.models import OrderSource
    from xiaoer.testing import make_shop

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]

    def chat(s, buyer, name, text, phone=""):
        customer = customer_services.get_or_create_buyer(s, buyer, name)
        if phone:
            customer.phone = phone
            customer.save(update_fields=["phone"])
        conv = chat_services.get_or_create_conversation(s, customer)
        writer.post_message_sync(conv.pk, sender_kind="shopper", body=text)
        return conv

    chat(shop, "tb_s1", "王小明", "你好")
    chat(shop, "tb_s2", "李四", "在吗", phone="13912348888")
    chat(shop, "tb_s3", "赵六", "我想问一下退货地址是哪里")
    chat(shop, "tb_s4", "钱七", "发货了吗")
    order_services.upsert_orders(shop, [{"order_no": "T2026112800123", "buyer_id": "tb_s4", "total_amount": "9.90",
                                         "items": [{"title": "袜子", "quantity": 1}]}], source=OrderSource.MANUAL)
    other = make_shop(slug="other-shop", name="别家")
    chat(other, "tb_x", "王小明的邻居", "退货地址给我")
    dialogs: list[str] = []
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, base, shop_world["lina"])
    rows = agent.locator("#conv-list .conv")
    expect(rows).to_have_count(4)
    for query, name, match in (("王小明", "王小明", "王小明"), ("8888", "李四", "手机尾号 8888"),
                               ("00123", "钱七", "订单 T2026112800123"), ("退货地址", "赵六", "退货地址")):
        agent.fill("#conv-search", query)
        expect(rows).to_have_count(1)
        expect(rows.first.locator(".conv-name")).to_contain_text(name)
        expect(rows.first.locator(".conv-preview")).to_contain_text(match)
    shot(agent, "desk-search")
    rows.first.click()
    expect(agent.locator("#messages .bubble").filter(has_text="退货地址是哪里")).to_be_visible()
    agent.fill("#conv-search", "没有这个人")
    expect(agent.locator("#conv-list")).to_contain_text("没有找到匹配的会话")
    agent.press("#conv-search", "Escape")
    expect(rows).to_have_count(4)
    assert "王小明的邻居" not in agent.content()
    assert dialogs == []


def test_agent_sends_a_product_card(browser, shop_world):  # noqa: F811
    """商品 in the composer: the agent searches the shop's products and sends one; the shopper (phone)
    sees a card with the title and price, built on the server from the database."""
    from playwright.sync_api import expect

    from xiaoer.chat import services as chat_services
    from xiaoer.chat.models import Message
    from xiaoer.knowledge import services as knowledge_services
    from xiaoer.testing import owner_of

    expect.set_options(timeout=TIMEOUT)
    base, shop = shop_world["base"], shop_world["shop"]
    owner = owner_of(shop)
    knowledge_services.do_save_product(owner, code="P100", title="小清新碎花连衣裙", price="189.00", material="雪纺")
    knowledge_services.do_save_product(owner, code="P200", title="纯棉短袖T恤", price="69.00")
    dialogs: list[str] = []
    shopper = new_page(browser, dialogs, viewport={"width": 390, "height": 760})
    shopper.goto(base + chat_services.make_buyer_link(shop, "tb_card2", name="小雨"))
    expect(shopper.locator("#conn-state")).to_have_attribute("data-state", "open")
    send(shopper, "有没有适合夏天的裙子")
    agent = new_page(browser, dialogs, viewport={"width": 1400, "height": 860})
    login(agent, base, shop_world["lina"])
    agent.locator(".conv").filter(has_text="小雨").click()
    agent.click("#btn-product")
    agent.fill("#product-search", "连衣裙")
    expect(agent.locator("#product-list button")).to_have_count(1)
    agent.locator("#product-list button").click()
    card = shopper.locator(".msg:not(.mine) .product-card")
    expect(card).to_contain_text("小清新碎花连衣裙")
    expect(card).to_contain_text("¥189.00")
    expect(agent.locator("#messages .msg.mine .product-card")).to_contain_text("小清新碎花连衣裙")
    stored = Message.objects.get(kind="card")
    assert stored.payload["product_code"] == "P100" and stored.sender_kind == "agent"
    shot(shopper, "shopper-product-card")
    expect(shopper.locator(".msg.mine .status")).not_to_have_text("发送中…")
    assert dialogs == []
