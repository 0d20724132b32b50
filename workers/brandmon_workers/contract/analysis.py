"""How posts are scored: keywords, sentiment, offensive language, images, weights."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from brandmon_workers.contract.base import ApiModel
from brandmon_workers.risk_lexicon import TAXONOMY

RISK_CATEGORIES = tuple(c.name for c in TAXONOMY)
"""The built-in brand-risk categories, by name (their cues are in `risk_lexicon`)."""

# Top-level categories of Rekognition's moderation taxonomy (v7). Labels come with their
# parent chain, so weights apply once per top-level category, never per label.
MODERATION_CATEGORIES = (
    "Explicit",
    "Non-Explicit Nudity of Intimate parts and Kissing",
    "Swimwear or Underwear",
    "Violence",
    "Visually Disturbing",
    "Drugs & Tobacco",
    "Alcohol",
    "Rude Gestures",
    "Gambling",
    "Hate Symbols",
)

ImageProvider = Literal["rekognition", "local", "none"]


class Keyword(ApiModel):
    """A word or phrase whose presence raises a post's text risk."""

    term: str = Field(min_length=1, max_length=100)
    """Word or phrase; matching ignores case, accents and a leading '#'."""

    weight: float = Field(default=0.5, ge=0.0, le=1.0)
    """Risk contributed by a match, from 0 (none) to 1 (a match alone is damaging)."""


class SentimentSpec(ApiModel):
    """Lexicon sentiment (VADER, tuned for social media)."""

    enabled: bool = True
    """Score negative sentiment."""

    weight: float = Field(default=0.3, ge=0.0, le=1.0)
    """Share of the text score that strongly negative sentiment can contribute."""


class ToxicitySpec(ApiModel):
    """Offensive-language detection (a linear model shipped with the worker)."""

    enabled: bool = True
    """Score offensive language."""

    weight: float = Field(default=0.4, ge=0.0, le=1.0)
    """Share of the text score that clearly offensive language can contribute."""


def weights_by_name(names: tuple[str, ...], what: str, description: str | None = None) -> Any:
    """Return the field of a map of weights (0-1) whose keys the API server checks."""
    return Field(
        default={},
        max_length=len(names),
        description=description,
        json_schema_extra={
            "additionalProperties": {"type": "number", "minimum": 0.0, "maximum": 1.0},
            "x-kubernetes-validations": [
                {
                    "rule": "self.all(k, k in " + str(list(names)) + ")",
                    "message": f"keys must be {what}: " + ", ".join(names),
                }
            ],
        },
    )


class ImageAnalysisSpec(ApiModel):
    """Image moderation: which provider, how confident, how much each category counts."""

    provider: ImageProvider = "none"
    """rekognition (AWS DetectModerationLabels), local (an offline model) or none."""

    min_confidence: float = Field(default=50.0, ge=0.0, le=100.0)
    """Labels below this confidence (percent) are ignored."""

    category_weights: dict[str, float] = weights_by_name(
        MODERATION_CATEGORIES, "top-level moderation categories"
    )
    """Weight (0-1) per top-level moderation category; unlisted categories weigh 1."""

    max_calls_per_hour: int = Field(default=500, ge=0, le=100_000)
    """Budget of provider calls per hour for this monitor; identical images count once."""


class AnalysisSpec(ApiModel):
    """What is analysed and how."""

    keywords: list[Keyword] = Field(
        default=[],
        max_length=200,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.all(k, self.exists_one(x, x.term.lowerAscii() == "
                    "k.term.lowerAscii()))",
                    "message": "keyword terms must be unique (ignoring case)",
                }
            ]
        },
    )
    """Weighted words and phrases to flag."""

    sentiment: SentimentSpec = SentimentSpec()
    """Negative-sentiment scoring."""

    toxicity: ToxicitySpec = ToxicitySpec()
    """Offensive-language scoring."""

    image: ImageAnalysisSpec = ImageAnalysisSpec()
    """Image moderation."""

    risk_categories: dict[str, float] = weights_by_name(
        RISK_CATEGORIES,
        "built-in brand-risk categories",
        description=(
            "Weight (0-1) per built-in brand-risk category, detected in every supported "
            "language without any keyword: the most the category alone adds to a post's "
            "text risk; 0 disables it. Unlisted categories keep their defaults: "
            + ", ".join(f"{c.name} {c.weight}" for c in TAXONOMY)
            + "."
        ),
    )


class ScoringSpec(ApiModel):
    """How text and image risk combine, and when a post alerts.

    Weights are normalised over the signals a monitor has: without image analysis the
    text risk is the whole score.
    """

    text_weight: float = Field(default=0.6, ge=0.0, le=1.0)
    """Weight of the text risk in a post's final score."""

    image_weight: float = Field(default=0.4, ge=0.0, le=1.0)
    """Weight of the image risk in a post's final score."""

    alert_threshold: float = Field(default=0.7, gt=0.0, le=1.0)
    """Posts whose final score reaches this value raise an alert."""
