"""Evaluate the analyzer's sentiment signal on XLM-T's multilingual tweets, per language.

Reports macro-averaged recall over negative/neutral/positive (XLM-T's labels 0/1/2) of
the text analyzer's sentiment (`text.signals_batch`, the most probable class), as served
when the worker has time for every second opinion (posts in the encoder's other languages
blend the embedding head in) and of the first, hashed head alone (what a worker serves
when a flood has used up its second-opinion budget), and, for reference, of VADER's
compound polarity (English-only lexicon) with its standard ±0.05 thresholds. Nothing is
tuned on the data. The last line printed is JSON with `sentiment_macro_recall` (served)
per language.

Usage: .venv/bin/python -m bench.eval_multilingual [--data DIR] [--split val|test] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sklearn.metrics import recall_score  # type: ignore[import-untyped]

from brandmon_workers import text

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "xlmt"
DEFAULT_OUT = REPO / "bench" / "results" / "multilingual.json"
LANGUAGES = {"english": "en", "spanish": "es", "french": "fr", "german": "de"}
VADER_NEUTRAL = 0.05


def lines(path: Path) -> list[str]:
    """Read one text per newline-terminated line (not splitlines: tweets hold U+2028)."""
    result = path.read_text(encoding="utf-8").split("\n")
    if result and result[-1] == "":
        result.pop()
    return result


def macro_recall(labels: Sequence[int], predicted: Sequence[int]) -> float:
    """Return macro-averaged recall over the three classes."""
    return float(recall_score(labels, predicted, labels=[0, 1, 2], average="macro"))


def evaluate(folder: Path, split: str) -> dict[str, Any]:
    """Score one language's split with the sentiment head and with VADER."""
    texts = lines(folder / f"{split}_text.txt")
    labels = [int(x) for x in lines(folder / f"{split}_labels.txt")]
    if len(texts) != len(labels):
        sys.exit(f"{folder}/{split}: {len(texts)} texts, {len(labels)} labels")

    def most_probable(batch: text.Batch) -> list[int]:
        return [
            max(range(3), key=(s.negative, s.neutral, s.positive).__getitem__)
            for s in batch.signals
        ]

    head = most_probable(text.signals_batch(texts))
    no_budget = text.SecondOpinionBudget(0.0, per_call=0)
    first_tier = most_probable(text.signals_batch(texts, budget=no_budget))
    vader = []
    for t in texts:
        compound = text.sentiment_compound(t)
        vader.append(2 if compound >= VADER_NEUTRAL else 0 if compound <= -VADER_NEUTRAL else 1)
    return {
        "n": len(texts),
        "head_macro_recall": macro_recall(labels, head),
        "first_tier_macro_recall": macro_recall(labels, first_tier),
        "vader_macro_recall": macro_recall(labels, vader),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate every language present, print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="XLM-T folder")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON file")
    args = parser.parse_args(argv)
    per_language = {
        code: evaluate(args.data / folder, args.split)
        for folder, code in LANGUAGES.items()
        if (args.data / folder / f"{args.split}_text.txt").exists()
    }
    print(
        f"XLM-T {args.split}, {args.data}: sentiment macro-recall x100"
        " (served / first head alone / VADER)"
    )
    for code, result in per_language.items():
        head, vader = 100 * result["head_macro_recall"], 100 * result["vader_macro_recall"]
        first = 100 * result["first_tier_macro_recall"]
        print(f"{code}  {head:5.1f} / {first:5.1f} / {vader:5.1f}  (n={result['n']})")
    results = {
        "benchmark": "multilingual",
        "split": args.split,
        "data": str(args.data),
        "analyzer_version": text.ANALYZER_VERSION,
        "sentiment_macro_recall": {k: v["head_macro_recall"] for k, v in per_language.items()},
        "languages": per_language,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
