"""Who may act in a conversation: one rule for the socket, the REST API and order actions.

Pure functions on ids, so the socket applies them with what it cached at connect (no ORM per
frame); ``services.require_may_reply`` applies the same rule to a Staff and a Conversation.
docs/decisions/081-one-access-rule.md.
"""

from __future__ import annotations

from collections.abc import Collection

from django.utils.translation import gettext_lazy as _

# Shown to the agent (workbench, API, order panel) when the rule refuses.
REPLY_REFUSED = _("这个会话不是你的客服账号在接待，不能回复或操作订单。请先领取，或请主管转接。")
READ_REFUSED = _("只有接待这个会话的客服账号可以标记已读")


def may_reply(seat_ids: Collection[int], supervisor: bool, conv_seat_id: int | None) -> bool:
    """Send (text, notes, cards), type, and act on the customer's orders: the seat serving the
    conversation, or a supervisor/owner of the shop. A queued conversation is claimed first."""
    return supervisor or (conv_seat_id is not None and conv_seat_id in seat_ids)


def may_mark_read(seat_ids: Collection[int], conv_seat_id: int | None) -> bool:
    """Only the seat serving the conversation tells the shopper 已读 (not a supervisor looking on)."""
    return conv_seat_id is not None and conv_seat_id in seat_ids
