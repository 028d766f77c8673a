"""Fine-tuning and embedding speed: ours against the original recipe's code path, in one run.

    python -m benchmarks.speed [--rows 512] [--epochs 1]      (make bench-speed)

Data: the first `--rows` labelled rows of ../shared/data/amazon2020_first1000.csv train both
fine-tuning paths; the remaining labelled rows are held out to score each fine-tuned encoder
(XGBoost on its embeddings, the pipeline's own head phase). Every phase runs in its own process so
its peak RSS is its own. Figures vary with the machine and its load: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from prodcat.catalog import build_text, category_at_level, label_ids, read_catalog
from prodcat.classifier import TabularEncoding, design_matrix, predict_proba, train_booster
from prodcat.embedding import encode_texts
from prodcat.encoders import load_encoder, resolve_precision
from prodcat.finetune import LabelledTexts, finetune_encoder
from prodcat.params import FinetuneParams, TrainXgbParams

CATALOG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "amazon2020_first1000.csv"
TEXT_COLUMNS = ["Product Name", "About Product", "Product Specification", "Technical Details"]
BASE = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 128


def load_rows(rows: int) -> tuple[LabelledTexts, LabelledTexts]:
    """(train, held-out) examples: label = main category, classes seen in train only."""
    raw = read_catalog(CATALOG)
    frame = pd.DataFrame({"text": build_text(raw, TEXT_COLUMNS, 4000), "label": raw["Category"].map(category_at_level)}).dropna()
    train, rest = frame.iloc[:rows], frame.iloc[rows:]
    names = sorted(train["label"].unique())
    rest = rest[rest["label"].isin(names)]
    return (
        LabelledTexts(train["text"].tolist(), label_ids(train["label"], names).tolist()),
        LabelledTexts(rest["text"].tolist(), label_ids(rest["label"], names).tolist()),
    )


def heldout_accuracy(model, train: LabelledTexts, heldout: LabelledTexts, precision: str) -> float:
    """XGBoost on the encoder's embeddings, scored on rows no fine-tuning saw."""
    empty = TabularEncoding(use_price=False, categories={})
    features = {name: encode_texts(model, ex.texts, 64, precision) for name, ex in [("train", train), ("heldout", heldout)]}
    booster = train_booster(
        design_matrix(features["train"], np.empty((len(train.texts), 0)), empty, np.array(train.labels)),
        max(train.labels) + 1, TrainXgbParams(), threads=os.cpu_count() or 1,
    )  # fmt: skip
    predicted = predict_proba(booster, design_matrix(features["heldout"], np.empty((len(heldout.texts), 0)), empty)).argmax(1)
    return float((predicted == np.array(heldout.labels)).mean())


def original_finetune(model, train: LabelledTexts, epochs: int) -> None:
    """The seed recipe's loop: batch size 2, fp32, a linear head on the normalised embedding, per-step device moves."""
    from torch import nn
    from torch.utils.data import DataLoader
    from transformers import get_linear_schedule_with_warmup

    device = torch.device("cpu")
    head = nn.Linear(model.get_embedding_dimension(), max(train.labels) + 1).to(device)
    loader = DataLoader(list(zip(train.texts, train.labels, strict=True)), batch_size=2, shuffle=True)
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=2e-5)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, len(loader) * epochs)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for texts, labels in loader:
            features = {key: value.to(device) for key, value in model.preprocess(list(texts)).items() if torch.is_tensor(value)}
            logits = head(model(features)["sentence_embedding"])
            loss = loss_fn(logits, labels.to(device))
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()


def phase_finetune(path: str, rows: int, epochs: int) -> dict:
    torch.manual_seed(0)
    train, heldout = load_rows(rows)
    model = load_encoder(BASE, MAX_SEQ_LENGTH)
    precision = resolve_precision("auto", "cpu") if path == "ours" else "fp32"
    started = time.perf_counter()
    if path == "ours":
        params = FinetuneParams(epochs=epochs, validation_share=0.0, precision=precision)
        with tempfile.TemporaryDirectory() as checkpoints:
            finetune_encoder(model, train, max(train.labels) + 1, params, precision, Path(checkpoints), "bench")
    else:
        original_finetune(model, train, epochs)
    seconds = time.perf_counter() - started
    model.eval()
    return {
        "samples_per_s": len(train.texts) * epochs / seconds,
        "seconds": seconds,
        "accuracy": heldout_accuracy(model, train, heldout, precision),
        "precision": precision,
    }


