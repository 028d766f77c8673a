"""Fine-tuning and embedding speed against the hardware's limit and the original recipe's code path, in one run.

    python -m benchmarks.speed [--rows 512] [--epochs 1] [--output speed.json]      (make bench-speed)

Two workloads, read from ../shared/data:
- `amazon`: long texts (the four text columns of amazon2020_first1000.csv), max_seq_length 128,
  label = main category; the first `--rows` labelled rows train, the rest are held out;
- `pricerunner`: short product titles (pricerunner_aggregate.csv), max_seq_length 48, label =
  Category Label; `--rows` train rows and up to 1,000 held-out rows, drawn at random (seed 0).
For each: fine-tuning (ours with the default params, ours as before issue 13 without length buckets
and fused AdamW, ours without dropout, and the original loop: batch 2, fp32) and embedding (ours,
plain batched `encode`, the original per-row `df.apply(model.encode)`, and the int8 ONNX path of
`inference.runtime: onnx_int8`, with its mean cosine to ours; its export is not timed). Held-out accuracy (XGBoost on each fine-tuned
encoder's embeddings) shows that speed did not cost accuracy.
Efficiency: GFLOP/s counted on the real (non-padding) tokens (prodcat.encoders.flops) as a share of the bf16
matmul peak measured in the same run (large bf16 matmuls on all cores, best of a few repeats).
Every phase runs in its own process so its peak RSS is its own. Figures vary with the machine and
its load: compare ratios and shares from one run.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from prodcat.core.params import FinetuneParams, TrainXgbParams
from prodcat.data.catalog import build_text, category_at_level, read_catalog
from prodcat.data.splits import label_ids
from prodcat.encoders.encode import encode_texts
from prodcat.encoders.flops import EncoderShape, forward_flops, token_lengths, training_flops
from prodcat.encoders.load import load_encoder, resolve_precision
from prodcat.encoders.runtimes.onnx_int8 import Int8Encoder, export_int8, row_cosines
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.xgboost import design_matrix, predict_proba, train_booster
from prodcat.training.finetune import finetune_encoder
from prodcat.training.losses import build_loss
from prodcat.training.trainer import LabelledTexts

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BASE = "all-MiniLM-L6-v2"
HELD_OUT_MAX = 1000


@dataclass(frozen=True)
class Workload:
    file: str
    max_seq_length: int


WORKLOADS = {"amazon": Workload("amazon2020_first1000.csv", 128), "pricerunner": Workload("pricerunner_aggregate.csv", 48)}
# previous: ours before issue 13 (random batches, unfused AdamW); no-dropout: ours with finetune.dropout false
FINETUNE_PATHS = ["original", "previous", "ours", "no-dropout"]
EMBED_PATHS = ["original", "batched", "ours", "int8"]


def labelled_frame(workload: str) -> pd.DataFrame:
    """(text, label) rows of a workload, in the order train rows are taken from."""
    raw = read_catalog(DATA / WORKLOADS[workload].file)
    if workload == "amazon":
        texts = build_text(raw, ["Product Name", "About Product", "Product Specification", "Technical Details"], 4000)
        return pd.DataFrame({"text": texts, "label": raw["Category"].map(category_at_level)}).dropna()
    frame = pd.DataFrame({"text": raw["Product Title"], "label": raw["Category Label"]}).dropna()
    return frame.sample(frac=1.0, random_state=0)  # the file is grouped by product: shuffle before taking rows


def load_rows(workload: str, rows: int) -> tuple[LabelledTexts, LabelledTexts]:
    """(train, held-out) examples; held-out rows only of classes seen in train."""
    frame = labelled_frame(workload)
    train, rest = frame.iloc[:rows], frame.iloc[rows:]
    names = sorted(train["label"].unique())
    rest = rest[rest["label"].isin(names)].iloc[:HELD_OUT_MAX]
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


def phase_finetune(workload: str, path: str, rows: int, epochs: int) -> dict:
    torch.manual_seed(0)
    train, heldout = load_rows(workload, rows)
    model = load_encoder(BASE, WORKLOADS[workload].max_seq_length)
    precision = "fp32" if path == "original" else resolve_precision("auto", "cpu")
    started = time.perf_counter()
    if path == "original":
        original_finetune(model, train, epochs)
    else:
        new = path != "previous"
        params = FinetuneParams(epochs=epochs, precision=precision, length_buckets=new, fused_optimizer=new, dropout=path != "no-dropout")
        loss = build_loss(model, params, num_labels=max(train.labels) + 1)
        with tempfile.TemporaryDirectory() as checkpoints:
            finetune_encoder(model, loss, train, None, params, precision, Path(checkpoints), "bench")
    seconds = time.perf_counter() - started
    model.eval()
    flops = (
        training_flops(EncoderShape.of(model[0].auto_model.config), token_lengths(model.tokenizer, train.texts, model.max_seq_length))
        * epochs
    )
    return {
        "texts_per_s": len(train.texts) * epochs / seconds, "seconds": seconds, "gflops": flops / seconds / 1e9,
        "heldout_accuracy": heldout_accuracy(model, train, heldout, precision), "heldout_rows": len(heldout.texts), "precision": precision,
    }  # fmt: skip


def phase_embed(workload: str, path: str, rows: int) -> dict:
    texts = load_rows(workload, rows)[0].texts
    model = load_encoder(BASE, WORKLOADS[workload].max_seq_length)
    model.eval()
    figures = {}
    with tempfile.TemporaryDirectory() as scratch:
        if path == "int8":
            int8 = Int8Encoder(export_int8(model, Path(scratch) / "int8", model.max_seq_length), batch_size=64)
        encode = {
            "original": lambda batch: pd.Series(batch).apply(lambda text: model.encode(text)),
            "batched": lambda batch: model.encode(batch, batch_size=32),
            "int8": lambda batch: int8.encode(batch),
            "ours": lambda batch: encode_texts(model, batch, batch_size=64, precision=resolve_precision("auto", "cpu")),
        }[path]
        encode(texts[:2])  # warm-up, untimed: first-call allocations and kernel choices
        started = time.perf_counter()
        embeddings = encode(texts)
        seconds = time.perf_counter() - started
    if path == "int8":
        reference = encode_texts(model, texts, batch_size=64, precision=resolve_precision("auto", "cpu"))
        figures["mean_cosine_to_ours"] = float(row_cosines(reference, embeddings).mean())
    flops = forward_flops(EncoderShape.of(model[0].auto_model.config), token_lengths(model.tokenizer, texts, model.max_seq_length))
    return {"texts_per_s": len(texts) / seconds, "seconds": seconds, "gflops": flops / seconds / 1e9, **figures}


def matmul_peak_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 5, tries: int = 5) -> float:
    """Best of `tries` timings of `repeats` square matmuls on all cores: the hardware's limit for this dtype."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        for _ in range(repeats):
            torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 * repeats / best / 1e9


