"""The answer-suggestion engine, free of the database so the eval command and bench use it as is.

For one shop: an intent model (our generic phrasing set plus the shop's own phrasings), a
character and a word TF-IDF index over every canonical question and phrasing, sentence vectors
from the encoder when there is one, and a calibrated "no standard answer fits" decision. How the
pieces combine and were tuned: docs/assistant.md and docs/decisions/031-suggestion-scoring.md.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier

from xiaoer.assistant import context as ctx
from xiaoer.assistant import text as tx
from xiaoer.knowledge.variables import fill

DATA = Path(__file__).with_name("data")
INTENTS = ["greeting", "product_quality", "size_spec", "bargain", "shipping", "after_sales", "payment",
           "order_change", "product_usage", "other", "human"]
INTENT_LABELS = {"greeting": "问候", "product_quality": "质量材质", "size_spec": "尺码规格", "bargain": "议价优惠",
                 "shipping": "发货物流", "after_sales": "售后", "payment": "付款", "order_change": "订单变更",
                 "product_usage": "使用方法", "other": "其他", "human": "转人工"}
MAX_SHOP_INTENT_SAMPLES = 3000  # keeps retraining within seconds for very large knowledge bases
# The encoder costs ~1 ms per token here; shoppers' questions are 5–16 characters (our eval sets'
# p99: 14). Longer parts keep their end, which says what is asked; the word indexes see them whole.
# (E5Encoder cuts again by tokens; this bounds any encoder.)
ENCODER_MAX_CHARS = 32
# punctuation and sentence-final particles: a token each for the encoder, no meaning to match on
_ENCODER_NOISE = re.compile(r"[\s,，.。!！?？~～、:：;；\"'“”‘’()（）\[\]【】…]+|[吗呢啊呀吧哦嘛哈呐]+(?=[\s,，.。!！?？~～]|$)")
NEAR_DUPLICATE = 0.95  # character cosine above which a question repeats a known phrasing
CALIBRATION_SAMPLES = 200  # phrasings asked twice each at a build
CALIBRATION_MIN = 10  # fewer phrasings with a sibling: keep the global threshold
NULL_SHARE = 0.3  # weight of "nothing fits" among the calibration cases
SEARCH_DIMS = 128  # sentence vectors are searched in their top 128 directions (principal_directions)
HUMAN_CUE = re.compile(r"人工|真人|活人|人类|客服|主管|店长|老板|负责人|机器|自动回复|换人|转接|投诉|找人|叫人|来个人|"
                       r"跟人|和人|说人话|有人吗|human|agent")


@dataclass
class Entry:
    code: str
    category: str
    question: str
    answer: str
    similar: list[str] = field(default_factory=list)
    product_code: str = ""
    pk: int | None = None


@dataclass
class ProductInfo:
    code: str
    title: str
    material: str = ""
    usage: str = ""
    precautions: str = ""
    care: str = ""
    suits: str = ""
    not_suits: str = ""
    size_chart: dict = field(default_factory=dict)
    price: str = ""
    stock: int | None = None
    related: list[dict] = field(default_factory=list)  # [{"code", "title", "kind": "related"|"upsell"}]


@dataclass
class Tuning:
    """Weights of the combined score and the reject model; fitted on the dev split (data/tuning.json)."""

    w_char: float = 0.35
    w_word: float = 0.25
    w_emb: float = 0.6
    w_intent: float = 0.25
    emb_floor: float = 0.78  # e5 cosines live in ~[0.75, 1]; rescaled to [0, 1] from here
    reject_coef: list[float] = field(default_factory=lambda: [6.0, 0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 1.0])
    reject_bias: float = -4.0
    reject_threshold: float = 0.5
    bm25_threshold: float = 1.0

    @classmethod
    def load(cls, path: Path | None = None, *, lexical_only: bool = False) -> Tuning:
        """Fitted weights; the words-only robot has its own fit (its scores lack the vector part)."""
        path = path or DATA / ("tuning-lexical.json" if lexical_only else "tuning.json")
        if path.is_file():
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})
        return cls()


# --- generic intent data ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def generic_intent_data() -> tuple[tuple[str, ...], tuple[str, ...]]:
    texts, labels = [], []
    with (DATA / "intent_train.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(row["intent"])
    return tuple(texts), tuple(labels)


class FastTfidf:
    """transform() for one text of a fitted TfidfVectorizer (sublinear tf, l2 norm) without
    sklearn's per-call validation, which cost more than the arithmetic on the hot path."""

    def __init__(self, vectorizer: TfidfVectorizer):
        self.analyze = vectorizer.build_analyzer()
        self.vocab = vectorizer.vocabulary_
        self.idf = vectorizer.idf_
        self.size = len(self.vocab)

    def transform(self, text: str) -> sparse.csr_matrix:
        counts: dict[int, int] = {}
        for term in self.analyze(text):
            col = self.vocab.get(term)
            if col is not None:
                counts[col] = counts.get(col, 0) + 1
        if not counts:
            return sparse.csr_matrix((1, self.size))
        cols = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[cols]
        vals /= np.linalg.norm(vals) or 1.0
        order = np.argsort(cols)
        return sparse.csr_matrix((vals[order], cols[order], np.asarray([0, len(cols)])), shape=(1, self.size))


