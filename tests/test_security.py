"""Deployment security defaults and settings (issue 10, Security): admin login throttling, trusted
proxies, allowed hosts, cookies and HSTS, the Content-Security-Policy, framing of the shopper chat,
the widget's base URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]


def test_admin_login_is_throttled_like_the_desk_login(settings):
    settings.LOGIN_MAX_FAILURES = 3
    shop = make_shop()
    staff = make_staff(shop)
    staff.user.is_staff = True
    staff.user.save()
    client = Client()
    for _ in range(3):
        response = client.post("/admin/login/", {"username": staff.user.username, "password": "wrong-guess"})
        assert response.status_code == 200  # the admin's own form, with its error
    response = client.post("/admin/login/", {"username": staff.user.username, "password": PASSWORD})
    assert response.status_code == 429 and "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_successful_admin_login_clears_the_count(settings):
    settings.LOGIN_MAX_FAILURES = 3
    shop = make_shop()
    staff = make_staff(shop)
    staff.user.is_staff = True
    staff.user.save()
    client = Client()
    client.post("/admin/login/", {"username": staff.user.username, "password": "wrong-guess"})
    response = client.post("/admin/login/", {"username": staff.user.username, "password": PASSWORD})
    assert response.status_code == 302


def test_serve_trusts_forwarded_headers_only_from_configured_proxies(monkeypatch, settings):
    import uvicorn

    from xiaoer import cli

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setenv("XIAOER_EMBEDDED_WORKER", "false")
    settings.TRUSTED_PROXIES = []
    cli.serve([])
    assert calls[-1]["proxy_headers"] is False
    settings.TRUSTED_PROXIES = ["10.0.0.5", "10.0.0.6"]
    cli.serve([])
    assert calls[-1]["proxy_headers"] is True and calls[-1]["forwarded_allow_ips"] == "10.0.0.5,10.0.0.6"


def test_unknown_host_is_refused_by_default():
    client = Client()
    assert client.get("/healthz", HTTP_HOST="evil.example").status_code == 400
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 200
    assert client.get("/healthz", HTTP_HOST="localhost").status_code == 200


def test_pages_carry_a_content_security_policy(settings):
    settings.EMBED_ORIGINS = ["https://shop.example.com"]
    shop = make_shop()
    agent = make_staff(shop)
    make_seat(shop, operator=agent)
    client = Client()
    login = client.get("/desk/login")
    policy = login["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy and login["X-Frame-Options"] == "DENY"
    assert "onchange=" not in login.content.decode()  # no inline handler the policy would block
    client.force_login(agent.user)
    assert "script-src 'self'" in client.get("/desk")["Content-Security-Policy"]
    chat = Client().get(f"/s/{shop.slug}/chat")
    assert chat["Content-Security-Policy"].endswith("frame-ancestors 'self' https://shop.example.com")
    assert "X-Frame-Options" not in chat


def test_widget_iframe_url_comes_from_public_url_not_host(settings):
    shop = make_shop()
    settings.PUBLIC_URL = "https://desk.example.com"
    response = Client().get(f"/s/{shop.slug}/widget.js", HTTP_HOST="localhost")
    body = response.content.decode()
    assert f'"https://desk.example.com/s/{shop.slug}/chat?embed=1"' in body and "localhost" not in body
    settings.PUBLIC_URL = ""
    response = Client().get(f"/s/{shop.slug}/widget.js", HTTP_HOST="localhost")
    assert "public" not in response["Cache-Control"] and "Host" in response["Vary"]


def _settings_in_subprocess(tmp_path, **env) -> dict:
    code = ("import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
            "'session': s.SESSION_COOKIE_SECURE, 'csrf': s.CSRF_COOKIE_SECURE, 'hsts': s.SECURE_HSTS_SECONDS, "
            "'proxy': list(getattr(s, 'SECURE_PROXY_SSL_HEADER', None) or []), 'hosts': s.ALLOWED_HOSTS}))")
    full = {**os.environ, "XIAOER_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "xiaoer.settings",
            "PYTHONPATH": str(ROOT), **env}
    for name in ("PUBLIC_URL", "XIAOER_PUBLIC_URL", "ALLOWED_HOSTS", "XIAOER_ALLOWED_HOSTS"):
        if name not in env:
            full.pop(name, None)
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_https_deployment_settings(tmp_path):
    plain = _settings_in_subprocess(tmp_path)
    assert plain["session"] is False and plain["hsts"] == 0 and plain["proxy"] == []
    assert "*" not in plain["hosts"] and {"127.0.0.1", "localhost"} <= set(plain["hosts"])
    https = _settings_in_subprocess(tmp_path, XIAOER_PUBLIC_URL="https://desk.example.com",
                                    XIAOER_HTTPS_PROXY_HEADER="X-Forwarded-Proto: https",
                                    XIAOER_HSTS_SECONDS="31536000")
    assert https["session"] is True and https["csrf"] is True and https["hsts"] == 31536000
    assert https["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
