"""Robot tests run on word matching (no encoder) unless they ask for the real one: each index build
then takes about a second, and the encoder's cost is paid once, in test_encoder.py."""

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
    # argon2 is deliberately slow; these tests create many logins and are not about passwords
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
