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
from prodcat.core.paths import load_paths
from prodcat.data.splits import read_split
from prodcat.features.blocks import stored_blocks
from prodcat.heads.fusion import scored_variants
from prodcat.heads.metrics import confusion_rows, path_metrics, per_class_metrics, summary_metrics
from prodcat.heads.scoring import TrainedHeads, refit_record, refitted, variant_probabilities

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("evaluate"):
        params, paths = load_params(args.params), load_paths(args.paths)
        test, names, truth = read_split(paths.processed, "test")
        choice = read_json(paths.champion)
        heads = TrainedHeads.load(paths.models, params.variants, choice)
        blocks = stored_blocks(test, "test", params.variants, paths.embeddings, paths.sparse_scores, heads.encoding)
        summary, per_class = {}, {}
        with atomic_dir(paths.confusion) as plots:
            for variant, probabilities in variant_probabilities(params.variants, blocks, heads).items():
                predicted = probabilities.argmax(axis=1)
                summary[variant] = {**summary_metrics(truth, predicted), **path_metrics(truth, predicted, names)}
                per_class[variant] = per_class_metrics(truth, predicted, names)
                write_json(Path(plots, f"{variant}.json"), confusion_rows(truth, predicted, names))
                log.info("%s: test accuracy %.4f, macro-F1 %.4f", variant, summary[variant]["accuracy"], summary[variant]["macro_f1"])
            summary = {variant: summary[variant] for variant in params.variants}
            write_json(paths.evaluate_report, summary)
            write_json(paths.per_class, {variant: per_class[variant] for variant in params.variants})
            champion = choice["champion"]
            refit = refit_record(paths.models, champion)["variants"]
            report = {
                "name": champion,
                "validation": read_json(paths.validation_report)[champion],
                "test": summary[champion],
                "refit": refit,
            }
            if refit:
                scored = scored_variants(champion, choice["fusion_weights"])
                refit_heads, refit_blocks = refitted(paths.models, scored, choice, heads, blocks, test["text"].tolist())
                predicted = variant_probabilities(scored, refit_blocks, refit_heads)[champion].argmax(axis=1)
                report |= {"test_refit": {**summary_metrics(truth, predicted), **path_metrics(truth, predicted, names)}}
                log.info("%s refitted on train + validation: test accuracy %.4f", champion, report["test_refit"]["accuracy"])
            write_json(paths.champion_report, report)


if __name__ == "__main__":
    main()