def _emb_rescale(sims: np.ndarray, floor: float) -> np.ndarray:
    return np.clip((sims - floor) / (1.0 - floor), 0.0, 1.0)


def principal_directions(vectors: np.ndarray, dims: int) -> np.ndarray | None:
    """The top ``dims`` directions of the (uncentred) vectors, so cosines survive the projection.

    Searching 30,000 phrasings is a matrix-vector product that reads every vector: at 384 floats
    that is memory-bound (~4 ms here); at 128 it stays in cache (~0.6 ms)."""
    if dims <= 0 or dims >= vectors.shape[1] or len(vectors) < dims:
        return None
    gram = vectors.T.astype(np.float64) @ vectors.astype(np.float64)
    _values, directions = np.linalg.eigh(gram)  # ascending
    return np.ascontiguousarray(directions[:, ::-1][:, :dims], dtype=np.float32)


def _project(vectors: np.ndarray, projection: np.ndarray | None) -> np.ndarray:
    if projection is None:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    out = vectors @ projection
    out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
    return np.ascontiguousarray(out, dtype=np.float32)


class IntentModel:
    """Logistic regression over character n-grams, plus sentence vectors when an encoder is present."""

    def __init__(self, texts: list[str], labels: list[str], vectors: np.ndarray | None,
                 weights: np.ndarray | None = None):
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1,
                                    max_features=60000)
        lex = [tx.lexical(t) or t for t in texts]
        x = self.char.fit_transform(lex)
        self.fast = FastTfidf(self.char)
        self.use_vectors = vectors is not None
        if self.use_vectors:
            x = sparse.hstack([x, sparse.csr_matrix(vectors * 1.5)]).tocsr()
        # SGD on the logistic loss: the same model as LogisticRegression, trained ~20x faster, which
        # keeps a retrain after a knowledge change well under a second.
        self.model = SGDClassifier(loss="log_loss", alpha=2e-5, max_iter=25, tol=None, average=True,
                                   class_weight="balanced", random_state=0)
        self.model.fit(x, labels, sample_weight=weights)
        self.classes = [str(c) for c in self.model.classes_]
        n_words = len(self.char.vocabulary_)
        self._coef_words = sparse.csr_matrix(self.model.coef_[:, :n_words].T)
        self._coef_vector = np.ascontiguousarray(self.model.coef_[:, n_words:].T, dtype=np.float32)
        self._intercept = self.model.intercept_.copy()

    def proba(self, lex: str, vector: np.ndarray | None) -> dict[str, float]:
        scores = (self.fast.transform(lex) @ self._coef_words).toarray().ravel() + self._intercept
        if self.use_vectors and vector is not None:
            scores += (vector.ravel() * 1.5) @ self._coef_vector
        # what predict_proba does for one-vs-rest log loss, without sklearn's per-call input checks
        probs = 1.0 / (1.0 + np.exp(-scores))
        probs /= probs.sum() or 1.0
        return dict(zip(self.classes, probs.tolist(), strict=True))


# --- size recommendation ---------------------------------------------------------------------------
_DIM_LABELS = {"height": ("身高", "cm"), "weight": ("体重", "kg"), "foot": ("脚长", "cm")}


def recommend_size(m: tx.Measures, chart: dict) -> dict | None:
    """A size from the chart for the shopper's measures, with the reason in words."""
    if not m or not chart:
        return None
    values = {"height": m.height_cm, "weight": m.weight_kg, "foot": m.foot_cm}
    sizes = list(chart.keys())
    best_by_dim: dict[str, tuple[int, float]] = {}
    for dim, value in values.items():
        if value is None:
            continue
        scored = []
        for index, size in enumerate(sizes):
            rng = chart[size].get(dim)
            if not rng:
                continue
            lo, hi = rng
            gap = 0.0 if lo <= value <= hi else min(abs(value - lo), abs(value - hi))
            scored.append((gap, -index))
        if scored:
            gap, neg_index = min(scored)
            best_by_dim[dim] = (-neg_index, gap)
    if not best_by_dim:
        return None
    chosen = max(index for index, _gap in best_by_dim.values())
    size = sizes[chosen]
    parts, notes = [], []
    for dim, (index, gap) in best_by_dim.items():
        label, unit = _DIM_LABELS[dim]
        lo, hi = chart[sizes[index]][dim]
        value = values[dim]
        if gap == 0:
            parts.append(f"{label}{value:g}{unit}在{sizes[index]}码范围（{lo:g}–{hi:g}）")
        else:
            side = "超出" if value > hi else "低于"
            parts.append(f"{label}{value:g}{unit}{side}尺码表（最接近{sizes[index]}码 {lo:g}–{hi:g}）")
            notes.append(dim)
    reason = "，".join(parts)
    if len({index for index, _gap in best_by_dim.values()}) > 1:
        reason += f"；两项对应的码不同，按较大的{size}码选更舒适"
    if notes:
        reason += "；不在尺码表范围内，建议客服确认"
    return {"size": size, "reason": reason, "exact": not notes}


