"""The shop's VIP level thresholds, as the levels settings page edits them (docs/customers-pages.md).

A stop-gap beside the value/levels work (crm's level computation reads LevelRule): the page writes
the rules through this one service until that work's own service takes its place.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from xiaoer.accounts import services as account_services
from xiaoer.accounts.models import Staff
from xiaoer.crm.models import LevelBasis, LevelRule

MAX_LEVELS = 10


def level_rules(shop_id: int) -> list[LevelRule]:
    return list(LevelRule.objects.filter(shop_id=shop_id).order_by("level"))


def check_level_rows(rows: list[dict]) -> list[dict]:
    """Rows {name, basis, threshold} for VIP 1..N, in order; blank rows dropped; thresholds must
    rise with the level on each basis (a higher level is harder to reach)."""
    clean = []
    for row in rows:
        name, threshold = str(row.get("name") or "").strip(), str(row.get("threshold") or "").strip()
        if not name and not threshold:
            continue
        if not name or len(name) > 20:
            raise ValidationError(_("等级名称不能为空，最多 20 个字"))
        basis = row.get("basis") or LevelBasis.TOTAL_PAID
        if basis not in LevelBasis.values:
            raise ValidationError(_("等级依据不对"))
        try:
            amount = Decimal(threshold)
        except InvalidOperation:
            raise ValidationError(_("门槛应为数字")) from None
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
            raise ValidationError(_("门槛应为不小于 0 的数字"))
        clean.append({"level": len(clean) + 1, "name": name, "basis": basis, "threshold": amount.quantize(Decimal("0.01"))})
    if len(clean) > MAX_LEVELS:
        raise ValidationError(_("最多 %(n)s 个等级") % {"n": MAX_LEVELS})
    for lower, higher in zip(clean, clean[1:], strict=False):
        if lower["basis"] == higher["basis"] and higher["threshold"] <= lower["threshold"]:
            raise ValidationError(_("等级越高，门槛应越高"))
    return clean


@transaction.atomic(savepoint=False)
def do_save_level_rules(staff: Staff, rows: list[dict]) -> list[LevelRule]:
    """Replace the shop's levels with ROWS (supervisors and the owner)."""
    account_services.require_role(staff, account_services.SUPERVISOR_ROLES)
    clean = check_level_rows(rows)
    LevelRule.objects.filter(shop_id=staff.shop_id).delete()
    return LevelRule.objects.bulk_create([LevelRule(shop_id=staff.shop_id, **row) for row in clean])
