"""Test plugins and fixtures shared by every test package (pytest loads this file before collecting)."""

import pytest

pytest_plugins = ["xiaoer.chat.tests.live_server"]


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the site's default language. A request with the English cookie leaves
    English active on the test's thread (LocaleMiddleware activates per request and never resets),
    and a later test calling services directly would get English messages."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
