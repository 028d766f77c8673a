"""Stage refit: once the champion is chosen, fit its parts that need no fine-tuning again on train + validation.

The sparse model (out-of-fold scores over both splits), the boosters and the offset heads the
champion reads (the fusion: its members with a weight) are fitted as train_sparse and train_xgb fit
them, on more rows; encoders, the softmax head, the fusion weights and the categorical codes stay.
Reads no test row (dvc.yaml lists its inputs). `refit.enabled: false`, or a champion with nothing to
refit (softmax), writes only refit.json with no variants: evaluate and bundle then use the train fits.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, read_json, write_json
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.core.variants import encoders_needed
from prodcat.data.splits import read_split
from prodcat.encoders.matrices import load_matrix
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Fitting, existing
from prodcat.heads.fusion import scored_variants
from prodcat.heads.refit import REFIT_FILE, refit
from prodcat.heads.registry import refitted_variants
from prodcat.heads.xgboost import TABULAR_FILE

log = logging.getLogger(__name__)
SPLITS = ("train", "validation")  # never test


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("refit"):
        params, paths = load_params(args.params), load_paths(args.paths)
        choice = read_json(paths.champion)
        names = refitted_variants(scored_variants(choice["champion"], choice["fusion_weights"])) if params.refit.enabled else []
        splits = [read_split(paths.processed, split) for split in SPLITS]
        frame = pd.concat([split[0] for split in splits], ignore_index=True)
        labels, num_classes = np.concatenate([split[2] for split in splits]), len(splits[0][1])
        record = {
            "champion": choice["champion"],
            "variants": names,
            "rows": {split: len(s[0]) for split, s in zip(SPLITS, splits, strict=True)},
        }
        with atomic_dir(paths.refit) as folder:
            if names:
                started = time.perf_counter()
                encoding = TabularEncoding.from_json(read_json(existing(paths.xgb / TABULAR_FILE)))
                embeddings = {
                    encoder: np.vstack([load_matrix(Path(paths.embeddings, encoder, split)) for split in SPLITS])
                    for encoder in encoders_needed(names)
                }
                refit(
                    names, frame["text"].tolist(), labels, frame["group"].to_numpy() if "group" in frame else None, embeddings,
                    encoding.transform(frame), num_classes, params.train_sparse, params.base.seed,
                    Fitting(encoding, params.train_xgb, threads=os.cpu_count() or 1),
                ).save(Path(folder), paths.models)  # fmt: skip
                log.info("%s refitted on %d train + validation rows (%.1fs)", ", ".join(names), len(frame), time.perf_counter() - started)
            else:
                log.info(
                    "nothing to refit (%s)", "refit.enabled is false" if not params.refit.enabled else f"{choice['champion']} is fine-tuned"
                )
            write_json(Path(folder, REFIT_FILE), record)


if __name__ == "__main__":
    main()
