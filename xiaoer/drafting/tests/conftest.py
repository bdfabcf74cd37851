"""Drafting tests: a local OpenAI-compatible server per test, the robot on words only."""

from __future__ import annotations

import pytest

from xiaoer.assistant import encoder as enc
from xiaoer.assistant import services as robot
from xiaoer.drafting.tests.fakellm import FakeLlm

API_KEY = "sk-test-very-secret-0042"


@pytest.fixture(autouse=True)
def lexical_only(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    previous = (enc._encoder, enc._loaded)
    enc.set_encoder(None)
    robot.forget_indexes()
    yield
    robot.forget_indexes()
    enc._encoder, enc._loaded = previous


@pytest.fixture
def fake_llm(monkeypatch):
    server = FakeLlm().start()
    monkeypatch.setenv("XIAOER_LLM_BASE_URL", server.url)
    monkeypatch.setenv("XIAOER_LLM_MODEL", "fake-qwen")
    monkeypatch.setenv("XIAOER_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("XIAOER_LLM_TIMEOUT_SECONDS", "1")
    yield server
    server.stop()
