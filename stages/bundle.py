"""Stage bundle: the champion as one versioned folder (models/bundle) that batch jobs and the service load.

Copies what the champion needs from models/ (nothing else; with --refit, what the refit stage refitted
on train + validation from models/refit in place of the train fits), and writes a manifest: variant, labels,
inference settings, the training data's fingerprint and profile (the drift report's reference), the
champion's validation and test scores, library versions, the cascade's threshold (scoring path). Registered in dvc.yaml under `artifacts:`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, read_json
from prodcat.core.params import load_params
from prodcat.data.splits import read_split
from prodcat.heads.scoring import refit_record
from prodcat.inference.bundle import file_sha256, write_bundle
from prodcat.inference.drift import reference_profile

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True, help="preprocess output folder (train.parquet, labels.json)")
    parser.add_argument("--models", required=True, help="models folder (xgb/, finetuned/, sparse/)")
    parser.add_argument("--champion", required=True, help="the champion stage's choice and fusion weights")
    parser.add_argument("--scores", required=True, help="the champion's validation and test scores (evaluate's champion report)")
    parser.add_argument("--cascade", help="the cascade stage's threshold (JSON); without it every row goes through the champion")
    parser.add_argument("--refit", action="store_true", help="pack the refit stage's models (models/refit) in place of the train fits")
    parser.add_argument("--output", required=True, help="the bundle folder")
    args = parser.parse_args(argv)
    with stage_errors("bundle"):
        params = load_params(args.params)
        train, labels, _ = read_split(args.data, "train")
        choice, scores = read_json(args.champion), read_json(args.scores)
        refit = refit_record(Path(args.models), choice["champion"])["variants"] if args.refit else []
        train_file = Path(args.data, "train.parquet")
        training_data = {"file": train_file.as_posix(), "sha256": file_sha256(train_file), "rows": len(train)}
        reference = reference_profile(train, train["label"], params.bundle.bins)
        with atomic_dir(args.output) as scratch:
            manifest = write_bundle(
                scratch,
                choice["champion"],
                choice["fusion_weights"],
                labels,
                params,
                Path(args.models),
                training_data,
                {"validation": scores["validation"], "test": scores["test_refit"] if refit else scores["test"]},
                reference,
                choice["embed_backend"],
                choice["embed_backend_reason"],
                read_json(args.cascade)["threshold"] if args.cascade else None,
                refit,
            )
        log.info("%s -> %s (%s, fingerprint %s)", manifest["variant"], args.output, ", ".join(manifest["files"]), manifest["fingerprint"])


if __name__ == "__main__":
    main()
