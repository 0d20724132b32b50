"""Brand-risk detection on labelled posts, scored exactly as the pipeline scores them.

Each JSON Lines record (`id`, `lang`, `author`, `followers`, `likes`, `text`, `alert`, and
optionally `category`) becomes a `Post` whose caption is `text`. The posts are scored by the
text analyzer (`TextScorer.score_batch`, the code the text-analyzer worker runs) for the
analysis settings of a default BrandMonitor plus the given keywords at their default
weight, then by the engine's `final_score` with the monitor's default scoring (a
text-only monitor: no image analysis), and alert when the final score reaches the
monitor's alert threshold, as the builtin engine and the ksqlDB statements decide.

Reported: precision, recall and F1 of the alerts against `alert`; recall per language and
per category (damaging posts only), precision and counts per language; false positives
and misses by id; and throughput (`posts_per_s`: one `score_batch` call over every post,
models loaded beforehand, median of a few runs). The last line printed is the JSON.

Usage: python -m bench.brand_risk --posts FILE --keywords k1,k2,... [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from brandmon_operator.api import BrandMonitorSpec
from brandmon_workers import text
from brandmon_workers.contract.messages import Post, Provenance, TextScore
from brandmon_workers.engine import final_score

THROUGHPUT_RUNS = 3


@dataclass(frozen=True)
class Labelled:
    """One labelled post of the benchmark file."""

    id: str
    lang: str
    author: str
    followers: int
    likes: int
    text: str
    alert: bool
    category: str


def read_posts(path: Path) -> list[Labelled]:
    """Read the JSON Lines file; blank lines are skipped."""
    posts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            posts.append(
                Labelled(
                    id=str(row["id"]),
                    lang=str(row.get("lang", "und")),
                    author=str(row.get("author", "someone")),
                    followers=int(row.get("followers", 0)),
                    likes=int(row.get("likes", 0)),
                    text=str(row["text"]),
                    alert=bool(row["alert"]),
                    category=str(row.get("category") or ("unknown" if row["alert"] else "none")),
                )
            )
        except (KeyError, ValueError, TypeError) as error:
            sys.exit(f"{path}:{number}: {error!r}")
    return posts


def monitor(keywords: Sequence[str]) -> BrandMonitorSpec:
    """Return a default BrandMonitor with the keywords at their default weight (text only)."""
    return BrandMonitorSpec.model_validate(
        {
            "brand": "bench",
            "sources": [{"name": "bench", "replay": {"path": "/bench.jsonl"}}],
            "analysis": {"keywords": [{"term": k} for k in keywords]},
        }
    )


def as_posts(rows: Sequence[Labelled]) -> list[Post]:
    """Wrap the labelled texts as the collector would deliver them."""
    now = datetime.now(UTC)
    provenance = Provenance(source="bench", collected_at=now, collector_version="bench")
    return [
        Post(
            post_id=row.id,
            shortcode=row.id,
            username=row.author,
            url=f"https://example.invalid/{row.id}",
            caption=row.text,
            likes=row.likes,
            posted_at=now,
            provenance=provenance,
        )
        for row in rows
    ]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def evaluate(rows: Sequence[Labelled], alerted: Sequence[bool]) -> dict[str, Any]:
    """Precision, recall, F1 overall; recall per language and category; precision per language."""
    tp = sum(r.alert and a for r, a in zip(rows, alerted, strict=True))
    fp = sum(not r.alert and a for r, a in zip(rows, alerted, strict=True))
    fn = sum(r.alert and not a for r, a in zip(rows, alerted, strict=True))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else 0.0
    )
    by_lang: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_cat: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row, flag in zip(rows, alerted, strict=True):
        lang = by_lang[row.lang]
        lang["posts"] += 1
        lang["damaging"] += row.alert
        lang["alerts"] += flag
        lang["true_alerts"] += row.alert and flag
        if row.alert:
            cat = by_cat[row.category]
            cat["damaging"] += 1
            cat["caught"] += flag
    return {
        "posts": len(rows),
        "damaging": tp + fn,
        "alerts": tp + fp,
        "true_positives": tp,
        "false_positives": fp,
        "misses": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "recall_by_language": {
            k: _ratio(v["true_alerts"], v["damaging"]) for k, v in sorted(by_lang.items())
        },
        "precision_by_language": {
            k: _ratio(v["true_alerts"], v["alerts"]) for k, v in sorted(by_lang.items())
        },
        "counts_by_language": {k: dict(v) for k, v in sorted(by_lang.items())},
        "recall_by_category": {
            k: _ratio(v["caught"], v["damaging"]) for k, v in sorted(by_cat.items())
        },
        "counts_by_category": {k: dict(v) for k, v in sorted(by_cat.items())},
    }


def throughput(scorer: text.TextScorer, posts: Sequence[Post]) -> float:
    """Return posts per second of one score_batch over all posts (median of a few runs)."""
    runs = []
    for _ in range(THROUGHPUT_RUNS):
        start = time.perf_counter()
        scorer.score_batch(posts, datetime.now(UTC))
        runs.append(time.perf_counter() - start)
    return len(posts) / statistics.median(runs)


def describe(score: TextScore) -> str:
    """One line of why a post scored what it did."""
    return (
        " ".join(
            f"{name}={value:.2f}"
            for name, value in (
                ("score", score.score),
                ("kw", score.keyword_score),
                ("neg", score.negativity),
                ("tox", score.toxicity),
            )
        )
        + (f" keywords={score.keywords}" if score.keywords else "")
        + "".join(
            f" {c.category}{'' if c.strong else '(weak)'}={c.score:.2f}{list(c.evidence)}"
            for c in score.risk_categories
        )
        + f" lang={score.language}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Score the file, print misses and false positives, then the JSON result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=Path, required=True, help="JSON Lines of labelled posts")
    parser.add_argument("--keywords", default="", help="comma-separated keyword terms")
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    args = parser.parse_args(argv)
    keywords = [k.strip() for k in args.keywords.split(",") if k.strip()]
    spec = monitor(keywords)
    rows = read_posts(args.posts)
    posts = as_posts(rows)
    started = time.perf_counter()
    scorer = text.TextScorer(spec.analysis)
    scorer.score_batch(posts[:1], datetime.now(UTC))  # loads the models before timing
    load_seconds = time.perf_counter() - started
    scores = scorer.score_batch(posts, datetime.now(UTC))
    # A text-only monitor: no image score, as the engine scores a post without images.
    finals = [final_score(s.score, None, spec.scoring) for s in scores]
    alerted = [f >= spec.scoring.alert_threshold for f in finals]
    results = evaluate(rows, alerted)
    for row, score, flag in zip(rows, scores, alerted, strict=True):
        if flag != row.alert:
            kind = "MISS" if row.alert else "FALSE"
            print(f"{kind:5} {row.id} [{row.lang}/{row.category}] {describe(score)}")
            print(f"      {row.text}")
    results.update(
        {
            "benchmark": "brand_risk",
            "file": str(args.posts),
            "keywords": keywords,
            "keyword_weight": spec.analysis.keywords[0].weight if keywords else None,
            "alert_threshold": spec.scoring.alert_threshold,
            "analyzer_version": text.ANALYZER_VERSION,
            "model_load_s": load_seconds,
            "posts_per_s": throughput(scorer, posts),
            "missed_ids": [r.id for r, a in zip(rows, alerted, strict=True) if r.alert and not a],
            "false_positive_ids": [
                r.id for r, a in zip(rows, alerted, strict=True) if a and not r.alert
            ],
        }
    )
    line = json.dumps(results, sort_keys=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
