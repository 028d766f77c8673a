"""Stage train_xgb: the heads fitted on the stored train blocks, through the registry (those whose `fitted_in` is train_xgb):
one XGBoost classifier per XGBoost variant (stock, finetuned, hybrid) on its text features + price + categoricals,
and the sparse-offset softmax head of each offset variant (hybrid_linear).

With a cluster configured (`cluster` params) each booster trains through `xgboost.dask` on it; the
saved boosters are the same format either way.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prodcat.cluster.workers import open_cluster
from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.data.splits import read_split
from prodcat.features.blocks import stored_blocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Fitting, TrainingRows
from prodcat.heads.registry import fit_heads, variants_fitted_in
from prodcat.heads.xgboost import TABULAR_FILE

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("train_xgb"):
        params, paths = load_params(args.params), load_paths(args.paths)
        train, names, labels = read_split(paths.processed, "train")
        encoding = TabularEncoding.fit(train, params.catalog.categorical_columns)
        variants = variants_fitted_in("train_xgb", params.variants)
        blocks = stored_blocks(train, "train", variants, paths.embeddings, paths.sparse_scores, encoding)
        with atomic_dir(paths.xgb) as folder, open_cluster(params.cluster) as client:
            write_json(Path(folder, TABULAR_FILE), encoding.to_json())
            fitting = Fitting(encoding, params.train_xgb, os.cpu_count() or 1, client, params.cluster.shard_rows)
            for name, head in fit_heads(variants, TrainingRows(blocks, labels, len(names)), fitting).items():
                head.save(Path(folder))
                log.info("%s: %s fitted on %d rows", name, type(head).__name__, len(labels))


if __name__ == "__main__":
    main()
