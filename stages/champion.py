"""Stage champion: score every variant on the validation split, fit the fusion weights, pick the champion.

Reads nothing of the test split: the choice is made before any test score exists (dvc.yaml lists
this stage's inputs; `evaluate` reports the test scores afterwards).
"""

from __future__ import annotations

import logging
from pathlib import Path

from prodcat.catalog import read_split
from prodcat.cli import stage_errors, stage_parser
from prodcat.io import write_json
from prodcat.metrics import summary_metrics
from prodcat.params import load_params
from prodcat.scoring import TrainedHeads, choose_champion, cross_fitted_fusion, stored_blocks, variant_probabilities

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True, help="preprocess output folder (validation.parquet, labels.json)")
    parser.add_argument("--embeddings", required=True, help="embed output folder")
    parser.add_argument("--sparse-scores", required=True, help="train_sparse scores folder")
    parser.add_argument("--models", required=True, help="models folder (xgb/, finetuned/, sparse/)")
    parser.add_argument("--output", required=True, help="the choice and the fusion weights (JSON, read by evaluate and predict)")
    parser.add_argument("--report", required=True, help="validation accuracy and macro_f1 per variant (a DVC metric)")
    args = parser.parse_args(argv)
    with stage_errors("champion"):
        params = load_params(args.params)
        validation, _, truth = read_split(args.data, "validation")
        members = [name for name in params.variants if name != "fusion"]
        heads = TrainedHeads.load(Path(args.models), members)
        blocks = stored_blocks(validation, "validation", members, Path(args.embeddings), Path(args.sparse_scores), heads.encoding)
        probabilities = variant_probabilities(members, blocks, heads)
        fusion_weights = None
        if "fusion" in params.variants:
            fusion_weights, probabilities["fusion"] = cross_fitted_fusion(
                {name: probabilities[name] for name in params.fusion.members}, truth, params.split.seed
            )
        scores = {name: summary_metrics(truth, probabilities[name].argmax(axis=1)) for name in params.variants}
        champion = choose_champion(scores)
        for name, score in scores.items():
            log.info("%s: validation accuracy %.4f, macro-F1 %.4f%s", name, score["accuracy"], score["macro_f1"], "  <- champion" if name == champion else "")
        write_json(args.report, scores)
        write_json(args.output, {"champion": champion, "rule": "best validation accuracy, then macro-F1", "fusion_weights": fusion_weights})


if __name__ == "__main__":
    main()