# --- product facts ---------------------------------------------------------------------------------
FACT_RULES = [
    ("material", "材质", r"面料|纯棉|棉的|化纤|涂层|内胆|不锈钢|做的|真皮|含棉|羊毛|材料"),
    ("care", "保养", r"洗|熨|烫|烘干|保养|打理|晾|清理|清洁"),
    ("usage", "用途/用法", r"怎么用|使用|用法|操作|安装|搭配|怎么穿|怎么搭|预约|定时"),
    ("precautions", "注意事项", r"注意|安全|禁忌|小心|电压|过敏"),
    ("suits", "适合", r"适合|孕妇|小孩|孩子|老人|敏感|学生|胖|瘦|能穿吗|能用吗"),
    ("not_suits", "不适合", r"适合|孕妇|小孩|孩子|老人|敏感|胖|能穿吗|能用吗"),
    ("price", "价格", r"价格|优惠|贵"),
    ("stock", "页面库存", r"有货|库存|现货|缺货|还有吗"),
]


def product_facts(lex: str, product: ProductInfo | None) -> list[dict]:
    if product is None:
        return []
    facts = []
    for key, label, pattern in FACT_RULES:
        value = getattr(product, key, "")
        if value in ("", None):
            continue
        if re.search(pattern, lex):
            facts.append({"field": key, "label": label, "text": str(value)[:500]})
    if product.size_chart and re.search(r"码|尺寸|胸围|腰围|衣长|身高|体重|大小", lex):
        rows = [f"{size}: " + "，".join(f"{_DIM_LABELS.get(d, (d, ''))[0]}{lo:g}–{hi:g}" for d, (lo, hi) in dims.items())
                for size, dims in product.size_chart.items()]
        facts.append({"field": "size_chart", "label": "尺码表", "text": "；".join(rows)[:800]})
    return facts


def encoder_text(text: str, shop_words: tx.ShopWords) -> str:
    """What the sentence encoder sees: normalised, product titles masked (the word index matches
    those; the vector should say what is asked), capped in length (its cost is per token)."""
    plain = shop_words.mask(tx.normalize(text) or text)
    return (_ENCODER_NOISE.sub("", plain) or plain)[-ENCODER_MAX_CHARS:]


# --- the index -------------------------------------------------------------------------------------
def _tokenizer_for(shop_words: tx.ShopWords):
    def tokenize(text: str) -> list[str]:
        return tx.words(text, shop_words)
    return tokenize


