"""Stage champion: score every variant on the validation split, fit the fusion weights, pick the champion.

The rule is fixed in advance (`champion.preference`, `champion.noise_z`): the most preferred variant
that no other variant beats on validation by more than the noise of a paired comparison, so a tie or
a one-row difference never decides by accident.

Reads nothing of the test split: the choice is made before any test score exists (dvc.yaml lists
this stage's inputs; `evaluate` reports the test scores afterwards).

With int8 embeddings adopted by embed (`inference.runtime: onnx_int8`), it also scores the champion on
the torch embeddings of the same validation rows and records whether prediction uses them
(`embed_backend` in the output): int8 unless it costs more than `champion.int8_max_accuracy_drop`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import write_json
from prodcat.core.params import Runtime, load_params
from prodcat.core.paths import load_paths
from prodcat.data.splits import read_split
from prodcat.encoders.matrices import load_matrix
from prodcat.encoders.runtimes.onnx_int8 import TORCH_REFERENCE, adopt_int8
from prodcat.features.blocks import FeatureBlocks, stored_blocks
from prodcat.heads.champion_rule import beaten_by, choose_champion
from prodcat.heads.fusion import FusionHead, cross_fitted_fusion
from prodcat.heads.metrics import path_metrics, summary_metrics
from prodcat.heads.scoring import TrainedHeads, variant_probabilities

log = logging.getLogger(__name__)


def scoring_backend(
    champion: str, members: list[str], blocks: FeatureBlocks, heads: TrainedHeads, truth: np.ndarray, embeddings: Path, max_drop: float
) -> tuple[Runtime, str]:
    """The runtime prediction embeds with: int8 where embed adopted it and the champion loses at most `max_drop` accuracy by it."""
    scored = [*members, "fusion"] if champion == "fusion" else [champion]
    references = {encoder: embeddings / encoder / TORCH_REFERENCE for encoder in blocks.embeddings}
    references = {encoder: path for encoder, path in references.items() if path.with_suffix(".npy").is_file()}
    if not references:
        return "torch", "embed adopted no int8 embeddings (metrics/embed.json)"
    torch_blocks = replace(blocks, embeddings={**blocks.embeddings, **{encoder: load_matrix(path) for encoder, path in references.items()}})

    def accuracy(feature_blocks: FeatureBlocks) -> float:
        return summary_metrics(truth, variant_probabilities(scored, feature_blocks, heads)[champion].argmax(axis=1))["accuracy"]

    return adopt_int8(accuracy(torch_blocks), accuracy(blocks), max_drop)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("champion"):
        params, paths = load_params(args.params), load_paths(args.paths)
        validation, names, truth = read_split(paths.processed, "validation")
        members = [name for name in params.variants if name != "fusion"]
        heads = TrainedHeads.load(paths.models, members)
        blocks = stored_blocks(validation, "validation", members, paths.embeddings, paths.sparse_scores, heads.encoding)
        probabilities = variant_probabilities(members, blocks, heads)
        fusion_weights = None
        if "fusion" in params.variants:
            fusion_weights, probabilities["fusion"] = cross_fitted_fusion(
                {name: probabilities[name] for name in params.champion.fusion_members}, truth, params.base.seed
            )
        predicted = {name: probabilities[name].argmax(axis=1) for name in params.variants}
        scores = {
            name: {**summary_metrics(truth, predicted[name]), **path_metrics(truth, predicted[name], names)} for name in params.variants
        }
        correct = {name: predicted[name] == truth for name in params.variants}
        champion = choose_champion(correct, params.champion.preference, params.champion.noise_z)
        beaten, preferred = beaten_by(correct, params.champion.noise_z), params.champion.preference
        passed_over = {name: beaten[name] for name in preferred[: preferred.index(champion)] if name in beaten}
        if fusion_weights is not None:
            heads.by_variant["fusion"] = FusionHead(fusion_weights)
        backend, reason = scoring_backend(champion, members, blocks, heads, truth, paths.embeddings, params.champion.int8_max_accuracy_drop)
        log.info("encoder runtime for prediction: %s (%s)", backend, reason)
        for name, score in scores.items():
            log.info(
                "%s: validation accuracy %.4f, macro-F1 %.4f%s",
                name,
                score["accuracy"],
                score["macro_f1"],
                "  <- champion" if name == champion else "",
            )
        write_json(paths.validation_report, scores)
        rule = (
            f"the first of champion.preference that no variant beats on validation by more than {params.champion.noise_z} standard errors"
        )
        write_json(paths.champion, {"champion": champion, "rule": rule, "fusion_weights": fusion_weights,
                                 "embed_backend": backend, "embed_backend_reason": reason, "passed_over": passed_over})  # fmt: skip


if __name__ == "__main__":
    main()
