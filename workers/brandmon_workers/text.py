"""Text risk of a post: the pure scoring core of the text analyzer (no Kafka, no I/O).

Three explainable signals, each in [0, 1], are computed from a post's caption:

- keyword_score = 1 - prod(1 - w_k) over the distinct configured keywords k found in the
  caption (w_k is the keyword's weight). One keyword of weight w scores w; each further
  keyword closes part of the remaining gap; repeats of a keyword do not add up.
- negativity = max(0, -compound), VADER's compound polarity clipped to its negative side
  (0 when sentiment scoring is disabled).
- toxicity = the offensive-language probability of alt-profanity-check's linear model
  (0 when toxicity scoring is disabled).

They combine as a noisy-OR, every signal being independent evidence that a post hurts
the brand:

    score = 1 - (1 - keyword_score) * (1 - s * negativity) * (1 - t * toxicity)

where s and t are the sentiment and toxicity weights of the monitor. So a weight is the
most a signal alone can contribute (t = 0.4: a certainly offensive caption without
keywords scores 0.4), signals reinforce each other without exceeding 1, and a score
never decreases when a signal rises. An empty caption scores 0 everywhere.

Keyword matching ignores case, accents (Unicode NFKD, combining marks dropped, so "cafe"
matches "Café" and compatibility forms such as full-width or mathematical letters fold to
ASCII) and a leading '#'. Text is split into words of letters and digits; everything else
(spaces, punctuation, '_', emoji) separates words, and a phrase matches a run of
consecutive words, so "data breach" matches "Data-breach!" but never "metadata breaches".
A hashtag also matches a multi-word phrase written without its spaces: "#DataBreach" and
"#databreach" match "data breach" (hashtags are where phrases lose their spaces). Mentions
and URLs are ordinary text. `count` is the number of places a keyword was found.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from typing import Any

from brandmon_workers.contract.analysis import AnalysisSpec, Keyword
from brandmon_workers.contract.messages import KeywordHit, Post, TextScore

# Scores depend on the models as much as on this code: a new model version is a new
# analyzer version, so a score can always be traced to what produced it.
ANALYZER_VERSION = (
    f"brandmon-text/1 vaderSentiment/{version('vaderSentiment')}"
    f" alt-profanity-check/{version('alt-profanity-check')}"
)

# A word is a run of letters and digits; '_' separates words like punctuation does, so
# "#data_breach" reads as "data breach". A hashtag is '#' followed by word characters.
_WORD = re.compile(r"[^\W_]+")
_HASHTAG = re.compile(r"#(\w+)")


def _fold(text: str) -> str:
    """Lower-case the text and remove accents and compatibility forms."""
    if text.isascii():  # most captions: NFKD leaves ASCII as it is, with no combining marks
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _words(folded: str) -> list[str]:
    return _WORD.findall(folded)


def normalize(text: str) -> str:
    """Return the text as matching sees it: folded words separated by single spaces."""
    return " ".join(_words(_fold(text)))


@dataclass(frozen=True, slots=True)
class _Term:
    keyword: Keyword
    words: tuple[str, ...]
    compact: str  # the words without spaces, compared with hashtags


class KeywordMatcher:
    """Keywords compiled once, matched against many texts.

    Terms that normalise to the same words (e.g. "Café" and "cafe") are one keyword: the
    first configured one with the highest weight is kept, so a match is never counted
    twice. Terms with no word characters cannot match and are ignored.
    """

    def __init__(self, keywords: Sequence[Keyword]) -> None:
        kept: dict[tuple[str, ...], _Term] = {}
        for keyword in keywords:
            words = tuple(_words(_fold(keyword.term)))
            if not words:
                continue
            current = kept.get(words)
            if current is None or keyword.weight > current.keyword.weight:
                kept[words] = _Term(keyword, words, "".join(words))
        self._terms = list(kept.values())
        self._by_first: dict[str, list[_Term]] = {}
        for term in self._terms:
            self._by_first.setdefault(term.words[0], []).append(term)
        # Single-word terms already match a hashtag through its word; only phrases need
        # the compact comparison, and counting single words there would count them twice.
        self._by_compact = {t.compact: t for t in self._terms if len(t.words) > 1}

    def hits(self, text: str) -> list[KeywordHit]:
        """Return the keywords found in the text, in configuration order, with counts."""
        if not self._terms:
            return []
        folded = _fold(text)
        words = _words(folded)
        counts: dict[tuple[str, ...], int] = {}
        for i, word in enumerate(words):
            for term in self._by_first.get(word, ()):
                if tuple(words[i : i + len(term.words)]) == term.words:
                    counts[term.words] = counts.get(term.words, 0) + 1
        if self._by_compact:
            for body in _HASHTAG.findall(folded):
                # Only a hashtag that is a single word ("#databreach") is compared: one
                # with separators ("#data_breach") already matched word by word.
                compact_term = self._by_compact.get(body)
                if compact_term is not None:
                    counts[compact_term.words] = counts.get(compact_term.words, 0) + 1
        return [
            KeywordHit(term=t.keyword.term, weight=t.keyword.weight, count=counts[t.words])
            for t in self._terms
            if t.words in counts
        ]


def keyword_hits(text: str, keywords: Sequence[Keyword]) -> list[KeywordHit]:
    """Return the keywords found in the text (see the module docstring for the rules)."""
    return KeywordMatcher(keywords).hits(text)


def keyword_score(hits: Sequence[KeywordHit]) -> float:
    """Combine distinct keyword hits: 1 - prod(1 - weight)."""
    return _clip(1.0 - math.prod(1.0 - hit.weight for hit in hits))


# vaderSentiment and alt-profanity-check ship no type information: they are imported
# here and nowhere else. Loading them is lazy because alt-profanity-check unpickles its
# scikit-learn model on import (about a second), which `normalize` callers do not need.
@functools.cache
def _vader() -> Callable[[str], dict[str, float]]:
    from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]  # noqa: PLC0415
        SentimentIntensityAnalyzer,
    )

    analyzer: Any = SentimentIntensityAnalyzer()
    polarity: Callable[[str], dict[str, float]] = analyzer.polarity_scores
    return polarity


@functools.cache
def _profanity() -> Callable[[list[str]], Any]:
    # The model was pickled with the scikit-learn version that the package pins (and the
    # lock file installs), so unpickling raises no InconsistentVersionWarning.
    from profanity_check import predict_prob  # type: ignore[import-untyped]  # noqa: PLC0415

    predict: Callable[[list[str]], Any] = predict_prob
    return predict


def sentiment_compound(text: str) -> float:
    """Return VADER's compound polarity of the text, from -1 to 1 (0 for empty text)."""
    if not text.strip():
        return 0.0
    return max(-1.0, min(1.0, float(_vader()(text)["compound"])))


