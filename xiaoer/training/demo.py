"""The starter scenarios for the demo shop (called by ``xiaoer demo`` through seed(shop)). Written by
us for the demo clothing knowledge; idempotent (one scenario per title)."""

from __future__ import annotations

from xiaoer.accounts.models import Shop
from xiaoer.customers.models import ShopperType
from xiaoer.knowledge.models import Product
from xiaoer.training import services
from xiaoer.training.models import Scenario, Situation

STARTERS = (
    {"title": "精明型顾客砍价", "situation": Situation.BARGAIN, "shopper_type": ShopperType.THRIFTY, "product": "P100",
     "opening": "这条裙子包邮吗？", "questions": ["什么时候发货？"],
     "goal": "买到最划算的价格", "hidden_facts": "送小礼品或者有券就会下单；别家便宜十块",
     "persuaded_by": ["券", "小礼品", "赠品", "满两件"]},
    {"title": "直爽型问尺码", "situation": Situation.SIZE, "shopper_type": ShopperType.BLUNT, "product": "P101",
     "opening": "尺码偏大还是偏小？", "questions": ["有大码吗？", "快递几天到？"],
     "goal": "一次问清就下单", "hidden_facts": "身高172体重70kg，回复慢了就走"},
    {"title": "犹豫型问面料", "situation": Situation.PRODUCT, "shopper_type": ShopperType.INDECISIVE, "product": "P100",
     "opening": "这个会起球吗？", "questions": ["洗了会缩水吗？", "实物和图片有色差吗？"],
     "goal": "想买但怕买错", "hidden_facts": "知道可以七天无理由退换就放心了"},
    {"title": "挑剔型收到开线", "situation": Situation.COMPLAINT, "shopper_type": ShopperType.PICKY, "product": "P101",
     "opening": "收到的衣服有质量问题，袖口开线了！", "questions": ["退货运费谁出？", "退款什么时候到账？"],
     "goal": "要一个说法", "order_facts": "三天前签收", "hidden_facts": "给补偿或者换新都可以接受"},
    {"title": "慢性型改地址", "situation": Situation.ADDRESS, "shopper_type": ShopperType.SLOW,
     "opening": "地址填错了能改吗", "questions": ["那什么时候发货呢"],
     "goal": "改好地址", "order_facts": "昨天付款，还没发货", "hidden_facts": "新地址在同一个城市"},
    {"title": "外向型退换", "situation": Situation.RETURN, "shopper_type": ShopperType.OUTGOING, "product": "P100",
     "opening": "亲爱的，这条裙子小了，怎么换尺码呀？", "questions": ["支持七天无理由退换吗？"],
     "goal": "换大一码", "order_facts": "五天前签收，吊牌还在", "hidden_facts": "想顺便问问新款"},
)


def seed(shop: Shop) -> None:
    for starter in STARTERS:
        if Scenario.objects.filter(shop=shop, title=starter["title"]).exists():
            continue
        fields = dict(starter)
        code = fields.pop("product", None)
        product = Product.objects.filter(shop=shop, code=code).first() if code else None
        services.do_create_scenario(None, shop_id=shop.pk, product=product, **fields)
    _example_session(shop)
    _example_exam(shop)


def _example_session(shop: Shop) -> None:
    """One finished practice of the bargaining scenario by the owner, so the pages show a score."""
    from xiaoer.accounts.models import Role, Staff
    from xiaoer.training.models import TrainingSession

    owner = Staff.objects.filter(shop=shop, role=Role.OWNER).order_by("pk").first()
    scenario = Scenario.objects.filter(shop=shop, title=STARTERS[0]["title"]).first()
    if owner is None or scenario is None or TrainingSession.objects.filter(shop=shop).exists():
        return
    session = services.do_start_session(owner, scenario)
    for reply in ("亲，全店满59元就包邮哦～", "亲，下午4点前付款当天就发货哦～", "亲，现在下单送小礼品，还可以领店铺券哦～"):
        if session.status == "active":
            services.do_reply(owner, session, reply)


def _example_exam(shop: Shop) -> None:
    """An exam of three starter scenarios for the shop's agents (the owner when there are none)."""
    import datetime as dt

    from django.utils import timezone

    from xiaoer.accounts.models import Role, Staff
    from xiaoer.training.models import Exam

    owner = Staff.objects.filter(shop=shop, role=Role.OWNER).order_by("pk").first()
    if owner is None or Exam.objects.filter(shop=shop).exists():
        return
    trainees = list(Staff.objects.filter(shop=shop, role=Role.AGENT).values_list("pk", flat=True)) or [owner.pk]
    scenario_ids = list(Scenario.objects.filter(shop=shop).order_by("pk").values_list("pk", flat=True)[:3])
    if scenario_ids:
        services.do_create_exam(owner, title="新人上岗考试", scenario_ids=scenario_ids, trainee_ids=trainees,
                                pass_mark=60, deadline=timezone.now() + dt.timedelta(days=14))
