"""Exams: only supervisors set them; trainees play the assigned scenarios; results per trainee."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from xiaoer.accounts.models import Role
from xiaoer.testing import client_for, make_shop, make_staff
from xiaoer.training import services
from xiaoer.training.models import Scenario

pytestmark = pytest.mark.django_db


def test_an_exam_is_set_played_and_passed(demo_shop):
    lead = make_staff(demo_shop, Role.SUPERVISOR)
    agent = make_staff(demo_shop, Role.AGENT)
    other = make_staff(demo_shop, Role.AGENT)
    scenario = Scenario.objects.get(shop=demo_shop, title="精明型顾客砍价")
    with pytest.raises(PermissionDenied):
        services.do_create_exam(agent, title="x", scenario_ids=[scenario.pk], trainee_ids=[agent.pk],
                                pass_mark=60, deadline=timezone.now() + dt.timedelta(days=1))
    exam = services.do_create_exam(lead, title="上岗考试", scenario_ids=[scenario.pk],
                                   trainee_ids=[agent.pk, other.pk], pass_mark=60,
                                   deadline=timezone.now() + dt.timedelta(days=1))
    session = services.do_start_exam_session(agent, exam, scenario)
    for reply in ("亲，全店满59元就包邮哦（偏远地区除外）～", "亲，下午4点前付款当天就发，4点以后次日发出哦～",
                  "亲，价格很实在了，现在下单送小礼品，还能领店铺券哦～"):
        services.do_reply(agent, session, reply)
    rows = {r["trainee"].pk: r for r in services.exam_results(lead, exam)}
    assert rows[agent.pk]["passed"] and rows[agent.pk]["done"] == 1
    assert not rows[other.pk]["passed"] and rows[other.pk]["done"] == 0
    assert [r["trainee"] for r in services.exam_results(other, exam)] == [other]  # only their own row
    page = client_for(lead).get(f"/desk/training/exams/{exam.pk}").content.decode()
    assert "上岗考试" in page and "通过" in page


def test_an_exam_cannot_be_started_late_or_by_someone_not_assigned(demo_shop):
    lead = make_staff(demo_shop, Role.SUPERVISOR)
    agent = make_staff(demo_shop, Role.AGENT)
    outsider = make_staff(demo_shop, Role.AGENT)
    scenario = Scenario.objects.filter(shop=demo_shop).first()
    exam = services.do_create_exam(lead, title="过期", scenario_ids=[scenario.pk], trainee_ids=[agent.pk],
                                   pass_mark=60, deadline=timezone.now() + dt.timedelta(hours=1))
    with pytest.raises(ValidationError):
        services.do_start_exam_session(agent, exam, scenario, now=timezone.now() + dt.timedelta(hours=2))
    with pytest.raises(Http404):
        services.access_exam(outsider, exam.pk)
    with pytest.raises(Http404):
        services.access_exam(make_staff(make_shop(), Role.SUPERVISOR), exam.pk)
