"""Stage cascade: fit the threshold at which the calibrated sparse model answers instead of the champion, on validation.

Reads the champion stage's choice, the validation split's stored features and the trained heads; writes
the threshold for the bundle (models/cascade.json) and what it does on validation (metrics/cascade.json:
the share the sparse model answers, validation accuracy with and without the cascade). Nothing of the
test split is read. With `cascade.enabled: false`, or a `sparse` champion, the threshold is null.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import read_json, write_json
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.data.splits import read_split
from prodcat.features.blocks import stored_blocks
from prodcat.heads.fusion import scored_variants
from prodcat.heads.scoring import TrainedHeads, variant_probabilities
from prodcat.inference.cascade import CASCADE_MODEL, cascade_threshold

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("cascade"):
        params, paths = load_params(args.params), load_paths(args.paths)
        choice = read_json(paths.champion)
        champion = choice["champion"]
        if not params.cascade.enabled or champion == CASCADE_MODEL:
            reason = "cascade.enabled is false" if not params.cascade.enabled else f"the champion is {CASCADE_MODEL} itself"
            log.info("no cascade: %s", reason)
            write_json(paths.cascade_report, {"enabled": False, "reason": reason})
            write_json(paths.cascade, {"threshold": None, "reason": reason})
            return
        validation, _, truth = read_split(paths.processed, "validation")
        scored = scored_variants(champion, choice["fusion_weights"])
        names = [CASCADE_MODEL, *scored]
        heads = TrainedHeads.load(paths.models, names, choice)
        blocks = stored_blocks(validation, "validation", names, paths.embeddings, paths.sparse_scores, heads.encoding)
        probabilities = variant_probabilities(names, blocks, heads)
        fit = cascade_threshold(probabilities[CASCADE_MODEL], probabilities[champion], truth, params.cascade.max_accuracy_drop)
        log.info(
            "threshold %s: %s answers %.1f%% of validation; accuracy %.4f (%s alone %.4f)",
            fit.threshold,
            CASCADE_MODEL,
            100 * fit.sparse_share,
            fit.accuracy_cascade,
            champion,
            fit.accuracy_champion,
        )
        write_json(
            paths.cascade_report,
            {"enabled": True, **asdict(fit), "max_accuracy_drop": params.cascade.max_accuracy_drop, "rows": len(truth)},
        )
        reason = None if fit.threshold is not None else f"no threshold keeps the accuracy within {params.cascade.max_accuracy_drop}"
        write_json(paths.cascade, {"threshold": fit.threshold, "reason": reason})


if __name__ == "__main__":
    main()
