"""Issue 21's scoring levers on a trained repository: validation accuracy and products/s side by side, in one run.

    python -m benchmarks.levers --repo <a repo after `dvc repro`> [--rows 2000] [--seq-lengths 64 32] [--output .bench/levers.json]

From the repo's model bundle (models/bundle) and validation split: the champion as trained
(`max_seq_length` of the manifest), the champion with shorter `max_seq_length` at scoring only,
the cascade at the threshold fitted on validation here (`cascade_threshold`, the repo's
`cascade.max_accuracy_drop`; the cascade stage's rule, shown beside models/cascade.json when present),
the cascade with each shorter length, and the sparse model alone. Accuracy and the share of rows the
sparse model answers are on validation (test too, for reference: nothing is chosen on it). Products/s
is scoring time (features -> predictions frame, as `Bundle.score` after `Bundle.features`) over
`--rows` rows, the validation and test rows repeated, per wall-clock and per CPU second. Figures vary
with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from prodcat.core.io import read_json
from prodcat.core.params import load_params
from prodcat.data.splits import read_split
from prodcat.heads.scoring import TrainedHeads
from prodcat.heads.sparse import SPARSE_FOLDER, LinearHead, SparseModel
from prodcat.inference.bundle import build_encoders, load_bundle
from prodcat.inference.cascade import cascade_threshold
from prodcat.inference.predictor import Predictions, Predictor


def accuracy(predictor: Predictor, frame: pd.DataFrame, truth: np.ndarray) -> float:
    return float((predictor.probabilities(frame).argmax(axis=1) == truth).mean())


def products_per_second(predictor: Predictor, rows: pd.DataFrame) -> tuple[float, float]:
    """(products per wall-clock second, per CPU second of this process): on a shared machine the second moves less with the load."""
    predictor.probabilities(rows.head(8))  # warm: lazy model loading and first-call costs are not throughput
    started, cpu = time.perf_counter(), time.process_time()
    Predictions.ranked(rows["id"].to_numpy(), predictor.probabilities(rows), predictor.labels).to_frame()
    return len(rows) / (time.perf_counter() - started), len(rows) / (time.process_time() - cpu)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="a repository after `dvc repro` (models/bundle, data/processed)")
    parser.add_argument("--rows", type=int, default=2000, help="rows timed per lever (validation and test rows, repeated)")
    parser.add_argument("--seq-lengths", type=int, nargs="*", default=[64, 32], help="shorter max_seq_length tried at scoring")
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: torch's); 1 avoids spin-waiting on a machine shared with other jobs"
    )
    parser.add_argument("--output", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = load_bundle(args.repo / "models/bundle")
    drop = load_params(args.repo / "params.yaml").cascade.max_accuracy_drop
    splits = {split: read_split(args.repo / "data/processed", split) for split in ("validation", "test")}
    assert all(names == bundle.predictor.labels for _, names, _ in splits.values()), "the bundle's labels are not the repo's"
    timed = pd.concat([frame for frame, _, _ in splits.values()], ignore_index=True)
    timed = timed.iloc[np.resize(np.arange(len(timed)), args.rows)].reset_index(drop=True)

    champion = replace(bundle.predictor, cascade_threshold=None)
    sparse = champion.sparse or SparseModel.load(args.repo / "models" / SPARSE_FOLDER)
    alone = Predictor(
        "sparse", champion.labels, ["sparse"], {}, sparse, TrainedHeads(champion.heads.encoding, {"sparse": LinearHead(sparse.temperature)})
    )
    validation, _, truth = splits["validation"]
    fit = cascade_threshold(alone.probabilities(validation), champion.probabilities(validation), truth, drop)
    stage = args.repo / "models/cascade.json"
    print(f"levers: {champion.name} on {args.repo}; cascade threshold fitted here {fit.threshold}"
          + (f", models/cascade.json {read_json(stage)['threshold']}" if stage.is_file() else ""))  # fmt: skip

    length = bundle.manifest["inference"]["max_seq_length"]
    shorter = {n: replace(champion, encoders=build_encoders(bundle.folder, {**bundle.manifest, "inference": {**bundle.manifest["inference"], "max_seq_length": n}}))
               for n in args.seq_lengths if n < length and champion.encoders}  # fmt: skip
    levers = {f"{champion.name}, seq {length}": champion, **{f"{champion.name}, seq {n}": p for n, p in shorter.items()}}
    if fit.threshold is not None and champion.name != "sparse":
        levers |= {f"cascade, seq {length}": replace(champion, sparse=sparse, cascade_threshold=fit.threshold)}
        levers |= {f"cascade, seq {n}": replace(p, sparse=sparse, cascade_threshold=fit.threshold) for n, p in shorter.items()}
    levers["sparse alone"] = alone

    results = []
    for name, predictor in levers.items():
        row = {"lever": name}
        for split, (frame, _, labels) in splits.items():
            row[f"{split}_accuracy"] = round(accuracy(predictor, frame, labels), 4)
        if predictor.cascade_threshold is not None:
            row["sparse_share_validation"] = round(float((alone.probabilities(validation).max(axis=1) >= fit.threshold).mean()), 3)
            row["sparse_share_timed"] = round(float((alone.probabilities(timed).max(axis=1) >= fit.threshold).mean()), 3)
        row["products_per_s"], row["products_per_cpu_s"] = (round(rate) for rate in products_per_second(predictor, timed))
        results.append(row)
        print(json.dumps(row), flush=True)
    print(
        f"\n| lever | validation accuracy | test accuracy | sparse answers (validation) | products/s ({args.rows} rows) | products per CPU-s |\n|---|---|---|---|---|---|"
    )
    for row in results:
        share = f"{100 * row['sparse_share_validation']:.1f} %" if "sparse_share_validation" in row else ""
        print(
            f"| {row['lever']} | {row['validation_accuracy']:.4f} | {row['test_accuracy']:.4f} | {share} | {row['products_per_s']} | {row['products_per_cpu_s']} |"
        )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
