"""Stage train_sparse: the word + char n-gram TF-IDF linear model, and its class scores for every split.

Train rows get out-of-fold scores (the hybrid's XGBoost learns from them); validation and test
rows are scored by the model fitted on all train rows, as new products will be.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.data.splits import read_split
from prodcat.encoders.matrices import save_matrix
from prodcat.heads.sparse import fit_sparse, fit_temperature, out_of_fold_scores

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("train_sparse"):
        params, paths = load_params(args.params), load_paths(args.paths)
        train, names, labels = read_split(paths.processed, "train")
        texts = train["text"].tolist()
        groups = train["group"].to_numpy() if "group" in train else None
        started = time.perf_counter()
        oof = out_of_fold_scores(texts, labels, groups, len(names), params.train_sparse, params.base.seed)
        temperature = fit_temperature(oof, labels)
        model = fit_sparse(texts, labels, len(names), params.train_sparse, temperature)
        log.info(
            "%s on %d train rows x %d n-grams; out-of-fold accuracy %.4f, temperature %.2f (%.1fs)",
            params.train_sparse.classifier,
            len(texts),
            model.weights.shape[1],
            float((oof.argmax(axis=1) == labels).mean()),
            temperature,
            time.perf_counter() - started,
        )
        with atomic_dir(paths.sparse) as folder:
            model.save(folder)
        with atomic_dir(paths.sparse_scores) as folder:
            save_matrix(Path(folder, "train"), oof)
            for split in ("validation", "test"):
                frame, _, _ = read_split(paths.processed, split, columns=["text", "label"])
                save_matrix(Path(folder, split), np.asarray(model.scores(frame["text"].tolist())))


if __name__ == "__main__":
    main()
