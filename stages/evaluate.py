"""Stage evaluate: test-split accuracy, macro-F1, path scores and per-class scores per variant and for the champion; confusion matrices as DVC plots.

The champion and the fusion weights come from the champion stage, chosen on validation: the test
split only reports. Every variant is scored as fitted on train (like with like); the champion also
as the refit stage refitted it on train + validation (`test_refit` in the champion report: what the
bundle scores).
"""

from __future__ import annotations

import logging
from pathlib import Path

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, read_json, write_json
from prodcat.core.params import load_params
from prodcat.data.splits import read_split
from prodcat.features.blocks import stored_blocks
from prodcat.heads.fusion import scored_variants
from prodcat.heads.metrics import confusion_rows, path_metrics, per_class_metrics, summary_metrics
from prodcat.heads.scoring import TrainedHeads, refit_record, refitted, variant_probabilities

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True, help="preprocess output folder (test.parquet, labels.json)")
    parser.add_argument("--embeddings", required=True, help="embed output folder")
    parser.add_argument("--sparse-scores", required=True, help="train_sparse scores folder")
    parser.add_argument("--models", required=True, help="models folder (xgb/, finetuned/, sparse/)")
    parser.add_argument("--champion", required=True, help="the champion stage's choice and fusion weights")
    parser.add_argument("--validation", required=True, help="the champion stage's validation scores")
    parser.add_argument("--report", required=True, help="test accuracy, macro_f1 and path scores per variant (a DVC metric)")
    parser.add_argument("--per-class", required=True, help="per-class precision/recall/F1 per variant (a DVC metric)")
    parser.add_argument("--champion-report", required=True, help="the champion's name, validation and test scores (a DVC metric)")
    parser.add_argument("--plots", required=True, help="folder of <variant>.json confusion rows (a DVC plot)")
    args = parser.parse_args(argv)
    with stage_errors("evaluate"):
        params = load_params(args.params)
        test, names, truth = read_split(args.data, "test")
        choice = read_json(args.champion)
        heads = TrainedHeads.load(Path(args.models), params.variants, choice)
        blocks = stored_blocks(test, "test", params.variants, Path(args.embeddings), Path(args.sparse_scores), heads.encoding)
        summary, per_class = {}, {}
        with atomic_dir(args.plots) as plots:
            for variant, probabilities in variant_probabilities(params.variants, blocks, heads).items():
                predicted = probabilities.argmax(axis=1)
                summary[variant] = {**summary_metrics(truth, predicted), **path_metrics(truth, predicted, names)}
                per_class[variant] = per_class_metrics(truth, predicted, names)
                write_json(Path(plots, f"{variant}.json"), confusion_rows(truth, predicted, names))
                log.info("%s: test accuracy %.4f, macro-F1 %.4f", variant, summary[variant]["accuracy"], summary[variant]["macro_f1"])
            summary = {variant: summary[variant] for variant in params.variants}
            write_json(args.report, summary)
            write_json(args.per_class, {variant: per_class[variant] for variant in params.variants})
            champion = choice["champion"]
            refit = refit_record(Path(args.models), champion)["variants"]
            report = {"name": champion, "validation": read_json(args.validation)[champion], "test": summary[champion], "refit": refit}
            if refit:
                scored = scored_variants(champion, choice["fusion_weights"])
                refit_heads, refit_blocks = refitted(Path(args.models), scored, choice, heads, blocks, test["text"].tolist())
                predicted = variant_probabilities(scored, refit_blocks, refit_heads)[champion].argmax(axis=1)
                report |= {"test_refit": {**summary_metrics(truth, predicted), **path_metrics(truth, predicted, names)}}
                log.info("%s refitted on train + validation: test accuracy %.4f", champion, report["test_refit"]["accuracy"])
            write_json(args.champion_report, report)


if __name__ == "__main__":
    main()
