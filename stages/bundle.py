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
from prodcat.core.paths import load_paths
from prodcat.data.splits import read_split
from prodcat.heads.scoring import refit_record
from prodcat.inference.bundle import file_sha256, write_bundle
from prodcat.inference.drift import reference_profile

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--refit", action="store_true", help="pack the refit stage's models (paths.refit) in place of the train fits")
    parser.add_argument("--cascade", action="store_true", help="score with the cascade stage's threshold (paths.cascade)")
    args = parser.parse_args(argv)
    with stage_errors("bundle"):
        params, paths = load_params(args.params), load_paths(args.paths)
        train, labels, _ = read_split(paths.processed, "train")
        choice, scores = read_json(paths.champion), read_json(paths.champion_report)
        refit = refit_record(paths.models, choice["champion"])["variants"] if args.refit else []
        train_file = Path(paths.processed, "train.parquet")
        training_data = {"file": train_file.as_posix(), "sha256": file_sha256(train_file), "rows": len(train)}
        reference = reference_profile(train, train["label"], params.bundle.bins)
        with atomic_dir(paths.bundle) as scratch:
            manifest = write_bundle(
                scratch,
                choice["champion"],
                choice["fusion_weights"],
                labels,
                params,
                paths.models,
                training_data,
                {"validation": scores["validation"], "test": scores["test_refit"] if refit else scores["test"]},
                reference,
                choice["embed_backend"],
                choice["embed_backend_reason"],
                read_json(paths.cascade)["threshold"] if args.cascade else None,
                refit,
            )
        log.info("%s -> %s (%s, fingerprint %s)", manifest["variant"], paths.bundle, ", ".join(manifest["files"]), manifest["fingerprint"])


if __name__ == "__main__":
    main()
