"""Create the demo shop 「小二的店」 once, then print its URLs and logins.

Idempotent: when the shop already exists it only prints. Messages are stored through the chat
writer (the one write path for messages), like any other message. Site level (xiaoer.demo): it
may import every app; each app may add its own data in ``xiaoer.<app>.demo.seed(shop)``.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Role, Seat, Shop
from xiaoer.aftersales import demo as aftersales_demo
from xiaoer.assistant import demo as assistant_demo
from xiaoer.chat import services as chat_services
from xiaoer.chat import writer
from xiaoer.chat.models import Conversation
from xiaoer.conf import int_setting, setting
from xiaoer.crm import demo as crm_demo
from xiaoer.customers import services as customer_services
from xiaoer.customers.models import CustomerNote
from xiaoer.orders import demo as orders_demo
from xiaoer.training import demo as training_demo

SLUG = "demo"
PASSWORD = "xiaoer-demo-2024"  # printed on purpose: a demo, never a deployment
LOGINS = [
    ("demo-owner", Role.OWNER, "老王"),
    ("demo-lead", Role.SUPERVISOR, "周主管"),
    ("demo-lina", Role.AGENT, "李娜"),
    ("demo-qiang", Role.AGENT, "王强"),
    ("demo-stock", Role.WAREHOUSE, "老张"),
]
SEATS = [("xiaomei", "小美", "demo-lina"), ("xiaoxue", "小雪", "demo-lina"), ("ajie", "阿杰", "demo-qiang")]

# (customer kind, id, name, seat name or None for queued, status, [(sender, kind, body)], note)
CONVERSATIONS = [
    ("buyer", "tb_xiaoyu", "小雨", "xiaomei", "open", [
        ("shopper", "text", "亲，这条碎花连衣裙我身高160、体重50公斤，穿什么码合适？"),
        ("agent", "text", "亲，按您的身材建议选 S 码哦～腰围 66cm，胸围 84cm，穿着不紧也不空。"),
        ("shopper", "text", "好的～那颜色和图片会不会有色差呀？"),
    ], ""),
    ("visitor", "a7f3c9e1d2", "", "xiaomei", "open", [
        ("shopper", "text", "请问今天下单什么时候能发货？"),
        ("agent", "text", "亲，下午 4 点前付款当天就能发出，默认中通快递，江浙沪一般隔天到～"),
        ("shopper", "text", "好的谢谢"),
        ("agent", "text", "不客气，有问题随时找小美哦 😊"),
    ], ""),
    ("buyer", "tb_akang", "阿康", "ajie", "open", [
        ("shopper", "text", "老板，这款卫衣买两件能便宜点吗？"),
        ("agent", "text", "亲，两件可以叠加店铺满 199 减 20 的券，到手更划算哦～"),
        ("agent", "note", "这位顾客上次也问过优惠，如果再犹豫可以送一双棉袜当赠品。"),
        ("shopper", "text", "那我再考虑一下，黑色 XL 还有货吗？"),
    ], "喜欢讲价，重视赠品；上次买过黑色 L 码偏小。"),
    ("buyer", "tb_lin", "林女士", "xiaoxue", "resolved", [
        ("shopper", "text", "收到的马克杯把手那里有一道裂口……"),
        ("agent", "text", "非常抱歉给您添麻烦了！麻烦拍一张裂口的照片发给小雪看一下～"),
        ("shopper", "text", "照片已经在订单留言里上传了"),
        ("agent", "text", "看到了，已经为您登记补发一个新的，今天下午发出，原来的不用寄回。"),
        ("shopper", "text", "好的，谢谢小雪！"),
    ], "易碎品：上次马克杯运输破损补发过一次，下次发货请加气泡膜。"),
    ("buyer", "tb_xiaofeng", "晓峰", "xiaoxue", "open", [
        ("shopper", "text", "我的快递三天了物流一直没更新，是不是丢了？"),
    ], ""),
    ("visitor", "5b8e0f4a91", "", None, "queued", [
        ("shopper", "text", "在吗？想问下这款收纳盒有没有现货"),
    ], ""),
]


class Command(BaseCommand):
    help = "Create the demo shop (once) and print its URLs and logins."

    def handle(self, *args, **options) -> None:
        shop = Shop.objects.filter(slug=SLUG).first()
        if shop is None:
            shop = self._create()
            self._seed_apps(shop)
            self.stdout.write(self.style.SUCCESS(f"已创建演示店铺「{shop.name}」"))
        else:
            self.stdout.write(f"演示店铺「{shop.name}」已存在，不再重复创建。")
        self._print(shop)

    @transaction.atomic
    def _create(self) -> Shop:
        owner_username, _, owner_name = LOGINS[0]
        shop = account_services.do_create_shop(slug=SLUG, name="小二的店", owner_username=owner_username,
                                               owner_password=PASSWORD, owner_display_name=owner_name)
        staff = {owner_username: shop.staff.get(user__username=owner_username)}
        for username, role, name in LOGINS[1:]:
            staff[username] = account_services.do_create_staff(shop=shop, username=username, password=PASSWORD,
                                                               role=role, display_name=name)
        seats: dict[str, Seat] = {}
        for name, display, operator in SEATS:
            seat = account_services.do_create_seat(shop=shop, name=name, display_name=display)
            account_services.do_assign_seat(seat, staff[operator], by=staff["demo-lead"])
            account_services.do_set_seat_online(seat, True)
            seats[name] = seat
        # the greeting a newly routed shopper gets from 小美 (docs/decisions/120)
        chat_services.do_set_seat_greeting(staff["demo-lead"], seats[SEATS[0][0]],
                                           "{顾客}您好，我是{客服}，很高兴为您服务～")
        for kind, ident, name, seat_name, status, lines, note in CONVERSATIONS:
            if kind == "buyer":
                customer = customer_services.get_or_create_buyer(shop, ident, name)
            else:
                customer = customer_services.get_or_create_visitor(shop, ident)
            seat = seats.get(seat_name) if seat_name else None
            conv = Conversation.objects.create(shop=shop, customer=customer, seat=seat,
                                               status="queued" if seat is None else "open")
            if seat is None:
                conv.queued_at = conv.created_at
                conv.save(update_fields=["queued_at"])
            else:
                customer.last_seat = seat
                customer.save(update_fields=["last_seat"])
            for sender, msg_kind, body in lines:
                is_agent = sender == "agent"
                writer.post_message_sync(conv.pk, sender_kind=sender, kind=msg_kind, body=body,
                                         seat_id=seat.pk if is_agent and seat else None,
                                         staff_id=seat.operator_id if is_agent and seat else None)
            # the agent has read everything up to their own last reply
            last_agent = conv.messages.filter(sender_kind="agent").order_by("-seq").first()
            if last_agent is not None:
                Conversation.objects.filter(pk=conv.pk).update(agent_read_seq=last_agent.seq)
            if status == "resolved":
                chat_services.do_resolve(staff["demo-lead"], Conversation.objects.get(pk=conv.pk))
            if note:
                CustomerNote.objects.create(shop=shop, customer=customer, seat=seat,
                                            author=seat.operator if seat else None, text=note)
        return shop

    def _seed_apps(self, shop: Shop) -> None:
        """The apps' own demo data (``xiaoer.<app>.demo.seed``), each in its own transaction."""
        for module in (assistant_demo, orders_demo, crm_demo, aftersales_demo, training_demo):
            with transaction.atomic():
                module.seed(shop)
            label = apps.get_app_config(module.__name__.split(".")[1]).verbose_name
            self.stdout.write(f"  {label}: 演示数据已添加")

    def _print(self, shop: Shop) -> None:
        host = str(setting("HOST", "127.0.0.1"))
        host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
        base = f"http://{host}:{int_setting('PORT', 8000)}"
        link = chat_services.make_buyer_link(shop, "tb_xiaoyu", name="小雨", max_age=30 * 24 * 3600)
        w = self.stdout.write
        w("")
        w(f"  客服工作台   {base}/desk")
        w(f"  主管视图     {base}/desk/supervisor")
        w(f"  顾客聊天     {base}/s/{shop.slug}/chat")
        w(f"  老顾客小雨   {base}{link}")
        w(f"  嵌入挂件     <script src=\"{base}/s/{shop.slug}/widget.js\" async></script>")
        w("               （放在别的网站上时，把该网站加入 EMBED_ORIGINS，见 docs/operations.md）")
        w(f"  后台管理     {base}/admin/  (用 xiaoer createsuperuser 建超级用户)")
        w("")
        w(f"  登录（密码都是 {PASSWORD}）:")
        for username, role, name in LOGINS:
            operated = [s.display_name for s in Seat.objects.filter(shop=shop, operator__user__username=username)]
            extra = f"  值守 {'、'.join(operated)}" if operated else ""
            w(f"    {username:<12} {name}（{Role(role).label}）{extra}")
        w("")
