"""Stage embed: train/validation/test sentence embeddings of every encoder the variants read (stock, finetuned)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.catalog import SPLITS
from prodcat.cli import stage_errors, stage_parser
from prodcat.embedding import cache_path, cached_encode, encode_texts, prune_cache, save_matrix
from prodcat.encoders import load_encoder, pick_device, resolve_precision
from prodcat.io import atomic_dir
from prodcat.params import Params, load_params
from prodcat.variants import encoder_source, encoders_needed

log = logging.getLogger(__name__)

Splits = dict[str, list[str]]


def encoder_matrices(encoder: str, splits: Splits, params: Params, device: str, precision: str, cache_dir: Path) -> tuple[dict[str, np.ndarray], Path]:
    """Sentence embeddings per split, through the text-hash cache of this encoder's fingerprint."""
    model = load_encoder(encoder, params.encoder.max_seq_length, device=device)
    cache_file = cache_path(cache_dir, model, precision)
    matrices = {}
    for split, texts in splits.items():
        matrices[split], encoded = cached_encode(
            texts, lambda batch: encode_texts(model, batch, params.embed.batch_size, precision), cache_file
        )
        log.info("%s: encoded %d of %d %s texts, %d from cache", encoder, encoded, len(texts), split, len(texts) - encoded)
    return matrices, cache_file


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True, help="preprocess output folder")
    parser.add_argument("--finetuned", required=True, help="fine-tuned sentence-transformers folder")
    parser.add_argument("--output", required=True, help="folder of <encoder>/{train,validation,test}.npy matrices")
    parser.add_argument("--cache", required=True, help="embeddings by text hash, one file per encoder fingerprint")
    args = parser.parse_args(argv)
    with stage_errors("embed"):
        params = load_params(args.params)
        splits = {split: pd.read_parquet(Path(args.data, f"{split}.parquet"), columns=["text"])["text"].tolist() for split in SPLITS}
        device = pick_device()
        precision = resolve_precision(params.embed.precision, device)
        used_cache_files: set[Path] = set()
        with atomic_dir(args.output) as folder:
            for encoder in encoders_needed(params.variants):
                started = time.perf_counter()
                source = encoder_source(encoder, params.encoder.base, Path(args.finetuned))
                matrices, cache_file = encoder_matrices(source, splits, params, device, precision, Path(args.cache))
                used_cache_files.add(cache_file)
                for split, matrix in matrices.items():
                    save_matrix(Path(folder, encoder, split), matrix)
                log.info("%s: %d dimensions in %.1fs (%s)", encoder, matrices["train"].shape[1], time.perf_counter() - started, precision)
        prune_cache(Path(args.cache), keep=used_cache_files)


if __name__ == "__main__":
    main()
