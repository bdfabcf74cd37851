"""Training tests run the robot's index on words only (as the robot's own tests do)."""

from __future__ import annotations

import pytest

from xiaoer.assistant import encoder as enc
from xiaoer.assistant import services


@pytest.fixture(autouse=True)
def lexical_only():
    previous = (enc._encoder, enc._loaded)
    enc.set_encoder(None)
    services.forget_indexes()  # test databases reuse shop ids
    yield
    services.forget_indexes()
    enc._encoder, enc._loaded = previous


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo_shop(db):
    from xiaoer.assistant import demo as assistant_demo
    from xiaoer.testing import make_shop
    from xiaoer.training import demo as training_demo

    shop = make_shop()
    assistant_demo.seed(shop)
    training_demo.seed(shop)
    return shop
