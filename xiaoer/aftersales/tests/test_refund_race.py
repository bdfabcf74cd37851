"""Two refunds of one order at once (two cases, two agents) never refund more than was paid:
the bound is checked under the order's row lock. Marked `race`: run here and on PostgreSQL by
test_races_postgres.py."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from xiaoer.aftersales import returns
from xiaoer.aftersales.models import CaseState, ReturnCase
from xiaoer.orders.models import Order

from .returnkit import ReturnWorld


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_refunds_at_once_stay_within_what_was_paid():
    w = ReturnWorld()
    order = w.order("100.00")
    cases = [returns.do_approve(w.owner, w.open(order, kind="refund_only", amount="70")) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[Exception] = []

    def worker(case: ReturnCase) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                returns.do_refund(w.supervisor, ReturnCase.objects.get(pk=case.pk))
            outcomes.append("refunded")
        except ValidationError:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(case,)) for case in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(outcomes) == ["refunded", "refused"]
    assert Order.objects.get(pk=order.pk).refunded_amount == Decimal("70.00")
    assert ReturnCase.objects.filter(pk__in=[c.pk for c in cases], state=CaseState.REFUNDED).count() == 1