def phase_peak() -> dict:
    return {
        "bf16_gflops": matmul_peak_gflops(torch.bfloat16),
        "fp32_gflops": matmul_peak_gflops(torch.float32),
        "threads": torch.get_num_threads(),
    }


def run_phase(name: str, args: argparse.Namespace) -> dict:
    """Run one phase in a fresh process; returns its figures plus its peak RSS."""
    command = [sys.executable, "-m", "benchmarks.speed", "--phase", name, "--rows", str(args.rows), "--epochs", str(args.epochs)]
    output = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def run_phase_here(name: str, rows: int, epochs: int) -> dict:
    kind, *rest = name.split(":")
    if kind == "peak":
        return phase_peak()
    workload, path = rest
    return phase_finetune(workload, path, rows, epochs) if kind == "finetune" else phase_embed(workload, path, rows)


def markdown(result: dict) -> str:
    peak = result["peak"]["bf16_gflops"]
    lines = [
        f"{result['rows']} train rows per workload, {BASE}, {result['epochs']} epoch(s), {result['cores']} cores, torch {result['torch']}; "
        f"same-run matmul peak: bf16 {peak:.0f} GFLOP/s, fp32 {result['peak']['fp32_gflops']:.0f} GFLOP/s",
        "",
        "| workload | measure | path | texts/s | GFLOP/s (real tokens) | share of bf16 peak | ratio to original | other |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workload, phases in result["workloads"].items():
        tokens = f"max {WORKLOADS[workload].max_seq_length} tokens"
        for path in FINETUNE_PATHS:
            row = phases["finetune"][path]
            ratio = row["texts_per_s"] / phases["finetune"]["original"]["texts_per_s"]
            lines.append(
                f"| {workload} ({tokens}) | fine-tune | {path} ({row['precision']}) | {row['texts_per_s']:.1f} | {row['gflops']:.0f} | {100 * row['gflops'] / peak:.0f}% "
                f"| {ratio:.1f}x | held-out accuracy {row['heldout_accuracy']:.3f} ({row['heldout_rows']} rows), peak RSS {row['peak_rss_mib']:.0f} MiB |"
            )
        for path in EMBED_PATHS:
            row = phases["embed"][path]
            ratio = row["texts_per_s"] / phases["embed"]["original"]["texts_per_s"]
            other = (
                f"{row['texts_per_s'] / phases['embed']['ours']['texts_per_s']:.2f}x ours (bf16), mean cosine {row['mean_cosine_to_ours']:.4f}"
                if path == "int8"
                else ""
            )
            lines.append(
                f"| {workload} ({tokens}) | embed | {path} | {row['texts_per_s']:.1f} | {row['gflops']:.0f} | {100 * row['gflops'] / peak:.0f}% | {ratio:.1f}x | {other} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--output", help="also write the figures as JSON here")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        figures = run_phase_here(args.phase, args.rows, args.epochs)
        figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return

    result = {
        "rows": args.rows,
        "epochs": args.epochs,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "peak": run_phase("peak", args),
        "workloads": {},
    }
    for workload in args.workloads:
        result["workloads"][workload] = {
            "finetune": {path: run_phase(f"finetune:{workload}:{path}", args) for path in FINETUNE_PATHS},
            "embed": {path: run_phase(f"embed:{workload}:{path}", args) for path in EMBED_PATHS},
        }
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
