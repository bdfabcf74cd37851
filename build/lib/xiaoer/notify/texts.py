"""Built-in notice templates (a shop may override each in NoticeTemplate).

Placeholders use ``{name}``; unknown ones are left as written so a typo in a shop's own template
shows up in the text instead of failing the send.
"""

from __future__ import annotations

DEFAULTS: dict[str, str] = {
    "payment_reminder": "亲，您在{shop}拍下的订单 {order_no}（{total} 元）还没付款哦～"
                        "库存有限，小二帮您留着，方便时记得完成付款呀。",
    "payment_guide": "亲，付款遇到问题可以告诉小二～订单 {order_no} 在「我的订单」里点「付款」即可完成，"
                     "需要改地址或数量也可以先跟小二说。",
    "order_confirm": "亲，订单 {order_no} 已付款，请核对收货信息：{receiver_name}，{receiver_phone}，"
                     "{receiver_address}。有误请直接回复小二修改，没问题就不用回复啦。",
    "order_change": "亲，您的订单 {order_no} 有变更：{summary}（原因：{reason}）。有疑问随时找小二。",
    "shipping_notice": "亲，订单 {order_no} 已发货啦！{carrier}，运单号 {tracking_no}，注意查收哦。",
    "order_closed": "亲，订单 {order_no} 已关闭（{reason}）。如还需要，随时找小二重新下单。",
    "task_answer": "{answer}",
}


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(text: str, context: dict) -> str:
    values = _Keep({k: "" if v is None else str(v) for k, v in context.items()})
    try:
        return text.format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError):
        # A broken shop template (stray brace, "{0}") must not block the notice.
        return text
