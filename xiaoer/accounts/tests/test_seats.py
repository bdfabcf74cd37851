"""Seats outlive the people operating them (docs/design.md "Layers": accounts)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from xiaoer.accounts import services
from xiaoer.accounts.models import Role, SeatAssignment
from xiaoer.testing import make_seat, make_shop, make_staff

pytestmark = pytest.mark.django_db


def test_handover_records_who_operated_the_seat_when():
    shop = make_shop()
    first, second = make_staff(shop), make_staff(shop)
    seat = make_seat(shop, operator=first)
    handover_time = timezone.now()
    services.do_assign_seat(seat, second)

    history = list(SeatAssignment.objects.filter(seat=seat).order_by("started_at"))
    assert [a.staff for a in history] == [first, second]
    assert history[0].ended_at is not None and history[1].ended_at is None
    assert services.operator_at(seat, handover_time - timedelta(microseconds=1)) == first
    assert services.operator_at(seat, timezone.now()) == second
    seat.refresh_from_db()
    assert seat.operator == second


def test_assigning_the_same_person_twice_keeps_one_open_assignment():
    shop = make_shop()
    person = make_staff(shop)
    seat = make_seat(shop, operator=person)
    services.do_assign_seat(seat, person)
    assert SeatAssignment.objects.filter(seat=seat, ended_at__isnull=True).count() == 1


def test_seat_cannot_go_to_another_shops_staff_or_to_a_warehouse_role():
    shop, other = make_shop(), make_shop()
    seat = make_seat(shop)
    with pytest.raises(Http404):
        services.do_assign_seat(seat, make_staff(other))
    with pytest.raises(ValidationError):
        services.do_assign_seat(seat, make_staff(shop, role=Role.WAREHOUSE))


def test_access_seat_is_scoped_to_the_callers_shop():
    shop, other = make_shop(), make_shop()
    foreign_seat = make_seat(other)
    with pytest.raises(Http404):
        services.access_seat(make_staff(shop), foreign_seat.pk)


@pytest.mark.parametrize("slug", ["", "has space", "店铺", "x" * 51])
def test_bad_shop_slugs_are_refused_with_a_reason(slug):
    with pytest.raises(ValidationError):
        services.check_slug(slug)
