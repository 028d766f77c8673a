"""Stage adapt: adapt the base encoder to the catalog's texts without labels (adapt.method), before finetune.

Reads the train split's texts and the unlabelled rows (never test); the validation split only draws
the per-epoch curve. With adapt.method none it writes only a marker, and finetune starts from encoder.base.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
from transformers import set_seed

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.data.splits import UNLABELLED, read_split
from prodcat.encoders.load import ADAPT_INFO, load_encoder, pick_device, resolve_precision
from prodcat.training.adapt import adapt_encoder, adapt_fingerprint, adaptation_corpus, corpus_digest
from prodcat.training.trainer import LabelledTexts

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("adapt"):
        params, paths = load_params(args.params), load_paths(args.paths)
        method = params.adapt.method
        paths.adapt_checkpoints.mkdir(parents=True, exist_ok=True)  # DVC outputs, present whatever the method
        Path(paths.adapt_live, "plots", "metrics").mkdir(parents=True, exist_ok=True)
        if method == "none":
            shutil.rmtree(paths.adapt_live)  # no curve: not the one of an earlier adaptation
            Path(paths.adapt_live, "plots", "metrics").mkdir(parents=True)
            with atomic_dir(paths.adapted) as folder:
                write_json(folder / ADAPT_INFO, {"method": method})
            write_json(paths.adapt_report, {"method": method})
            return

        train, _, labels = read_split(paths.processed, "train", columns=["text", "label"])
        validation, _, validation_labels = read_split(paths.processed, "validation", columns=["text", "label"])
        unlabelled = pd.read_parquet(Path(paths.processed, f"{UNLABELLED}.parquet"), columns=["text"])["text"].tolist()
        corpus = adaptation_corpus(train["text"].tolist(), unlabelled, params.adapt.max_texts, params.adapt.seed)
        fingerprint = adapt_fingerprint(corpus, params.encoder, params.adapt)

        set_seed(params.adapt.seed)
        device = pick_device()
        precision = resolve_precision(params.adapt.precision, device)
        model = load_encoder(params.encoder.base, params.encoder.max_seq_length, device=device)
        summary = adapt_encoder(
            model,
            corpus,
            params.adapt,
            precision=precision,
            checkpoints=paths.adapt_checkpoints,
            fingerprint=fingerprint,
            curve=(
                LabelledTexts(train["text"].tolist(), labels.tolist()),
                LabelledTexts(validation["text"].tolist(), validation_labels.tolist()),
            ),
            live_dir=paths.adapt_live,
        )
        with atomic_dir(paths.adapted) as folder:
            model.save_pretrained(str(folder), safe_serialization=True)
            write_json(folder / ADAPT_INFO, {"method": method, "fingerprint": fingerprint})
        write_json(
            paths.adapt_report,
            {
                "method": method,
                "device": summary.device,
                "precision": summary.precision,
                "epochs": summary.epochs,
                "steps": summary.steps,
                "corpus_texts": len(corpus),
                "corpus_unlabelled_texts": len(set(corpus) - set(train["text"])),
                "corpus_sha256": corpus_digest(corpus),
                "seconds": summary.seconds,
                "samples_per_second": summary.samples_per_second,
                "final_loss": summary.final_loss,
                "resumed_from": summary.resumed_from,
            },
        )


if __name__ == "__main__":
    main()
