"""Stage finetune: fine-tune the base encoder on the train split only; save it as a sentence-transformers folder.

The validation split only draws the per-epoch curve; the test split is never read.
With `finetune.processes` > 1 this command relaunches itself as that many data-parallel processes
(torchrun, one per GPU) and waits for them; rank 0 writes the outputs.
"""

from __future__ import annotations

import logging
import sys

from transformers import set_seed

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.data.splits import read_split
from prodcat.encoders.load import load_encoder, pick_device, resolve_precision, starting_encoder
from prodcat.heads.softmax_weights import save_head
from prodcat.training.distributed import is_main_process, launch, launched, process_device
from prodcat.training.finetune import finetune_encoder, truncated_texts
from prodcat.training.losses import SoftmaxHeadLoss, build_loss
from prodcat.training.resume import run_fingerprint
from prodcat.training.trainer import LabelledTexts

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("finetune"):
        params, paths = load_params(args.params), load_paths(args.paths)
        if params.finetune.processes > 1 and not launched():
            launch(params.finetune.processes, "stages.finetune", sys.argv[1:] if argv is None else argv, device=pick_device())
            return
        train, names, labels = read_split(paths.processed, "train", columns=["text", "label"])
        validation, _, validation_labels = read_split(paths.processed, "validation", columns=["text", "label"])
        examples = LabelledTexts(train["text"].tolist(), labels.tolist())

        set_seed(params.finetune.seed)
        device = process_device(pick_device())
        precision = resolve_precision(params.finetune.precision, device)
        start = starting_encoder(paths.adapted, params.encoder.base)
        model = load_encoder(start.location, params.encoder.max_seq_length, device=device)
        truncated = truncated_texts(model, examples.texts)
        log.info(
            "device %s, precision %s; %d of %d train texts exceed %d tokens and are truncated (metrics: truncated_share)",
            device, precision, truncated, len(examples.texts), model.max_seq_length,
        )  # fmt: skip

        loss = build_loss(model, params.finetune, num_labels=len(names))
        summary = finetune_encoder(
            model,
            loss,
            examples,
            LabelledTexts(validation["text"].tolist(), validation_labels.tolist()),
            params=params.finetune,
            precision=precision,
            checkpoints=paths.finetune_checkpoints,
            fingerprint=run_fingerprint(examples, params.encoder.model_copy(update={"base": start.identity}), params.finetune),
            live_dir=paths.finetune_live,
        )
        if not is_main_process():
            return
        with atomic_dir(paths.finetuned) as folder:
            model.save_pretrained(str(folder), safe_serialization=True)
            if isinstance(loss, SoftmaxHeadLoss):
                save_head(loss.head_weights(), folder)
        write_json(
            paths.finetune_report,
            {
                "objective": params.finetune.objective,
                "device": summary.device,
                "precision": summary.precision,
                "processes": summary.processes,
                "epochs": summary.epochs,
                "steps": summary.steps,
                "train_rows": summary.train_rows,
                "seconds": summary.seconds,
                "samples_per_second": summary.samples_per_second,
                "final_loss": summary.final_loss,
                "resumed_from": summary.resumed_from,
                "truncated_share": round(truncated / max(1, len(examples.texts)), 4),
            },
        )


if __name__ == "__main__":
    main()
