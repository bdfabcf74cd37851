"""Schema fuzzing of the whole JSON API (Schemathesis): no input an operation's schema allows, or
a malformed one, may answer 500 (issue 10, Security: server errors under fuzzing).

Bounded so the suite stays quick: a fixed seed (the same cases every run), a few examples per
operation, no shrinking, the coverage phase off. A logged-in owner of a shop with a seat, a
conversation, an answer, a product and an order calls every operation, with a CSRF token.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from xiaoer.chat import services as chat_services
from xiaoer.chat import writer
from xiaoer.knowledge import services as knowledge_services
from xiaoer.orders import services as order_services
from xiaoer.orders.models import OrderSource
from xiaoer.testing import make_seat, make_shop, make_staff, owner_of

CONFIG = schemathesis.config.SchemathesisConfig.from_dict({
    "seed": 20261128,
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "generation": {"max-examples": 4, "no-shrink": True, "deterministic": True},
})
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application(), config=CONFIG)
CSRF = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"  # 32 characters: a token Django accepts as it is


@pytest.fixture
def _one_connection():
    # Like Django's test client: the WSGI handler must not close the test's connection (and with it
    # the test transaction) at the end of every request.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def owner_cookies(db, _one_connection, settings) -> dict[str, str]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # 54 shops: not 54 Argon2 hashes
    shop = make_shop("fuzz")
    agent = make_staff(shop)
    make_seat(shop, operator=agent)
    conv = chat_services.start_shopper_session(shop).conversation
    writer.post_message_sync(conv.pk, sender_kind="shopper", body="你好")
    knowledge_services.do_save_answer(owner_of(shop), code="Q1", category="other", question="在吗", similar=[],
                                      answer="亲，在的")
    order_services.do_upsert_order(None, shop, {"order_no": "F1", "items": []}, source=OrderSource.IMPORT, reason="fuzz")
    client = Client()
    client.force_login(owner_of(shop).user)
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF}


@schema.parametrize()
@hypothesis_settings(suppress_health_check=list(HealthCheck), deadline=None)  # one shop for all of an operation's cases
def test_no_operation_answers_500(case, owner_cookies):
    response = case.call_and_validate(cookies=owner_cookies, headers={"X-CSRFToken": CSRF}, checks=[not_a_server_error])
    # The owner's session and CSRF token are accepted: otherwise nothing behind them would be fuzzed.
    assert response.status_code != 401 and "CSRF" not in response.text


def _integer_parameters():
    """(method, path template, parameter name, where) for every integer path or query parameter."""
    from xiaoer.api import api

    for path, operations in api.get_openapi_schema()["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                schema_ = param.get("schema", {})
                types = [schema_.get("type")] + [s.get("type") for s in schema_.get("anyOf", [])]
                if "integer" in types and param["in"] in ("path", "query"):
                    yield method.upper(), path, param["name"], param["in"]


@pytest.mark.parametrize("value", ["9" * 30, "-" + "9" * 30, str(2**63)])
def test_numbers_too_large_for_the_database_are_4xx(owner_cookies, value):
    """Schema fuzzing rarely draws a number beyond 64 bits; every integer parameter gets one here."""
    client = Client()
    for name, cookie in owner_cookies.items():
        client.cookies[name] = cookie
    checked = 0
    for method, template, name, where in _integer_parameters():
        path = re.sub(r"\{[^}]+\}", "1", template)
        query = ""
        if where == "path":
            path = template.replace("{" + name + "}", value)
            path = re.sub(r"\{[^}]+\}", "1", path)
        else:
            query = f"?{name}={value}"
        response = client.generic(method, path + query, "{}", content_type="application/json")
        assert response.status_code < 500, (method, path + query, response.content[:300])
        checked += 1
    assert checked > 20