def negativity(text: str) -> float:
    """Return how negative the text is: max(0, -VADER compound), in [0, 1]."""
    return max(0.0, -sentiment_compound(text))


def toxicity_batch(texts: Sequence[str]) -> list[float]:
    """Return the offensive-language probability of each text, in one model call."""
    result = [0.0] * len(texts)
    present = [i for i, text in enumerate(texts) if text.strip()]
    if present:
        # One call for the whole batch: the model's per-call overhead dominates short
        # texts (one text per call is about 50 times slower).
        probabilities = _profanity()([texts[i] for i in present])
        for i, probability in zip(present, probabilities, strict=True):
            result[i] = _clip(float(probability))
    return result


def combine(
    keyword: float,
    negativity: float,
    toxicity: float,
    sentiment_weight: float,
    toxicity_weight: float,
) -> float:
    """Combine the three signals into the text score (noisy-OR, see the module docstring)."""
    keep = (1.0 - keyword) * (1.0 - sentiment_weight * negativity)
    return _clip(1.0 - keep * (1.0 - toxicity_weight * toxicity))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


class TextScorer:
    """Score posts' captions for one monitor's analysis settings."""

    def __init__(self, analysis: AnalysisSpec) -> None:
        self._analysis = analysis
        self._matcher = KeywordMatcher(analysis.keywords)

    def score_batch(self, posts: Sequence[Post], now: datetime) -> list[TextScore]:
        """Score each post's caption; `now` becomes `scored_at`."""
        sentiment_spec = self._analysis.sentiment
        toxicity_spec = self._analysis.toxicity
        captions = [post.caption for post in posts]
        toxicities = toxicity_batch(captions) if toxicity_spec.enabled else [0.0] * len(posts)
        scores = []
        for post, caption, tox in zip(posts, captions, toxicities, strict=True):
            hits = self._matcher.hits(caption)
            compound = sentiment_compound(caption) if sentiment_spec.enabled else 0.0
            neg = max(0.0, -compound)
            kw = keyword_score(hits)
            scores.append(
                TextScore(
                    post_id=post.post_id,
                    username=post.username,
                    score=combine(kw, neg, tox, sentiment_spec.weight, toxicity_spec.weight),
                    keyword_score=kw,
                    negativity=neg,
                    toxicity=tox,
                    sentiment_compound=compound,
                    keyword_hits=hits,
                    keywords=[hit.term for hit in hits],
                    # The engine waits for this many image scores before it scores the post.
                    media_count=len(post.media_uris),
                    analyzer_version=ANALYZER_VERSION,
                    scored_at=now,
                )
            )
        return scores
