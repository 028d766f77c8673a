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
from prodcat.data.splits import read_split
from prodcat.features.blocks import stored_blocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Fitting, TrainingRows
from prodcat.heads.registry import fit_heads, variants_fitted_in
from prodcat.heads.xgboost import TABULAR_FILE

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True, help="preprocess output folder")
    parser.add_argument("--embeddings", required=True, help="embed output folder")
    parser.add_argument("--sparse-scores", required=True, help="train_sparse scores folder (out-of-fold on train)")
    parser.add_argument(
        "--output", required=True, help="folder for <variant>.ubj boosters, tabular.json, <variant>.safetensors offset heads"
    )
    args = parser.parse_args(argv)
    with stage_errors("train_xgb"):
        params = load_params(args.params)
        train, names, labels = read_split(args.data, "train")
        encoding = TabularEncoding.fit(train, params.catalog.categorical_columns)
        variants = variants_fitted_in("train_xgb", params.variants)
        blocks = stored_blocks(train, "train", variants, Path(args.embeddings), Path(args.sparse_scores), encoding)
        with atomic_dir(args.output) as folder, open_cluster(params.cluster) as client:
            write_json(Path(folder, TABULAR_FILE), encoding.to_json())
            fitting = Fitting(encoding, params.train_xgb, os.cpu_count() or 1, client, params.cluster.shard_rows)
            for name, head in fit_heads(variants, TrainingRows(blocks, labels, len(names)), fitting).items():
                head.save(Path(folder))
                log.info("%s: %s fitted on %d rows", name, type(head).__name__, len(labels))


if __name__ == "__main__":
    main()
