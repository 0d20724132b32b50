"""Evaluate the text analyzer's components on TweetEval's labelled validation tweets.

Reports the official TweetEval metric of each task (Barbieri et al., 2020):

- offensive, hate: macro-F1 over both classes of the analyzer's offensive-language
  probability (the trained head of `signals.py`) at 0.5, and of the combined text score
  of a default monitor without keywords (where toxicity contributes at most 0.4, so 0.2
  is the same 0.5 cut-off); ROC-AUC as a threshold-free view;
- sentiment: macro-averaged recall over negative/neutral/positive of the analyzer's
  sentiment head (the most probable class), and of VADER's compound polarity with its
  standard thresholds (>= 0.05 positive, <= -0.05 negative) for reference.

The last line is JSON with `offensive_macro_f1`, `hate_macro_f1` and
`sentiment_macro_recall` (the analyzer's signals, official metrics) and the details.

Also measures in-memory text-scoring throughput: one process, one `score_batch` call of
1,000 tweets as captions, models already loaded. Nothing here is tuned on the data.

Usage: .venv/bin/python -m bench.eval_tweeteval [--data DIR] [--split val|test] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sklearn.metrics import f1_score, recall_score, roc_auc_score  # type: ignore[import-untyped]

from brandmon_workers import text
from brandmon_workers.contract.analysis import AnalysisSpec, Keyword
from brandmon_workers.contract.messages import Post, Provenance

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "tweeteval"
DEFAULT_OUT = REPO / "bench" / "results" / "tweeteval.json"

TOXICITY_THRESHOLD = 0.5
# The default monitor (AnalysisSpec()) weighs toxicity 0.4: a probability of 0.5 alone
# gives a combined score of 0.2, the comparable cut-off for the combined score.
COMBINED_THRESHOLD = AnalysisSpec().toxicity.weight * TOXICITY_THRESHOLD
ALERT_THRESHOLD = 0.7  # ScoringSpec's default alert threshold
VADER_NEUTRAL = 0.05  # VADER's documented neutral band: -0.05 < compound < 0.05
THROUGHPUT_BATCH = 1_000
THROUGHPUT_RUNS = 5
# Typical brand-risk keywords, so the throughput run includes keyword matching.
BENCH_KEYWORDS = [
    Keyword(term=term, weight=0.5)
    for term in (
        "recall", "scam", "data breach", "lawsuit", "boycott", "refund", "fraud", "toxic",
        "outage", "hacked", "class action", "food poisoning", "rip off", "never again",
        "worst", "fake", "broken", "injury", "investigation", "strike",
    )
]  # fmt: skip


def read_task(
    data: Path, task: str, split: str = "val"
) -> tuple[list[str], list[int], dict[str, int]]:
    """Read a split's texts, labels and label-name -> index mapping."""
    folder = data / task
    mapping = {}
    for line in (folder / "mapping.txt").read_text(encoding="utf-8").splitlines():
        index, name = line.split("\t")
        mapping[name.strip()] = int(index)
    # One tweet per "\n"-terminated line: str.splitlines would also split on the
    # Unicode line separators some tweets contain and misalign texts and labels.
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").split("\n")
    labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    if labels and labels[-1] == "":
        labels.pop()
    if len(texts) != len(labels):
        sys.exit(f"{folder}: {len(texts)} texts but {len(labels)} labels")
    return texts, [int(label) for label in labels], mapping


def captions_as_posts(texts: Sequence[str]) -> list[Post]:
    """Wrap tweets as posts, as the collector would deliver captions."""
    now = datetime.now(UTC)
    provenance = Provenance(source="tweeteval", collected_at=now, collector_version="bench")
    return [
        Post(
            post_id=str(i),
            shortcode=str(i),
            username="bench",
            url=f"https://example.invalid/{i}",
            caption=caption,
            posted_at=now,
            provenance=provenance,
        )
        for i, caption in enumerate(texts)
    ]


def binary_task(data: Path, task: str, positive: str, split: str = "val") -> dict[str, Any]:
    """Score a binary task with the toxicity probability and the combined text score."""
    texts, labels, mapping = read_task(data, task, split)
    truth = [int(label == mapping[positive]) for label in labels]
    toxicity = text.toxicity_batch(texts)
    scores = text.TextScorer(AnalysisSpec()).score_batch(
        captions_as_posts(texts), datetime.now(UTC)
    )
    combined = [s.score for s in scores]

    def macro_f1(values: Sequence[float], threshold: float) -> float:
        predicted = [int(v >= threshold) for v in values]
        return float(f1_score(truth, predicted, average="macro", zero_division=0.0))

    return {
        "n": len(texts),
        "positive_rate": sum(truth) / len(truth),
        "official_metric": "macro_f1",
        "toxicity_macro_f1": macro_f1(toxicity, TOXICITY_THRESHOLD),
        "toxicity_roc_auc": float(roc_auc_score(truth, toxicity)),
        "combined_macro_f1": macro_f1(combined, COMBINED_THRESHOLD),
        "combined_macro_f1_at_alert_threshold": macro_f1(combined, ALERT_THRESHOLD),
        "combined_max": max(combined),
        "combined_roc_auc": float(roc_auc_score(truth, combined)),
    }


def vader_class(compound: float, mapping: dict[str, int]) -> int:
    """Map a compound polarity onto the task's negative/neutral/positive indices."""
    if compound >= VADER_NEUTRAL:
        return mapping["positive"]
    if compound <= -VADER_NEUTRAL:
        return mapping["negative"]
    return mapping["neutral"]


