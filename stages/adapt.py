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
from prodcat.data.splits import UNLABELLED, read_split
from prodcat.encoders.load import ADAPT_INFO, load_encoder, pick_device, resolve_precision
from prodcat.training.adapt import adapt_encoder, adapt_fingerprint, adaptation_corpus, corpus_digest
from prodcat.training.trainer import LabelledTexts

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True, help="preprocess output folder (train, validation and unlabelled are read, never test)")
    parser.add_argument("--output", required=True, help="adapted sentence-transformers folder (only adapt.json with method none)")
    parser.add_argument("--checkpoints", required=True, help="per-epoch checkpoints, kept to resume a crashed run")
    parser.add_argument("--report", required=True, help="training summary and corpus size and hash (a DVC metric)")
    parser.add_argument("--live", required=True, help="DVCLive folder: per-step loss, per-epoch validation centroid accuracy")
    args = parser.parse_args(argv)
    with stage_errors("adapt"):
        params = load_params(args.params)
        method = params.adapt.method
        Path(args.checkpoints).mkdir(parents=True, exist_ok=True)  # DVC outputs, present whatever the method
        Path(args.live, "plots", "metrics").mkdir(parents=True, exist_ok=True)
        if method == "none":
            shutil.rmtree(args.live)  # no curve: not the one of an earlier adaptation
            Path(args.live, "plots", "metrics").mkdir(parents=True)
            with atomic_dir(args.output) as folder:
                write_json(folder / ADAPT_INFO, {"method": method})
            write_json(args.report, {"method": method})
            return

        train, _, labels = read_split(args.data, "train", columns=["text", "label"])
        validation, _, validation_labels = read_split(args.data, "validation", columns=["text", "label"])
        unlabelled = pd.read_parquet(Path(args.data, f"{UNLABELLED}.parquet"), columns=["text"])["text"].tolist()
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
            checkpoints=Path(args.checkpoints),
            fingerprint=fingerprint,
            curve=(
                LabelledTexts(train["text"].tolist(), labels.tolist()),
                LabelledTexts(validation["text"].tolist(), validation_labels.tolist()),
            ),
            live_dir=Path(args.live),
        )
        with atomic_dir(args.output) as folder:
            model.save_pretrained(str(folder), safe_serialization=True)
            write_json(folder / ADAPT_INFO, {"method": method, "fingerprint": fingerprint})
        write_json(
            args.report,
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
