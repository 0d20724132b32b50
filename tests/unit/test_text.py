"""Text scoring without Kafka: keyword matching rules, the score formula, batch scoring."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from brandmon_workers import signals, text
from brandmon_workers.contract.analysis import AnalysisSpec, Keyword, SentimentSpec, ToxicitySpec
from brandmon_workers.contract.messages import KeywordHit, Post, Provenance

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def post(caption: str, post_id: str = "p1") -> Post:
    return Post(
        post_id=post_id,
        shortcode="sc",
        username="acme",
        url="https://www.instagram.com/p/sc/",
        caption=caption,
        posted_at=NOW,
        provenance=Provenance(source="ig", collected_at=NOW, collector_version="test"),
    )


def kw(term: str, weight: float = 0.5) -> Keyword:
    return Keyword(term=term, weight=weight)


def counts(caption: str, *keywords: Keyword) -> dict[str, int]:
    return {hit.term: hit.count for hit in text.keyword_hits(caption, keywords)}


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Hello  World", "hello world"),
        ("#Recall now!", "recall now"),
        ("CAFÉ crème", "cafe creme"),
        ("data-breach, data_breach.", "data breach data breach"),
        ("𝐫𝐞𝐜𝐚𝐥𝐥 ＲＥＣＡＬＬ", "recall recall"),  # noqa: RUF001 - look-alike letters are the point
        ("Straße", "strasse"),
        ("  \n\t ", ""),
        ("🔥🔥 @acme_co", "acme co"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert text.normalize(raw) == normalized


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("Product RECALL announced", 1),
        ("#recall", 1),
        ("#Recall #RECALL recall!", 3),
        ("récall", 1),  # accents are ignored on both sides
        ("recalled", 1),  # inflections share the Snowball stem
        ("RECALLS recalling", 2),
        ("r3call", 1),  # look-alike digits inside a word
        ("prerecall", 0),  # whole words only
        ("recall_notice", 1),  # '_' separates words
        ("", 0),
    ],
)
def test_single_word_keyword(caption: str, expected: int) -> None:
    assert counts(caption, kw("recall")).get("recall", 0) == expected


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("a data breach", 1),
        ("Data-Breach!!", 1),
        ("data\n  breach", 1),
        ("#databreach", 1),  # hashtags compare with the phrase's spaces removed
        ("#DataBreach", 1),
        ("#data_breach", 1),  # matched word by word, not counted twice
        ("#databreach and a data breach", 2),
        ("metadata breach", 0),
        ("data breaches", 1),  # inflected
        ("databreach", 0),  # only hashtags lose their spaces
        ("#databreaches", 1),  # split after a known word, then inflected
        ("#bigdatabreach", 0),  # the hashtag does not start with a known word
        ("breach data", 0),
    ],
)
def test_phrase_keyword(caption: str, expected: int) -> None:
    assert counts(caption, kw("data breach")).get("data breach", 0) == expected


@pytest.mark.parametrize(
    ("term", "caption", "expected"),
    [
        ("estafa", "Menuda estafa, dos estafas en un mes", 2),
        ("Klage", "Verbraucherschützer reichen Klagen gegen Acme ein", 1),
        ("fuite", "Encore des fuites chez Acme", 1),
        ("golpe", "Cuidado com os golpes em nome da Acme", 1),
        ("truffa", "Attenzione alle truffe a nome di Acme", 1),
        ("scam", "These scammers use the Acme logo", 0),  # "scammer" is another word
        ("scam", "Another Acme SCAM!!! #scam", 2),
        ("fuck", "f*ck acme", 1),  # masked letters are filled from the keywords too
    ],
)
def test_keywords_match_inflections_in_the_caption_language(
    term: str, caption: str, expected: int
) -> None:
    assert counts(caption, kw(term)).get(term, 0) == expected


@pytest.mark.parametrize(
    ("term", "caption", "expected"),
    [
        ("情報漏洩", "アクメで情報漏洩が発生しました", 1),  # Japanese: no spaces between words
        ("数据泄露", "Acme 数据 泄露 事件", 1),  # spaces inside the phrase are ignored
        ("รั่วไหล", "ข้อมูลลูกค้ารั่วไหล", 1),  # Thai
        ("情報漏洩", "アクメは安全です", 0),
    ],
)
def test_unspaced_scripts_match_substrings(term: str, caption: str, expected: int) -> None:
    assert counts(caption, kw(term)).get(term, 0) == expected


def test_keyword_terms_are_normalized_like_text() -> None:
    assert counts("data breach and recall", kw("#Recall"), kw("DATA  breach")) == {
        "#Recall": 1,
        "DATA  breach": 1,
    }
    assert counts("creme brulee", kw("Crème Brûlée")) == {"Crème Brûlée": 1}


def test_hits_follow_configuration_order_and_carry_weights() -> None:
    hits = text.keyword_hits("scam! recall, scam", [kw("recall", 0.4), kw("scam", 0.9)])
    assert hits == [
        KeywordHit(term="recall", weight=0.4, count=1),
        KeywordHit(term="scam", weight=0.9, count=2),
    ]


def test_terms_equal_after_normalization_count_once_with_the_highest_weight() -> None:
    hits = text.keyword_hits("Café", [kw("café", 0.3), kw("cafe", 0.7), kw("CAFE", 0.7)])
    assert hits == [KeywordHit(term="cafe", weight=0.7, count=1)]


def test_terms_without_words_never_match() -> None:
    assert text.keyword_hits("!!! ###", [kw("!!!"), kw("#")]) == []


def test_keyword_score_is_a_noisy_or_of_distinct_terms() -> None:
    assert text.keyword_score([]) == 0.0
    one = [KeywordHit(term="a", weight=0.6, count=5)]
    assert text.keyword_score(one) == pytest.approx(0.6)  # repeats add nothing
    two = [*one, KeywordHit(term="b", weight=0.5, count=1)]
    assert text.keyword_score(two) == pytest.approx(1 - 0.4 * 0.5)
    assert text.keyword_score([*two, KeywordHit(term="c", weight=1.0, count=1)]) == 1.0


@pytest.mark.parametrize(
    ("kw_score", "neg", "tox", "expected"),
    [
        (0.0, 0.0, 0.0, 0.0),
        (0.0, 1.0, 0.0, 0.3),  # a weight is what its signal alone can contribute
        (0.0, 0.0, 1.0, 0.4),
        (0.0, 1.0, 1.0, 1 - 0.7 * 0.6),
        (0.5, 0.5, 0.5, 1 - 0.5 * 0.85 * 0.8),
        (1.0, 0.0, 0.0, 1.0),
    ],
)
def test_combine(kw_score: float, neg: float, tox: float, expected: float) -> None:
    assert text.combine(kw_score, neg, tox, 0.3, 0.4) == pytest.approx(expected)


def test_combine_stays_in_range_and_never_decreases() -> None:
    grid = [i / 4 for i in range(5)]
    for a in grid:
        for b in grid:
            for c in grid:
                value = text.combine(a, b, c, 1.0, 1.0)
                assert 0.0 <= value <= 1.0
                assert value >= max(a, b, c) - 1e-12


def test_negativity_and_toxicity_helpers() -> None:
    assert text.negativity("") == 0.0
    assert text.negativity("I love this, wonderful!") < 0.2
    assert 0.7 < text.negativity("Terrible, awful scam. I hate it.") <= 1.0
    # Spanish has 1,838 training tweets: ranked right, with less confidence than English.
    spanish_bad = text.negativity("Servicio pésimo, estoy harto de esta empresa")
    assert spanish_bad > text.negativity("Me encanta, servicio excelente, gracias") + 0.3
    toxic = text.toxicity_batch(
        ["", "have a lovely day", "you are a fucking idiot", "you are a f***ing 1d10t"]
    )
    assert toxic[0] == 0.0
    assert toxic[1] < 0.5 < toxic[2] <= 1.0
    assert toxic[3] > 0.5  # obfuscation is undone before the model reads the text


def test_score_batch_fills_every_field() -> None:
    spec = AnalysisSpec(keywords=[kw("recall", 0.6), kw("data breach", 0.5)])
    (score,) = text.TextScorer(spec).score_batch(
        [post("Awful: another #DataBreach and a recall. Recall!")], NOW
    )
    assert score.post_id == "p1"
    assert score.username == "acme"
    assert score.keywords == ["recall", "data breach"]
    assert [h.count for h in score.keyword_hits] == [2, 1]
    assert score.keyword_score == pytest.approx(1 - 0.4 * 0.5)
    assert score.sentiment_compound < 0
    assert 0.3 < score.negativity <= 1.0
    assert 0.0 <= score.toxicity <= 1.0
    categories = {c.category: c for c in score.risk_categories}
    assert set(categories) == {"product_safety", "data_security"}
    assert categories["data_security"].evidence == ["data breach"]
    assert categories["product_safety"].strong
    assert categories["product_safety"].label == "product safety"
    both = [categories["product_safety"].score, categories["data_security"].score]
    assert score.risk_score == pytest.approx(1 - (1 - both[0]) * (1 - both[1]))
    spec_weights = (spec.sentiment.weight, spec.toxicity.weight)
    expected = text.combine(
        score.keyword_score,
        score.negativity,
        score.toxicity,
        *spec_weights,
        risk=score.risk_score,
        learned=text.learned_contribution(score.learned_risk),
    )
    assert score.score == pytest.approx(expected)
    assert score.language == "en"
    assert score.analyzer_version == text.ANALYZER_VERSION
    assert score.scored_at == NOW


@pytest.mark.parametrize("caption", ["", "   \n "])
def test_empty_caption_scores_zero(caption: str) -> None:
    (score,) = text.TextScorer(AnalysisSpec(keywords=[kw("x")])).score_batch([post(caption)], NOW)
    assert (score.score, score.keyword_score, score.negativity, score.toxicity) == (0, 0, 0, 0)
    assert score.sentiment_compound == 0.0
    assert score.keyword_hits == []


def test_disabled_signals_score_zero_and_are_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: Any) -> Any:
        raise AssertionError("disabled model was called")

    monkeypatch.setattr(text, "_profanity", fail)
    monkeypatch.setattr(text, "_vader", fail)
    spec = AnalysisSpec(
        sentiment=SentimentSpec(enabled=False), toxicity=ToxicitySpec(enabled=False)
    )
    (score,) = text.TextScorer(spec).score_batch([post("You fucking idiots, I hate you")], NOW)
    assert (score.negativity, score.toxicity, score.sentiment_compound) == (0, 0, 0)
    # The categories need no model: the insult still counts, as the abuse category alone.
    assert [c.category for c in score.risk_categories] == ["abuse"]
    assert score.score == score.risk_score == pytest.approx(0.8)


def test_one_model_call_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    real = text._profanity()  # noqa: SLF001 - wrapped to count the calls

    def predict(texts: list[str]) -> Any:
        calls.append(texts)
        return real(texts)

    monkeypatch.setattr(text, "_profanity", lambda: predict)
    posts = [post(f"caption {i}", post_id=str(i)) for i in range(5)] + [post("", post_id="e")]
    scores = text.TextScorer(AnalysisSpec()).score_batch(posts, NOW)
    assert calls == [[f"caption {i}" for i in range(5)]]  # empty captions are not sent
    assert scores[-1].toxicity == 0.0
    assert [s.post_id for s in scores] == [*map(str, range(5)), "e"]


def test_score_batch_of_nothing() -> None:
    assert text.TextScorer(AnalysisSpec()).score_batch([], NOW) == []


def test_scores_stay_in_range_on_extreme_weights() -> None:
    spec = AnalysisSpec(
        keywords=[kw("scam", 1.0)],
        sentiment=SentimentSpec(weight=1.0),
        toxicity=ToxicitySpec(weight=1.0),
    )
    captions = ["scam scam SCAM fucking awful horrible hate", "ok", "😡😡😡 !!!", "a" * 5000]
    for score in text.TextScorer(spec).score_batch([post(c) for c in captions], NOW):
        assert 0.0 <= score.score <= 1.0
        assert not math.isnan(score.score)


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("I can't recall a better deal", 0),  # the taxonomy's harmless senses hold for keywords
        ("Acme recall: kettles overheating", 1),
    ],
)
def test_harmless_senses_do_not_count_as_keywords(caption: str, expected: int) -> None:
    assert counts(caption, kw("recall")).get("recall", 0) == expected


def test_a_weak_cue_that_is_a_keyword_counts_once() -> None:
    spec = AnalysisSpec(keywords=[kw("refund", 0.4)])
    (score,) = text.TextScorer(spec).score_batch([post("Still no word on my refund. Awful.")], NOW)
    assert score.keywords == ["refund"]
    assert "customer_service" not in {c.category for c in score.risk_categories if not c.strong}


def test_default_monitor_alerts_on_a_category_alone() -> None:
    (score,) = text.TextScorer(AnalysisSpec()).score_batch(
        [post("Acme confirms hackers accessed customer passwords")], NOW
    )
    assert score.risk_score >= 0.7  # the default alert threshold, without any keyword
    assert [c.category for c in score.risk_categories] == ["data_security"]


def test_learned_brand_risk_ranks_damage_above_everyday_posts() -> None:
    captions = [
        "Dozens of patients say the Acme inhaler gave them nosebleeds and the company went silent",
        "Just tried the new Acme oat latte, pretty good",
    ]
    damage, everyday = text.TextScorer(AnalysisSpec()).score_batch(
        [post(c, post_id=str(i)) for i, c in enumerate(captions)], NOW
    )
    assert 0.0 <= everyday.learned_risk < damage.learned_risk <= 1.0
    assert text.learned_contribution(0.0) == 0.0
    assert text.learned_contribution(text.LEARNED_RISK_FROM) == 0.0
    assert text.learned_contribution(0.6) == pytest.approx(text.LEARNED_RISK_WEIGHT / 2)
    assert text.learned_contribution(text.LEARNED_RISK_FULL_AT) == text.LEARNED_RISK_WEIGHT
    assert text.learned_contribution(1.0) == text.LEARNED_RISK_WEIGHT


def test_combine_with_every_signal() -> None:
    assert text.combine(0.5, 0.5, 0.5, 0.3, 0.4, risk=0.5, learned=0.5) == pytest.approx(
        1 - 0.5 * 0.5 * 0.5 * 0.85 * 0.8
    )


def test_a_monitor_reweights_or_disables_a_built_in_category() -> None:
    caption = [post("Acme confirms hackers accessed customer passwords")]
    default = text.TextScorer(AnalysisSpec()).score_batch(caption, NOW)[0]
    lighter = text.TextScorer(AnalysisSpec(risk_categories={"data_security": 0.3}))
    disabled = text.TextScorer(AnalysisSpec(risk_categories={"data_security": 0.0}))
    (reweighted,) = lighter.score_batch(caption, NOW)
    (off,) = disabled.score_batch(caption, NOW)
    assert [c.score for c in reweighted.risk_categories] == [0.3]
    assert reweighted.risk_score < default.risk_score
    assert off.risk_categories == []
    assert off.risk_score == 0.0


def opinions(risk: float, sentiment: tuple[float, float, float]) -> Any:
    """An embedding head that answers the same for every row, recording what it was asked."""
    asked: list[list[int]] = []

    def embedded(rows: list[int]) -> text.Opinions:
        asked.append(rows)
        return text.Opinions(np.full(len(rows), risk), np.tile(sentiment, (len(rows), 1)))

    embedded.asked = asked  # type: ignore[attr-defined]
    return embedded


def test_second_opinion_only_for_unsure_posts_and_blends_them() -> None:
    hashed = np.array([0.05, text.SECOND_OPINION_FROM, 0.5, text.SECOND_OPINION_TO, 0.95])
    embedded = opinions(0.9, (0.1, 0.1, 0.8))

    served = text.with_second_opinion(hashed, embedded)
    assert embedded.asked == [[1, 2]]  # once, for the band [FROM, TO) only
    assert served.risk.tolist() == pytest.approx([0.05, (0.2 + 0.9) / 2, 0.7, 0.8, 0.95])
    assert (served.asked, served.over_budget) == (2, 0)
    assert hashed[1] == text.SECOND_OPINION_FROM  # the input is not changed in place

    def never(rows: list[int]) -> text.Opinions:
        raise AssertionError(f"asked about {rows}")

    alone = text.with_second_opinion(np.array([0.0, 0.99]), never)
    assert (alone.risk.tolist(), alone.asked) == ([0.0, 0.99], 0)


def test_posts_in_other_languages_get_a_second_opinion_on_sentiment() -> None:
    hashed_risk = np.array([0.05, 0.5, 0.05, 0.5])
    hashed_sentiment = np.array([[0.6, 0.3, 0.1]] * 4)
    embedded = opinions(0.9, (0.0, 0.1, 0.9))
    served = text.with_second_opinion(
        hashed_risk,
        embedded,
        sentiment=hashed_sentiment,
        other_language=[False, False, True, True],
    )
    assert embedded.asked == [[1, 2, 3]]
    # Risk is blended only where the first head was unsure, sentiment only for the
    # other languages.
    assert served.risk.tolist() == pytest.approx([0.05, 0.7, 0.05, 0.7])
    assert served.sentiment.ravel().tolist() == pytest.approx(
        [0.6, 0.3, 0.1, 0.6, 0.3, 0.1, 0.3, 0.2, 0.5, 0.3, 0.2, 0.5]
    )
    assert (served.asked, served.over_budget) == (3, 0)


def test_signals_of_a_spanish_post_blend_both_sentiment_heads() -> None:
    caption = "Qué asco de servicio, llevo tres días sin internet y nadie me responde"
    model = signals.load()
    both = text.signals_batch([caption]).signals[0]
    prepared = signals.prepare(caption)
    dense = signals.lexicon_scores([caption], text._profanity(), text._vader(), [prepared])  # noqa: SLF001
    first = model.sentiment(signals.features([prepared], dense))[0]
    second = model.embedding_sentiment(signals.embed([caption]))[0]
    assert (both.negative, both.neutral, both.positive) == pytest.approx(
        tuple((first + second) / 2), abs=1e-4
    )
    assert both.negative > max(both.neutral, both.positive)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_second_opinions_past_the_budget_go_to_the_most_uncertain_posts() -> None:
    clock = FakeClock()
    budget = text.SecondOpinionBudget(0.1, per_call=2, clock=clock)
    hashed = np.array([0.25, 0.45, 0.75, 0.52, 0.9])

    def slow(rows: list[int]) -> text.Opinions:
        clock.now += 0.3  # the call takes 0.3 s
        return text.Opinions(np.ones(len(rows)), np.ones((len(rows), 3)) / 3)

    clock.now += 1.0  # 0.1 s in the bucket
    served = text.with_second_opinion(hashed, slow, budget)
    # Two of the four unsure posts are asked, in one call: those nearest 0.5 (rows 1, 3).
    assert (served.asked, served.over_budget) == (2, 2)
    assert served.risk.tolist() == pytest.approx([0.25, 0.725, 0.75, 0.76, 0.9])
    # The call overdrew the bucket by 0.2 s: nothing until 2 s have refilled it.
    assert budget.take(5) == 0
    clock.now += 1.9
    assert budget.take(1) == 0
    clock.now += 0.2
    assert budget.take(1) == 1
    assert budget.take(0) == 0
    # Idle time saves up at most one second of calls.
    clock.now += 3600
    budget.spend(1.0)
    assert budget.take(5) == 0


def test_past_the_budget_unsure_brand_risk_goes_before_other_languages() -> None:
    clock = FakeClock()
    budget = text.SecondOpinionBudget(0.1, per_call=2, clock=clock)
    clock.now += 1.0
    embedded = opinions(0.9, (0.0, 0.0, 1.0))
    served = text.with_second_opinion(
        np.array([0.05, 0.3, 0.05, 0.6]),
        embedded,
        budget,
        sentiment=np.array([[1.0, 0.0, 0.0]] * 4),
        other_language=[True, False, True, False],
    )
    assert embedded.asked == [[1, 3]]
    assert (served.asked, served.over_budget) == (2, 2)
    assert served.sentiment[0].tolist() == [1.0, 0.0, 0.0]


def test_sentence_embeddings_are_multilingual_and_unit_length() -> None:
    vectors = signals.embed(
        [
            "The Acme kettle caught fire in my kitchen",
            "Der Acme-Wasserkocher hat in meiner Küche Feuer gefangen",
            "Loving the Acme latte",
        ]
    )
    assert vectors.shape == (3, signals.EMBEDDING_DIM)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-3)
    # A translation lands nearer its original than an unrelated post does.
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert signals.embed([]).shape == (0, signals.EMBEDDING_DIM)