def most_probable(signals: text.Signals) -> int:
    """Return the index (negative 0, neutral 1, positive 2) of the most probable class."""
    probabilities = (signals.negative, signals.neutral, signals.positive)
    return max(range(3), key=probabilities.__getitem__)


def sentiment_task(data: Path, split: str = "val") -> dict[str, Any]:
    """Score the sentiment task with the sentiment head and with VADER's compound polarity."""
    texts, labels, mapping = read_task(data, "sentiment", split)
    predicted = [vader_class(text.sentiment_compound(t), mapping) for t in texts]
    order = [mapping[name] for name in ("negative", "neutral", "positive")]
    per_class = recall_score(labels, predicted, labels=order, average=None, zero_division=0.0)
    head = [order[most_probable(s)] for s in text.signals_batch(texts).signals]
    # Tweets about anything: how often a default monitor without keywords would alert on
    # everyday posts, by their sentiment (the false alarms a PR team would read).
    scores = text.TextScorer(AnalysisSpec()).score_batch(
        captions_as_posts(texts), datetime.now(UTC)
    )
    alert_rate = {}
    for name in ("negative", "neutral", "positive"):
        of_class = [
            s.score for s, label in zip(scores, labels, strict=True) if label == mapping[name]
        ]
        alert_rate[name] = sum(v >= ALERT_THRESHOLD for v in of_class) / max(1, len(of_class))
    return {
        "n": len(texts),
        "official_metric": "macro_recall",
        "head_macro_recall": float(
            recall_score(labels, head, labels=order, average="macro", zero_division=0.0)
        ),
        "vader_macro_recall": float(
            recall_score(labels, predicted, labels=order, average="macro", zero_division=0.0)
        ),
        "default_monitor_alert_rate": alert_rate,
        "vader_recall_per_class": {
            name: float(value)
            for name, value in zip(("negative", "neutral", "positive"), per_class, strict=True)
        },
    }


def throughput(data: Path) -> dict[str, Any]:
    """Measure score_batch on 1,000 tweets (offensive then sentiment val) as captions."""
    texts = read_task(data, "offensive")[0] + read_task(data, "sentiment")[0]
    posts = captions_as_posts(texts[:THROUGHPUT_BATCH])
    scorer = text.TextScorer(AnalysisSpec(keywords=BENCH_KEYWORDS))
    scorer.score_batch(posts[:10], datetime.now(UTC))  # models are loaded before timing
    runs = []
    for _ in range(THROUGHPUT_RUNS):
        start = time.perf_counter()
        scorer.score_batch(posts, datetime.now(UTC))
        runs.append(time.perf_counter() - start)
    seconds = statistics.median(runs)
    return {
        "batch": len(posts),
        "keywords": len(BENCH_KEYWORDS),
        "runs": THROUGHPUT_RUNS,
        "median_seconds": seconds,
        "posts_per_second": len(posts) / seconds,
    }


def print_table(results: dict[str, Any]) -> None:
    """Print the headline numbers, x100 like the TweetEval papers."""
    rows = []
    for task in ("offensive", "hate"):
        r = results["tasks"][task]
        at_alert = r["combined_macro_f1_at_alert_threshold"]
        rows += [
            (task, "macro-F1", "offensive prob >= 0.5", r["toxicity_macro_f1"]),
            (task, "macro-F1", f"combined score >= {COMBINED_THRESHOLD:g}", r["combined_macro_f1"]),
            (task, "macro-F1", f"combined score >= {ALERT_THRESHOLD:g}", at_alert),
            (task, "ROC-AUC", "offensive prob", r["toxicity_roc_auc"]),
            (task, "ROC-AUC", "combined score", r["combined_roc_auc"]),
        ]  # fmt: skip
    sentiment = results["tasks"]["sentiment"]
    rows.append(("sentiment", "macro-recall", "sentiment head", sentiment["head_macro_recall"]))
    rows.append(
        ("sentiment", "macro-recall", "VADER compound +-0.05", sentiment["vader_macro_recall"])
    )
    print(f"TweetEval {results['split']} splits, {results['data']}")
    print(f"{'task':<10} {'metric':<13} {'predictor':<26} {'x100':>6}")
    for task, metric, predictor, value in rows:
        print(f"{task:<10} {metric:<13} {predictor:<26} {100 * value:>6.1f}")
    speed = results["throughput"]
    print(
        f"throughput: {speed['posts_per_second']:,.0f} posts/s "
        f"(score_batch of {speed['batch']} captions, {speed['keywords']} keywords, one process)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate, print the table and a JSON line, write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="TweetEval folder")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON file")
    args = parser.parse_args(argv)
    data: Path = args.data.resolve()
    results = {
        "benchmark": "tweeteval",
        "split": args.split,
        "data": str(data),
        "analyzer_version": text.ANALYZER_VERSION,
        "thresholds": {
            "toxicity": TOXICITY_THRESHOLD,
            "combined": COMBINED_THRESHOLD,
            "alert": ALERT_THRESHOLD,
            "vader_neutral": VADER_NEUTRAL,
        },
        "tasks": {
            "offensive": binary_task(data, "offensive", "offensive", args.split),
            "hate": binary_task(data, "hate", "hate", args.split),
            "sentiment": sentiment_task(data, args.split),
        },
        "throughput": throughput(data),
    }
    tasks = results["tasks"]
    results["offensive_macro_f1"] = tasks["offensive"]["toxicity_macro_f1"]
    results["hate_macro_f1"] = tasks["hate"]["toxicity_macro_f1"]
    results["sentiment_macro_recall"] = tasks["sentiment"]["head_macro_recall"]
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
