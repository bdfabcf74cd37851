import pytest


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # argon2 is deliberately slow; these tests create many logins and are not about passwords
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