class ShopIndex:
    """Everything the robot needs for one shop, rebuilt when its knowledge changes."""

    def __init__(self, entries: list[Entry], *, encoder=None, shop_words: list[str] | None = None,
                 tuning: Tuning | None = None, generic_vectors: np.ndarray | None = None):
        started = time.perf_counter()
        self.tuning = tuning or Tuning.load(lexical_only=encoder is None)
        # for suggestions made without the encoder when the robot is behind (suggest(use_encoder=False))
        self.words_tuning = self.tuning if encoder is None else Tuning.load(lexical_only=True)
        self.encoder = encoder
        self.entries = [e for e in entries if e.question.strip() and e.answer.strip()]
        self.by_code = {e.code: e for e in self.entries}
        self.shop_words = tx.ShopWords(shop_words or [])
        self.phrase_entry: list[int] = []
        phrases: list[str] = []
        for pos, entry in enumerate(self.entries):
            for p in dict.fromkeys([entry.question, *entry.similar]):
                if p.strip():
                    phrases.append(p)
                    self.phrase_entry.append(pos)
        self.n_phrases = len(phrases)
        self._zeros = np.zeros(self.n_phrases)
        lex = [tx.lexical(p) or p for p in phrases]
        self.char_vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 2), sublinear_tf=True)
        self.word_vec = TfidfVectorizer(tokenizer=_tokenizer_for(self.shop_words), lowercase=False,
                                        token_pattern=None, sublinear_tf=True)
        if phrases:
            self.char_m = self.char_vec.fit_transform(lex).T.tocsr()
            self.char_fast = FastTfidf(self.char_vec)
            try:
                self.word_m = self.word_vec.fit_transform(lex).T.tocsr()
                self.word_fast = FastTfidf(self.word_vec)
            except ValueError:  # no words at all (every phrasing a stopword)
                self.word_m = None
        else:
            self.char_m = self.word_m = None
        self.vectors = None
        if encoder is not None and phrases:
            self.vectors = encoder.encode([self.encoder_text(p) for p in phrases])
        self.entry_cat = [e.category for e in self.entries]
        self._cat_names = sorted(set(self.entry_cat))
        cat_pos = {c: i for i, c in enumerate(self._cat_names)}
        self._entry_cat_idx = np.asarray([cat_pos[c] for c in self.entry_cat], dtype=np.int64)
        self.intent = self._train_intent(phrases, generic_vectors)
        self.projection = self.search_vectors = None
        if self.vectors is not None:
            self.projection = principal_directions(self.vectors, SEARCH_DIMS)
            self.search_vectors = _project(self.vectors, self.projection)
        self._phrase_lex = lex
        self.calibration = self._calibrate()
        self.build_seconds = time.perf_counter() - started

    def with_phrasing(self, question: str, code: str) -> ShopIndex:
        """A copy of the index where ``question`` is one more phrasing of answer ``code``: what an
        agent's confirmed reply teaches, in milliseconds rather than a rebuild's seconds.

        Copy-on-write: suggestions running on this index meanwhile keep a consistent one. The word
        and character vocabularies stay those of the last build (a new word counts from then on);
        the intent model and the calibration too."""
        entry = next((pos for pos, e in enumerate(self.entries) if e.code == code), None)
        lex = tx.lexical(question) or question
        if entry is None or not question.strip() or self.char_m is None:
            return self
        new = copy.copy(self)
        new.phrase_entry = [*self.phrase_entry, entry]
        new._phrase_lex = [*self._phrase_lex, lex]
        new.n_phrases = self.n_phrases + 1
        new._zeros = np.zeros(new.n_phrases)
        new.char_m = sparse.hstack([self.char_m, self.char_fast.transform(lex).T]).tocsr()
        if self.word_m is not None:
            new.word_m = sparse.hstack([self.word_m, self.word_fast.transform(lex).T]).tocsr()
        if self.vectors is not None and self.encoder is not None:
            vector = self.encoder.encode([self.encoder_text(question)])
            new.vectors = np.vstack([self.vectors, vector])
            new.search_vectors = np.vstack([self.search_vectors, _project(vector, self.projection)])
        return new

    # -- the reject threshold, calibrated on the shop's own phrasings (docs/decisions/165) --
    def _calibrate(self) -> dict[str, float]:
        """Per-KB reject thresholds from leave-one-out over the KB's own phrasings.

        Each sampled phrasing is asked twice: with only itself left out (its answer still has other
        phrasings: the robot should find it — a right answer when the top is that answer) and with
        its whole answer left out (nothing fits now: the robot should say so). The threshold on the
        confidence that decides these cases best is this KB's; the global reject model (fitted on
        our questions) only orders the cases. Needs no labelled question of the shop."""
        owners = np.asarray(self.phrase_entry, dtype=np.int64)
        counts = np.bincount(owners, minlength=len(self.entries)) if self.n_phrases else np.zeros(0)
        pool = [i for i in range(self.n_phrases) if counts[owners[i]] >= 2]
        if len(pool) < CALIBRATION_MIN or len(self.entries) < 5 or self.char_m is None:
            return {}
        rng = np.random.default_rng(0)
        sample = sorted(rng.choice(pool, min(len(pool), CALIBRATION_SAMPLES), replace=False).tolist())
        cases: dict[str, list[tuple[float, int, bool]]] = {"encoder": [], "words": []}
        chars, words = self.char_m.T.tocsr(), self.word_m.T.tocsr() if self.word_m is not None else None
        for start in range(0, len(sample), 50):
            # similarities of 50 sampled phrasings to all at once (bounded memory on a large KB)
            chunk = sample[start:start + 50]
            char_all = (chars[chunk] @ self.char_m).toarray()
            word_all = (words[chunk] @ self.word_m).toarray() if words is not None else None
            emb_all = self.search_vectors[chunk] @ self.search_vectors.T if self.search_vectors is not None else None
            for row, i in enumerate(chunk):
                self._calibration_cases(i, owners, char_all[row],
                                        word_all[row] if word_all is not None else self._zeros,
                                        emb_all[row] if emb_all is not None else None, cases)
        # Half the KB's own threshold, half the global one: the leave-one-out cases are the shop's
        # phrasings, not its shoppers' questions, and a flat optimum moves with a few cases.
        prior = {"encoder": self.tuning.reject_threshold, "words": self.words_tuning.reject_threshold}
        return {name: round((_best_threshold(rows) + prior[name]) / 2, 3) for name, rows in cases.items() if rows}

    def _calibration_cases(self, i: int, owners: np.ndarray, char_s: np.ndarray, word_s: np.ndarray,
                           emb_raw: np.ndarray | None, cases: dict[str, list[tuple[float, int, bool]]]) -> None:
        """Phrasing ``i`` asked with only itself, then with its whole answer, left out."""
        own, whole = np.zeros(self.n_phrases, dtype=bool), owners == owners[i]
        own[i] = True
        for name, t in (("encoder", self.tuning), ("words", self.words_tuning)):
            with_vectors = name == "encoder" and emb_raw is not None
            if name == "encoder" and not with_vectors:
                continue
            probs = self.intent.proba(self._phrase_lex[i], self.vectors[i] if with_vectors else None)
            emb_s = _emb_rescale(emb_raw, t.emb_floor) if with_vectors else self._zeros
            for leave_out, fits in ((own, True), (whole, False)):
                cands = self._rank(char_s, word_s, emb_s, probs, t, exclude=leave_out)
                right = fits and bool(cands) and cands[0]["entry"] == owners[i]
                conf = self._confidence({"candidates": cands, "probs": probs, "tuning": t})
                cases[name].append((conf, int(right), fits))

    def threshold(self, tuning: Tuning) -> float:
        """The reject threshold for scores made with ``tuning``: the KB's own when calibrated."""
        name = "encoder" if tuning is self.tuning and self.encoder is not None else "words"
        return self.calibration.get(name, tuning.reject_threshold)

    def _train_intent(self, phrases: list[str], generic_vectors: np.ndarray | None) -> IntentModel:
        g_texts, g_labels = generic_intent_data()
        texts, labels = list(g_texts), list(g_labels)
        shop = [(p, self.entries[self.phrase_entry[i]].category) for i, p in enumerate(phrases)]
        shop_idx = list(range(len(shop)))
        if len(shop_idx) > MAX_SHOP_INTENT_SAMPLES:
            rng = np.random.default_rng(0)
            shop_idx = sorted(rng.choice(len(shop_idx), MAX_SHOP_INTENT_SAMPLES, replace=False).tolist())
        texts += [shop[i][0] for i in shop_idx]
        labels += [shop[i][1] for i in shop_idx]
        weights = np.asarray([1.0] * len(g_texts) + [2.0] * len(shop_idx))
        vectors = None
        if self.encoder is not None:
            gv = generic_vectors
            if gv is None:
                from xiaoer.assistant.data import build_vectors

                gv = build_vectors.load(self.encoder.name)
            if gv is None:  # another encoder: encode our phrasing set once (its cache keeps them)
                gv = self.encoder.encode(build_vectors.generic_encoder_texts())
            sv = self.vectors[shop_idx] if self.vectors is not None and shop_idx else \
                np.zeros((0, gv.shape[1]), dtype=np.float32)
            vectors = np.vstack([gv, sv])
        return IntentModel(texts, labels, vectors, weights)

    def encoder_text(self, text: str) -> str:
        return encoder_text(text, self.shop_words)

    # -- scoring one question --
    def _lexical_scores(self, raw: str) -> tuple[str, np.ndarray, np.ndarray]:
        """The normalised text and its character and word similarity to every phrasing."""
        lex = tx.lexical(raw)
        char_s = word_s = self._zeros
        if self.n_phrases and lex:
            q = self.char_fast.transform(lex)
            if q.nnz:
                char_s = (q @ self.char_m).toarray().ravel()
            if self.word_m is not None:
                qw = self.word_fast.transform(lex)
                if qw.nnz:
                    word_s = (qw @ self.word_m).toarray().ravel()
        return lex, char_s, word_s

    def known_vector(self, lexical: tuple[str, np.ndarray, np.ndarray]) -> np.ndarray | None:
        """The stored vector of a phrasing the question repeats almost to the character: the encoder
        would give (nearly) the same one, at ~1 ms a token (docs/decisions/035)."""
        _lex, char_s, _word_s = lexical
        if self.vectors is None or not len(char_s):
            return None
        best = int(np.argmax(char_s))
        return self.vectors[best] if char_s[best] >= NEAR_DUPLICATE else None

    def _score_one(self, raw: str, vector: np.ndarray | None,
                   lexical: tuple[str, np.ndarray, np.ndarray] | None = None, tuning: Tuning | None = None) -> dict:
        lex, char_s, word_s = lexical or self._lexical_scores(raw)
        t = tuning or self.tuning
        probs = self.intent.proba(lex, vector)
        result = {"text": raw[:200], "lex": lex, "probs": probs, "candidates": [], "tuning": t}
        if not self.n_phrases or not lex:
            return result
        emb_s = self._zeros
        if self.search_vectors is not None and vector is not None:
            query = _project(vector.reshape(1, -1), self.projection).ravel()
            emb_s = _emb_rescale(self.search_vectors @ query, t.emb_floor)
        result["candidates"] = self._rank(char_s, word_s, emb_s, probs, t)
        return result

    def _rank(self, char_s: np.ndarray, word_s: np.ndarray, emb_s: np.ndarray, probs: dict[str, float],
              t: Tuning, exclude: np.ndarray | None = None) -> list[dict]:
        """The three best answers: each answer's best phrasing, plus the intent prior. ``exclude``:
        phrasings to leave out (the leave-one-out calibration, ``_calibrate``)."""
        combo = t.w_char * char_s + t.w_word * word_s + t.w_emb * emb_s
        if exclude is not None:
            combo = np.where(exclude, -10.0, combo)
        # the best phrasing of each answer among the 200 best phrasings, then the intent prior
        k = min(len(combo), 200)
        head = np.argpartition(-combo, k - 1)[:k] if len(combo) > k else np.arange(len(combo))
        best_of: dict[int, int] = {}
        for i in head[np.argsort(-combo[head])].tolist():
            best_of.setdefault(self.phrase_entry[i], i)
        entries = np.fromiter(best_of.keys(), dtype=np.int64, count=len(best_of))
        phrases = np.fromiter(best_of.values(), dtype=np.int64, count=len(best_of))
        cat_probs = np.asarray([probs.get(c, 0.0) for c in self._cat_names])
        cat_p = cat_probs[self._entry_cat_idx[entries]]
        scores = combo[phrases] + t.w_intent * cat_p
        candidates = []
        for j in np.argsort(-scores)[:3].tolist():
            i = int(phrases[j])
            if combo[i] <= -10.0:
                break
            candidates.append({"entry": int(entries[j]), "score": float(scores[j]), "char": float(char_s[i]),
                               "word": float(word_s[i]), "emb": float(emb_s[i]), "p_cat": float(cat_p[j])})
        return candidates

    def _confidence(self, res: dict) -> float:
        cands = res["candidates"]
        if not cands:
            return 0.0
        top = cands[0]
        probs = res["probs"]
        best_intent = max(probs, key=probs.get)
        margin = top["score"] - (cands[1]["score"] if len(cands) > 1 else 0.0)
        feats = [top["score"], top["char"], top["word"], top["emb"], top["p_cat"], margin, probs[best_intent],
                 1.0 if best_intent == self.entry_cat[top["entry"]] else 0.0]
        t = res["tuning"]
        z = t.reject_bias + sum(c * f for c, f in zip(t.reject_coef, feats, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def suggest(self, text: str, *, product: ProductInfo | None = None, values: dict | None = None,
                use_encoder: bool = True, context: ctx.Context | None = None) -> dict:
        """Intent, top-3 answers (variables filled), product facts, size advice; never raises on text.

        ``use_encoder=False``: words only (~1 ms instead of ~15), scored with the words-only fit;
        for when the robot is behind (services.handle_shopper_message). ``context``: the turns
        before the message, to read fragments with (assistant/context.py)."""
        started = time.perf_counter()
        text = (text or "")[:5000]
        if context is None:
            return self._suggest(text, product, values, use_encoder, started)
        reading = ctx.read(text, context)
        about = {"kind": reading.kind, "about": reading.about[:200]}
        if reading.new_question and reading.text:
            out = self._suggest(reading.text, product, {**(values or {}), **reading.values}, use_encoder, started)
            out["text"] = text[:200]
            if reading.kind == "order_number":  # the number alone: the earlier question is what is asked
                out["measures"] = {}
                out["size"] = None
                out["answers"] = [a for a in out["answers"] if a["id"] != "size"]
            out["context"] = about
            return out
        # Not a new question (an answer to the agent, 好的, an address, a number with nothing before
        # it): nothing from the knowledge base to suggest or send; size advice stays when the reply
        # gave measures the product's chart answers (the agent asked for them).
        out = self._suggest(text, product, values, False, started)
        out["answers"] = [a for a in out["answers"] if a["id"] == "size"]
        out["others"], out["reject"], out["handoff"], out["confidence"], out["busy"] = [], True, False, 0.0, False
        intent = reading.intent or out["intent"]
        out["intent"], out["intent_label"] = intent, INTENT_LABELS.get(intent, intent)
        out["context"] = about
        return out

    def _suggest(self, text: str, product: ProductInfo | None, values: dict | None, use_encoder: bool,
                 started: float) -> dict:
        text = (text or "")[:5000]
        parts = tx.split_questions(text)[:4]
        measures = tx.measures(text)
        encode = use_encoder and self.encoder is not None
        tuning = None if encode else self.words_tuning
        if len(parts) == 1:
            lexical = self._lexical_scores(parts[0])
            vector = self.known_vector(lexical) if encode else None
            if vector is None and encode:
                vector = self._encode(parts[0])
            scored = [self._scored(parts[0], measures, vector, lexical, tuning)]
            main = scored[0]
        else:
            # several questions: words pick the main one, then only it pays for the encoder
            scored = [self._scored(part, measures, None, None, self.words_tuning) for part in parts]
            main_pos = scored.index(self._pick_main(scored))
            if encode:
                scored[main_pos] = self._scored(parts[main_pos], measures, self._encode(parts[main_pos]))
            main = scored[main_pos]
        out = self._render(main, product, values or {}, measures)
        out["others"] = [self._brief(r, values or {}, product) for r in scored
                         if r is not main and r["lex"] and self._best_intent(r) != "greeting"]
        out["ms"] = round((time.perf_counter() - started) * 1000, 2)
        out["busy"] = not use_encoder and self.encoder is not None  # encoder skipped to catch up
        return out

    def _encode(self, part: str) -> np.ndarray | None:
        if self.encoder is None:
            return None
        text = self.encoder_text(part)
        return self.encoder.encode([text])[0] if text.strip() else None

    def _scored(self, part: str, measures: tx.Measures, vector: np.ndarray | None,
                lexical: tuple[str, np.ndarray, np.ndarray] | None = None, tuning: Tuning | None = None) -> dict:
        res = self._score_one(part, vector, lexical, tuning)
        self._adjust(res, measures)
        res["confidence"] = self._confidence(res)
        return res

    @staticmethod
    def _best_intent(res: dict) -> str:
        probs = res["probs"]
        return max(probs, key=probs.get) if probs else "other"

    def _adjust(self, res: dict, m: tx.Measures) -> None:
        """Rules on top of the intent model: height+weight means a size question; a hand-off needs
        words that ask for a person (the model alone mistook 我在找找 for 转人工)."""
        probs = dict(res["probs"])
        if m.height_cm is not None and (m.weight_kg is not None or m.foot_cm is not None):
            probs["size_spec"] = probs.get("size_spec", 0.0) + 0.6
        if probs and max(probs, key=probs.get) == "human" and not HUMAN_CUE.search(res["lex"]):
            probs["human"] *= 0.1
        total = sum(probs.values()) or 1.0
        res["probs"] = {k: v / total for k, v in probs.items()}

    def _pick_main(self, scored: list[dict]) -> dict:
        if len(scored) == 1:
            return scored[0]
        real = [r for r in scored if r["lex"] and self._best_intent(r) != "greeting"] or scored
        return max(real, key=lambda r: (r["confidence"], len(r["lex"])))

    def _answer(self, cand: dict, values: dict, product: ProductInfo | None) -> dict:
        entry = self.entries[cand["entry"]]
        vals = dict(values)
        if product is not None and not vals.get("product"):
            vals["product"] = product.title
        filled, missing = fill(entry.answer, vals)
        return {"id": entry.code, "pk": entry.pk, "category": entry.category, "question": entry.question,
                "score": round(cand["score"], 4), "text": filled, "missing": missing}

    def _render(self, res: dict, product: ProductInfo | None, values: dict, m: tx.Measures) -> dict:
        probs = res["probs"]
        confidence = res.get("confidence", 0.0)
        reject = confidence < self.threshold(res["tuning"]) or not res["candidates"]
        best_intent = self._best_intent(res)
        if best_intent == "human" and probs.get("human", 0) >= 0.4:
            reject = True
        answers = [self._answer(c, values, product) for c in res["candidates"]]
        intent = self._fused_intent(res, reject)
        if not res["lex"]:
            intent, reject = "other", True
        size = recommend_size(m, product.size_chart) if product is not None and product.size_chart else None
        if size is not None:
            # The shopper gave the measures and the chart answers them: that advice leads, before
            # any standard answer (which may well ask for the height and weight just given).
            answers.insert(0, size_answer(size))
        return {
            "text": res["text"], "intent": intent, "intent_label": INTENT_LABELS.get(intent, intent),
            "intent_confidence": round(probs.get(intent, 0.0), 4), "confidence": round(confidence, 4),
            "reject": reject, "handoff": best_intent == "human" and probs.get("human", 0) >= 0.4,
            "answers": answers, "facts": product_facts(res["lex"], product), "measures": m.as_dict(),
            "size": size, "product": product.code if product else None,
            "related": product.related[:6] if product is not None else [],
        }

    def _fused_intent(self, res: dict, reject: bool) -> str:
        """The intent model's distribution mixed with the top answer's category, weighted by the
        calibrated chance that the top answer is right: a likely answer carries its category even
        when it falls short of being sent, and an unlikely one leaves the model to decide."""
        probs = res["probs"]
        if not res["candidates"] or (reject and self._best_intent(res) == "human"):
            return self._best_intent(res)
        confidence = res.get("confidence", 0.0)
        mixed = {k: (1.0 - confidence) * v for k, v in probs.items()}
        top_category = self.entry_cat[res["candidates"][0]["entry"]]
        mixed[top_category] = mixed.get(top_category, 0.0) + confidence
        return max(mixed, key=mixed.get)

    def _brief(self, res: dict, values: dict, product: ProductInfo | None) -> dict:
        ok = res["candidates"] and res["confidence"] >= self.threshold(res["tuning"])
        return {"text": res["text"], "intent": self._best_intent(res),
                "answer": self._answer(res["candidates"][0], values, product) if ok else None}


def _best_threshold(cases: list[tuple[float, int, bool]]) -> float:
    """The confidence threshold that decides the calibration cases best: accept exactly the cases
    whose top answer is right. Cases where nothing fits weigh NULL_SHARE of the total, whatever
    their count."""
    conf = np.asarray([c for c, _r, _f in cases])
    right = np.asarray([r for _c, r, _f in cases], dtype=bool)
    fits = np.asarray([f for _c, _r, f in cases], dtype=bool)
    weight = np.where(fits, (1 - NULL_SHARE) / max(fits.sum(), 1), NULL_SHARE / max((~fits).sum(), 1))
    grid = np.linspace(0.05, 0.95, 91)
    scores = [float(weight[(conf >= t) == right].sum()) for t in grid]
    best = max(scores)
    chosen = [t for t, sc in zip(grid, scores, strict=True) if sc >= best - 1e-9]
    return round(float(np.median(chosen)), 3)  # the middle of a flat optimum, not its edge


def size_answer(size: dict) -> dict:
    """The size advice as the first suggestion (id "size"; no standard answer behind it)."""
    return {"id": "size", "pk": None, "category": "size_spec", "question": f"建议尺码 {size['size']}",
            "score": 1.0, "text": f"亲，按您的身高体重建议拍 {size['size']} 码哦～", "missing": [],
            "reason": size["reason"]}


# --- the plain baseline ----------------------------------------------------------------------------
class Bm25Baseline:
    """Okapi BM25 over jieba words of the raw phrasings: what "just search the FAQ" gives.

    The per-(word, phrasing) BM25 weights are precomputed into a sparse matrix, so a query is a
    sum of a few rows."""

    def __init__(self, entries: list[Entry], k1: float = 1.5, b: float = 0.75, threshold: float = 1.0):
        self._cut = tx._tokenizer().lcut
        self.entries = entries
        self.threshold = threshold
        docs, doc_entry = [], []
        for pos, e in enumerate(entries):
            for p in dict.fromkeys([e.question, *e.similar]):
                docs.append(self._tokens(p))
                doc_entry.append(pos)
        self.doc_entry = np.asarray(doc_entry, dtype=np.int64)
        self.vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for d, tokens in enumerate(docs):
            counts: dict[str, int] = {}
            for w in tokens:
                counts[w] = counts.get(w, 0) + 1
            for w, f in counts.items():
                rows.append(self.vocab.setdefault(w, len(self.vocab)))
                cols.append(d)
                tfs.append(f)
        n = max(len(docs), 1)
        lengths = np.asarray([len(d) for d in docs] or [0], dtype=np.float64)
        avgdl = float(lengths.mean()) or 1.0
        rows_a, cols_a, tf = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(tfs, float)
        df = np.bincount(rows_a, minlength=len(self.vocab)).astype(np.float64)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        weights = idf[rows_a] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[cols_a] / avgdl)) if rows else []
        self.matrix = sparse.csr_matrix((weights, (rows_a, cols_a)), shape=(len(self.vocab), len(docs)))

    def _tokens(self, text: str) -> list[str]:
        return [w for w in self._cut(tx.to_half(text).lower()) if w.strip() and any(ch.isalnum() for ch in w)]

    def search(self, text: str) -> list[tuple[int, float]]:
        ids = sorted({self.vocab[w] for w in self._tokens(text or "") if w in self.vocab})
        if not ids:
            return []
        doc_scores = np.asarray(self.matrix[ids].sum(axis=0)).ravel()
        per_entry = np.zeros(len(self.entries))
        np.maximum.at(per_entry, self.doc_entry, doc_scores)
        top = np.argsort(-per_entry)[:3]
        return [(int(e), float(per_entry[e])) for e in top if per_entry[e] > 0]
