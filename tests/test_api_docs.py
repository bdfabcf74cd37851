"""The OpenAPI docs work on a closed network: every script and style comes from this server."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from xiaoer.testing import make_shop, owner_of

pytestmark = pytest.mark.django_db


def test_api_docs_load_only_local_assets():
    client = Client()
    client.force_login(owner_of(make_shop()).user)
    page = client.get("/api/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())
    assert assets and all(a.startswith("/static/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    schema = client.get("/api/openapi.json").json()
    assert "/api/chat/conversations" in schema["paths"]
