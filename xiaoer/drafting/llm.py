"""A small client for OpenAI-compatible chat completions (hosted models, vLLM, Ollama, llama.cpp).

Plain httpx: a whole completion (sync) and a streamed one (async, for the ASGI workbench). Every failure — timeout, 429, 5xx, a
body that is not the protocol — is one exception, LlmError, whose ``outcome`` the caller logs
and answers with the robot's standard answers instead. The key is sent in a header only; it is
kept out of reprs, exceptions and logs.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from xiaoer.conf import setting


@dataclass(frozen=True)
class LlmConfig:
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout: float = 8.0
    max_tokens: int = 400
    temperature: float = 0.3

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def timeouts(self) -> httpx.Timeout:
        # connect fast or fail fast; each read may wait the whole budget (a model thinking)
        return httpx.Timeout(self.timeout, connect=min(3.0, self.timeout))


class LlmError(Exception):
    """The model did not answer usably. ``outcome``: timeout, rate_limited, server_error, malformed, error."""

    def __init__(self, outcome: str, status_code: int | None = None) -> None:
        super().__init__(outcome if status_code is None else f"{outcome} ({status_code})")
        self.outcome = outcome
        self.status_code = status_code


@dataclass
class Completion:
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    latency_ms: int = 0

    def finish(self) -> Completion:
        self.latency_ms = int(1000 * (time.monotonic() - self.started))
        if not self.completion_tokens and self.text:
            self.completion_tokens = max(1, len(self.text) // 2)  # servers without usage: an estimate
        return self


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every call: httpx builds one per client otherwise, and loading the
    certificate store cost ~90 ms a call here (bench/drafting_bench.py)."""
    return httpx.create_ssl_context()


def deployment_config() -> LlmConfig | None:
    """The deployment's endpoint (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY …), or None when unset."""
    base = str(setting("LLM_BASE_URL", "") or "").strip()
    if not base:
        return None
    return LlmConfig(base_url=base, model=str(setting("LLM_MODEL", "") or "default"),
                     api_key=str(setting("LLM_API_KEY", "") or ""),
                     timeout=float(setting("LLM_TIMEOUT_SECONDS", 8.0)),
                     max_tokens=int(setting("LLM_MAX_TOKENS", 400)))


def _payload(config: LlmConfig, messages: list[dict], stream: bool) -> dict:
    body = {"model": config.model, "messages": messages, "max_tokens": config.max_tokens,
            "temperature": config.temperature, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _check_status(response: httpx.Response) -> None:
    if response.status_code == 429:
        raise LlmError("rate_limited", 429)
    if response.status_code >= 500:
        raise LlmError("server_error", response.status_code)
    if response.status_code >= 400:
        raise LlmError("error", response.status_code)


def _read_usage(result: Completion, usage: object) -> None:
    if isinstance(usage, dict):
        result.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        result.completion_tokens = int(usage.get("completion_tokens") or 0)


def _parse_full(result: Completion, raw: bytes) -> Completion:
    try:
        data = json.loads(raw)
        text = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LlmError("malformed") from exc
    if not isinstance(text, str) or not text.strip():
        raise LlmError("malformed")
    result.text = text
    _read_usage(result, data.get("usage"))
    return result.finish()


def _parse_event(result: Completion, line: str) -> str | None:
    """One server-sent line of a streamed completion: the text it adds ('' for none), None at [DONE]."""
    line = line.strip()
    if not line or line.startswith(":") or not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
        _read_usage(result, chunk.get("usage"))
        choices = chunk.get("choices") or []
        delta = (choices[0].get("delta") or {}).get("content") if choices else ""
    except (ValueError, AttributeError, TypeError) as exc:
        raise LlmError("malformed") from exc
    if delta is not None and not isinstance(delta, str):
        raise LlmError("malformed")
    result.text += delta or ""
    return delta or ""


def _transport_error(exc: httpx.HTTPError) -> LlmError:
    return LlmError("timeout" if isinstance(exc, httpx.TimeoutException) else "error")


def complete(config: LlmConfig, messages: list[dict]) -> Completion:
    """One whole completion (rewrites, the robot's auto-send)."""
    result = Completion()
    try:
        with httpx.Client(timeout=config.timeouts(), verify=_tls()) as client:
            response = client.post(config.url, json=_payload(config, messages, False), headers=config.headers())
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from None
    _check_status(response)
    return _parse_full(result, response.content)


async def astream(config: LlmConfig, messages: list[dict], result: Completion) -> AsyncIterator[str]:
    """The same for the ASGI workbench: text pieces as the model writes them."""
    deadline = result.started + 3 * config.timeout
    try:
        async with httpx.AsyncClient(timeout=config.timeouts(), verify=_tls()) as client, client.stream(
                "POST", config.url, json=_payload(config, messages, True), headers=config.headers()) as response:
            _check_status(response)
            async for line in response.aiter_lines():
                piece = _parse_event(result, line)
                if piece is None:
                    break
                if time.monotonic() > deadline:
                    raise LlmError("timeout")
                if piece:
                    yield piece
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from None
    _finish_stream(result)


def _finish_stream(result: Completion) -> None:
    if not result.text.strip():
        raise LlmError("malformed")  # a stream that ends without a word is no answer
    result.finish()