def bert_forward_flops(model, texts: list[str]) -> float:
    """Matmul FLOPs of one encoder forward over the real (unpadded, truncated) tokens."""
    config = model[0].auto_model.config
    hidden, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    lengths = [min(len(ids), model.max_seq_length) for ids in model.tokenizer(texts)["input_ids"]]
    dense = sum(lengths) * layers * 2 * (4 * hidden * hidden + 2 * hidden * ff)
    attention = sum(length * length for length in lengths) * layers * 2 * 2 * hidden
    return float(dense + attention)


def bf16_matmul_gflops(size: int = 2048, repeats: int = 20) -> float:
    a, b = torch.randn(size, size, dtype=torch.bfloat16), torch.randn(size, size, dtype=torch.bfloat16)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def phase_embed(path: str, rows: int) -> dict:
    train, _ = load_rows(rows)
    texts = train.texts
    model = load_encoder(BASE, MAX_SEQ_LENGTH)
    model.eval()
    started = time.perf_counter()
    if path == "original":
        pd.Series(texts).apply(lambda text: model.encode(text))
    elif path == "batched":
        model.encode(texts, batch_size=32)
    else:
        encode_texts(model, texts, batch_size=64, precision=resolve_precision("auto", "cpu"))
    seconds = time.perf_counter() - started
    figures = {"texts_per_s": len(texts) / seconds, "seconds": seconds}
    if path == "ours":
        figures["gflops"] = bert_forward_flops(model, texts) / seconds / 1e9
        figures["peak_bf16_gflops"] = bf16_matmul_gflops()
    return figures


def run_phase(name: str, args: argparse.Namespace) -> dict:
    """Run one phase in a fresh process; returns its figures plus its peak RSS."""
    command = [sys.executable, "-m", "benchmarks.speed", "--phase", name, "--rows", str(args.rows), "--epochs", str(args.epochs)]
    output = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        kind, path = args.phase.split(":")
        figures = phase_finetune(path, args.rows, args.epochs) if kind == "finetune" else phase_embed(path, args.rows)
        figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return

    results = {phase: run_phase(phase, args) for phase in ["finetune:original", "finetune:ours", "embed:original", "embed:batched", "embed:ours"]}
    ours_ft, orig_ft = results["finetune:ours"], results["finetune:original"]
    ours_em = results["embed:ours"]
    print(f"{args.rows} rows of {CATALOG.name}, {BASE}, max_seq_length {MAX_SEQ_LENGTH}, {os.cpu_count()} cores, torch {torch.__version__}")
    print("| measure | ours | baseline | ratio | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| finetune samples/s, {args.epochs} epoch(s) (held-out accuracy) | {ours_ft['samples_per_s']:.1f} ({ours_ft['accuracy']:.3f}, {ours_ft['precision']}) "
        f"| {orig_ft['samples_per_s']:.1f} ({orig_ft['accuracy']:.3f}, original loop: batch 2, fp32) | {ours_ft['samples_per_s'] / orig_ft['samples_per_s']:.1f}x | >= 5x |"
    )
    print(
        f"| embed texts/s | {ours_em['texts_per_s']:.1f} | {results['embed:original']['texts_per_s']:.1f} (per-row df.apply) / "
        f"{results['embed:batched']['texts_per_s']:.1f} (plain batched encode) | {ours_em['texts_per_s'] / results['embed:original']['texts_per_s']:.1f}x / "
        f"{ours_em['texts_per_s'] / results['embed:batched']['texts_per_s']:.1f}x | >= 20x the original |"
    )
    print(
        f"| embed GFLOP/s vs bf16 matmul peak | {ours_em['gflops']:.0f} | {ours_em['peak_bf16_gflops']:.0f} (2048x2048 bf16 matmul) "
        f"| {100 * ours_em['gflops'] / ours_em['peak_bf16_gflops']:.0f}% | >= 50% |"
    )
    print(f"| finetune peak RSS | {ours_ft['peak_rss_mib']:.0f} MiB | {orig_ft['peak_rss_mib']:.0f} MiB (original loop) | | < 4096 MiB |")


if __name__ == "__main__":
    main()
