"""Stage train_xgb: one XGBoost classifier per XGBoost variant (stock, finetuned, hybrid) on its text features + price + categoricals,
and the sparse-offset softmax head of each offset variant (hybrid_linear): the heads fitted on the stored train blocks.

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
from prodcat.core.variants import offset_variants, variant, xgboost_variants
from prodcat.data.splits import read_split
from prodcat.heads.blocks import stored_blocks
from prodcat.heads.offset import OffsetHead
from prodcat.heads.xgboost import TABULAR_FILE, TabularEncoding, XGBoostHead

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("train_xgb"):
        params, paths = load_params(args.params), load_paths(args.paths)
        train, names, labels = read_split(paths.processed, "train")
        encoding = TabularEncoding.fit(train, params.catalog.categorical_columns)
        variants, offsets = xgboost_variants(params.variants), offset_variants(params.variants)
        blocks = stored_blocks(train, "train", variants + offsets, paths.embeddings, paths.sparse_scores, encoding)
        with atomic_dir(paths.xgb) as folder, open_cluster(params.cluster) as client:
            write_json(Path(folder, TABULAR_FILE), encoding.to_json())
            for name in variants:
                head = XGBoostHead.fit(
                    variant(name), blocks, labels, len(names), encoding, params.train_xgb, threads=os.cpu_count() or 1,
                    client=client, shard_rows=params.cluster.shard_rows,
                )  # fmt: skip
                head.save(Path(folder))
                log.info(
                    "%s: %d rounds on %d rows x %d features",
                    name,
                    head.booster.num_boosted_rounds(),
                    len(labels),
                    head.booster.num_features(),
                )
            for name in offsets:
                OffsetHead.fit(variant(name), blocks, labels, len(names), params.train_xgb.seed).save(Path(folder))
                log.info("%s: sparse-offset softmax head on %d rows", name, len(labels))


if __name__ == "__main__":
    main()
