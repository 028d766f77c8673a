"""Encoder levers for the champion's scoring speed (issue 21 §1): runtime, precision, max_seq_length, static embeddings.

    python -m benchmarks.encoder_levers --repo <trained repo> [--rows 1000] [--seq-lengths 64 32] [--parts encoders static] [--work DIR] [--output levers.json]

<repo> is a working copy after `dvc repro` (models/bundle, models/sparse, data/processed,
data/embeddings, data/sparse_scores, params.yaml); it is only read. Each encoder lever replaces the
bundle's encoder(s) and nothing else, so the champion's heads are the trained ones:
- runtime and precision: torch fp32, torch bf16 (the bundle's `auto` on a CPU with native bf16), the
  int8 ONNX export (prodcat/encoders/runtimes/onnx_int8.py), OpenVINO fp32 and bf16 (prodcat/encoders/runtimes/openvino.py);
- a shorter max_seq_length at scoring only (the heads were fitted on embeddings at the trained length).
Per lever: the champion's validation accuracy, products/s of the whole champion (embedding, then the
sparse model, tabular columns and heads, timed apart on the lever's vectors and added), the encoder's
texts/s and its GFLOP/s on real tokens as a share of the same-run bf16 matmul peak
(benchmarks/speed.py), and the mean row cosine to torch fp32 at the trained length. Timed texts:
validation first (its rows give the accuracy), then test and train, `--rows` in all (at least the
validation split when there is a champion). The `sparse` variant is the reference row. A repo without models/bundle (not
trained yet) gets the speed columns only, for its base encoder (`encoder.base`) on its texts.

Static embeddings (model2vec, when installed: `pip install --no-deps model2vec==0.8.2 skeletoken==0.6.1`,
since the `distill` extra pins `transformers<5.4`, against this project's >=5.24; distilling ran with 5.24): distilled from the
fine-tuned encoder's folder (kept in --work, reused), then (a) the static embedding (+ tabular) with
XGBoost at train_xgb's settings, with the sparse scores as a static `hybrid`, and with the
`hybrid_linear` offset head; (b) the static embedding as an extra block of the `hybrid` (XGBoost on
fine-tuned embedding + static + sparse scores + tabular), beside the hybrid refitted here without it.
All fit on train (the sparse scores out of fold, as train_xgb; XGBoost on one thread), score validation.

One process, the machine as it is: figures from a shared machine vary between runs; compare rows of one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.speed import matmul_peak_gflops
from prodcat.core.io import read_json
from prodcat.core.params import load_params
from prodcat.encoders.flops import EncoderShape, forward_flops, token_lengths
from prodcat.encoders.load import load_encoder
from prodcat.encoders.matrices import load_matrix
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.onnx_int8 import export_int8, row_cosines
from prodcat.encoders.runtimes.registry import load_runtime
from prodcat.encoders.runtimes.torch import TorchEncoder
from prodcat.heads.offset import offset_logits, train_weights
from prodcat.heads.scoring import TrainedHeads
from prodcat.heads.sparse import SPARSE_FOLDER, SparseModel
from prodcat.heads.xgboost import design_matrix, predict_proba, train_booster
from prodcat.inference.bundle import MANIFEST_FILE, load_bundle
from prodcat.inference.predictor import Predictor

Encode = Callable[[list[str]], np.ndarray]
RUNTIMES = [("torch", "fp32"), ("torch", "bf16"), ("onnx_int8", "int8"), ("openvino", "fp32"), ("openvino", "bf16")]
# XGBoost fits single-threaded: on a shared machine its OpenMP barriers stalled a 2-thread fit for many minutes.
XGB_THREADS = 1
SHORT_RUNTIMES = [("torch", "bf16"), ("openvino", "bf16")]  # the shorter max_seq_length levers run on these


@dataclasses.dataclass
class Row:
    lever: str
    accuracy: float
    products_per_s: float
    texts_per_s: float | None = None
    peak_share: float | None = None
    cosine: float | None = None
    note: str = ""


def encoder_sources(bundle_folder: Path, manifest: dict) -> dict[str, str]:
    return {
        name: str(bundle_folder / where["folder"]) if "folder" in where else where["name"] for name, where in manifest["encoders"].items()
    }


def lever_encoder(source: str, runtime: str, precision: str, max_seq_length: int, batch_size: int, scratch: Path) -> Encode:
    """One encoder as a lever runs it (prodcat/encoders/runtimes/), on the CPU; the int8 export is built here, untimed."""
    settings = RuntimeSettings(max_seq_length, batch_size, precision)
    if runtime == "torch":
        return TorchEncoder.load(source, settings, device="cpu").encode  # the CPU even where a GPU is
    if runtime == "onnx_int8":
        model = load_encoder(source, max_seq_length, device="cpu")
        source = str(export_int8(model, scratch / f"int8-{max_seq_length}", max_seq_length))
    return load_runtime(runtime, source, settings).encode


def stored(vectors: np.ndarray) -> Encode:
    """An encoder that returns vectors computed before, for texts in the same order (the heads' share of the time)."""
    return lambda texts: vectors[: len(texts)]


def timed(function: Callable, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def accuracy(probabilities: np.ndarray, truth: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == truth).mean())


class Levers:
    """The trained repo's champion, the rows it is scored on, and what every lever row shares."""

    def __init__(self, repo: Path, rows: int, batch_size: int | None) -> None:
        self.repo = repo
        bundle = repo / "models" / "bundle"
        self.bundle = load_bundle(bundle) if (bundle / MANIFEST_FILE).is_file() else None
        params = load_params(repo / "params.yaml")
        if self.bundle:
            inference = self.bundle.manifest["inference"]
            self.max_seq_length, self.batch_size = inference["max_seq_length"], batch_size or inference["embed_batch_size"]
            self.sources, labels = encoder_sources(bundle, self.bundle.manifest), self.bundle.manifest["labels"]
        else:  # not trained yet: the base encoder's speed on this catalog's texts, no accuracy
            self.max_seq_length, self.batch_size = params.encoder.max_seq_length, batch_size or params.inference.batch_size
            self.sources, labels = {"stock": params.encoder.base}, read_json(repo / "data" / "processed" / "labels.json")
        splits = {name: pd.read_parquet(repo / "data" / "processed" / f"{name}.parquet") for name in ("validation", "test", "train")}
        self.train = splits["train"]
        self.validation_rows = len(splits["validation"])
        timed_rows = max(rows, self.validation_rows) if self.bundle else rows  # accuracy needs every validation row
        self.frame = pd.concat(list(splits.values()), ignore_index=True).head(timed_rows)
        self.texts = self.frame["text"].tolist()
        index = {label: position for position, label in enumerate(labels)}
        self.truth = splits["validation"]["label"].map(index).to_numpy()
        self.train_truth = self.train["label"].map(index).to_numpy()
        self.peak = matmul_peak_gflops(torch.bfloat16)

    def champion_accuracy(self) -> float:
        """The bundle as it scores (its runtime and precision) on validation: the reference of every row."""
        if not self.bundle:
            return float("nan")
        return accuracy(self.bundle.predictor.probabilities(self.frame.head(self.validation_rows)), self.truth)

    def heads_seconds(self, predictor: Predictor, vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        """Probabilities of every timed row from these embeddings, and the time the rest of the champion took."""
        return timed(
            dataclasses.replace(predictor, encoders={name: stored(value) for name, value in vectors.items()}).probabilities, self.frame
        )

    def flops(self, max_seq_length: int) -> int:
        total = 0
        for source in self.sources.values():
            model = load_encoder(source, max_seq_length, device="cpu")
            total += forward_flops(EncoderShape.of(model[0].auto_model.config), token_lengths(model.tokenizer, self.texts, max_seq_length))
        return total

    def encoder_rows(self, seq_lengths: list[int], scratch: Path) -> list[Row]:
        plan = [(runtime, precision, self.max_seq_length) for runtime, precision in RUNTIMES]
        plan += [(runtime, precision, length) for length in seq_lengths for runtime, precision in SHORT_RUNTIMES]
        reference: dict[str, np.ndarray] = {}
        rows = []
        flops = {length: self.flops(length) for length in {self.max_seq_length, *seq_lengths}}
        for runtime, precision, length in plan:
            vectors, seconds = {}, 0.0
            for name, source in self.sources.items():
                encode = lever_encoder(source, runtime, precision, length, self.batch_size, scratch)
                encode(self.texts[:8])  # warm-up, untimed: first-call allocations, kernel choices, OpenVINO's shape compile
                vectors[name], spent = timed(encode, self.texts)
                seconds += spent
            reference = reference or vectors  # the first lever is torch fp32 at the trained length
            if self.bundle:
                probabilities, rest = self.heads_seconds(self.bundle.predictor, vectors)
                validation_accuracy = accuracy(probabilities[: self.validation_rows], self.truth)
            else:
                validation_accuracy, rest = float("nan"), float("nan")  # no champion: speed columns only
            rows.append(
                Row(
                    f"{runtime} {precision}" + (f", max_seq_length {length}" if length != self.max_seq_length else ""),
                    validation_accuracy,
                    len(self.texts) / (seconds + rest),
                    len(self.texts) / seconds,
                    flops[length] / seconds / 1e9 / self.peak,
                    float(np.mean([row_cosines(reference[name], vectors[name]).mean() for name in vectors])),
                )
            )
            print(rows[-1], flush=True)
        return rows

    def sparse_row(self) -> Row:
        """The `sparse` variant (TF-IDF + linear) from the repo's models: the baseline the issue compares with."""
        models = self.repo / "models"
        sparse = SparseModel.load(models / SPARSE_FOLDER)
        predictor = Predictor("sparse", self.bundle.manifest["labels"], ["sparse"], {}, sparse, TrainedHeads.load(models, ["sparse"]))
        probabilities, seconds = timed(predictor.probabilities, self.frame)
        return Row(
            "sparse variant (TF-IDF + linear)", accuracy(probabilities[: self.validation_rows], self.truth), len(self.texts) / seconds
        )

    def static_rows(self, work: Path) -> list[Row]:
        """model2vec distilled from the fine-tuned encoder: as the embedding of XGBoost, hybrid and offset heads, and as an extra block."""
        from model2vec import StaticModel
        from model2vec.distill import distill

        folder, note = work / "static", "distilled earlier"
        if not (folder / "config.json").is_file():
            started = time.perf_counter()
            distill(model_name=self.sources["finetuned"], pca_dims=256).save_pretrained(str(folder))
            note = f"distilled in {time.perf_counter() - started:.0f} s"
        static = StaticModel.from_pretrained(str(folder))
        params = load_params(self.repo / "params.yaml")
        encoding = self.bundle.predictor.heads.encoding
        sparse = SparseModel.load(self.repo / "models" / SPARSE_FOLDER)
        train_scores = load_matrix(self.repo / "data" / "sparse_scores" / "train")  # out of fold, as train_xgb fits on
        train_static = static.encode(self.train["text"].tolist())
        stored_finetuned = {
            split: load_matrix(self.repo / "data" / "embeddings" / "finetuned" / split) for split in ("train", "validation")
        }
        validation = self.frame.head(self.validation_rows)
        classes = len(self.bundle.manifest["labels"])
        rows = []

        def features(blocks: list[str], scores: np.ndarray, static_vectors: np.ndarray, fine: np.ndarray) -> np.ndarray:
            named = {"static": static_vectors, "sparse": scores, "finetuned": fine}
            return np.hstack([named[block] for block in blocks])

        for blocks, label in [
            (["static"], "static + XGBoost"),
            (["static", "sparse"], "static hybrid (static + sparse scores, XGBoost)"),
            (["finetuned", "sparse"], "hybrid refitted here (reference for the next row; stored embeddings, untimed)"),
            (["finetuned", "static", "sparse"], "hybrid + static block (XGBoost)"),
        ]:
            train_design = design_matrix(
                features(blocks, train_scores, train_static, stored_finetuned["train"]),
                encoding.transform(self.train),
                encoding,
                self.train_truth,
            )
            booster = train_booster(train_design, classes, params.train_xgb, threads=XGB_THREADS)

            def score(frame: pd.DataFrame, blocks=blocks, booster=booster) -> np.ndarray:
                texts = frame["text"].tolist()
                static_vectors = static.encode(texts) if "static" in blocks else None
                scores = sparse.scores(texts) if "sparse" in blocks else None
                fine = stored_finetuned["validation"] if "finetuned" in blocks else None
                return predict_proba(
                    booster, design_matrix(features(blocks, scores, static_vectors, fine), encoding.transform(frame), encoding)
                )

            if "finetuned" in blocks:  # the encoder's speed is measured above: accuracy only, on validation's stored embeddings
                rows.append(Row(label, accuracy(score(validation), self.truth), float("nan"), note=note))
            else:
                probabilities, seconds = timed(score, self.frame)
                rows.append(Row(label, accuracy(probabilities[: self.validation_rows], self.truth), len(self.texts) / seconds, note=note))
            print(rows[-1], flush=True)

        weights = train_weights(train_static, train_scores, self.train_truth, classes, params.base.seed, 10)

        def offset(frame: pd.DataFrame) -> np.ndarray:
            texts = frame["text"].tolist()
            with torch.no_grad():
                logits = offset_logits(
                    weights, torch.from_numpy(static.encode(texts)), torch.from_numpy(sparse.scores(texts).astype(np.float32))
                )
            return logits.numpy()

        probabilities, seconds = timed(offset, self.frame)
        rows.append(
            Row(
                "static + sparse offset head (hybrid_linear's)",
                accuracy(probabilities[: self.validation_rows], self.truth),
                len(self.texts) / seconds,
                note=note,
            )
        )
        print(rows[-1], flush=True)
        return rows


def markdown(result: dict) -> str:
    champion = result["champion_accuracy"]
    lines = [
        f"{result['repo']}: champion `{result['variant']}`, max_seq_length {result['max_seq_length']}, {result['validation_rows']} validation rows "
        f"(one row = {100 / result['validation_rows']:.2f} point), {result['timed_rows']} timed rows, {result['cores']} cores (shared), "
        f"same-run bf16 matmul peak {result['peak_gflops']:.0f} GFLOP/s",
        "",
        "| lever | validation accuracy | points vs the bundle as it scores | products/s | encoder texts/s | % of bf16 peak | cosine to torch fp32 | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        cell = lambda value, fmt: "" if value is None or value != value else format(value, fmt)  # noqa: E731  None or NaN: blank
        share = row["peak_share"] and 100 * row["peak_share"]
        lines.append(
            f"| {row['lever']} | {cell(row['accuracy'], '.4f')} | {cell(100 * (row['accuracy'] - champion), '+.2f')} "
            f"| {cell(row['products_per_s'], '.0f')} | {cell(row['texts_per_s'], '.0f')} | {cell(share, '.1f')} "
            f"| {cell(row['cosine'], '.5f')} | {row['note']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, required=True, help="a working copy after dvc repro (read only)")
    parser.add_argument("--rows", type=int, default=1000, help="texts timed (at least the validation split)")
    parser.add_argument("--seq-lengths", type=int, nargs="*", default=[64, 32], help="shorter max_seq_length levers")
    parser.add_argument("--batch-size", type=int, help="embedding batch size (default: the bundle's)")
    parser.add_argument("--work", type=Path, help="keeps the distilled static model between runs (default: a temporary folder)")
    parser.add_argument("--parts", nargs="+", choices=["encoders", "static"], default=["encoders", "static"], help="which levers to run")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    levers = Levers(args.repo, args.rows, args.batch_size)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        rows = []
        if "encoders" in args.parts:
            rows += levers.encoder_rows([length for length in args.seq_lengths if length < levers.max_seq_length], Path(scratch))
        if levers.bundle:  # the rows below need the trained models
            rows.append(levers.sparse_row())
        if levers.bundle and "static" in args.parts:
            try:
                import model2vec  # noqa: F401
            except ImportError:
                print("model2vec is not installed: static levers skipped (see the module docstring)")
            else:
                if "finetuned" in levers.sources:
                    rows += levers.static_rows(work)
                else:
                    print("the champion reads no fine-tuned encoder: static levers skipped")
    result = {
        "repo": str(args.repo),
        "variant": levers.bundle.manifest["variant"] if levers.bundle else "none (untrained repo: base encoder, speed only)",
        "max_seq_length": levers.max_seq_length,
        "validation_rows": levers.validation_rows,
        "timed_rows": len(levers.texts),
        "cores": len(os.sched_getaffinity(0)),
        "peak_gflops": levers.peak,
        "champion_accuracy": levers.champion_accuracy(),
        "rows": [dataclasses.asdict(row) for row in rows],
    }
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
