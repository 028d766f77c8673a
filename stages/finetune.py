"""Stage finetune: fine-tune the base encoder on the train split only; save it as a sentence-transformers folder.

The validation split only draws the per-epoch curve; the test split is never read.
With `finetune.processes` > 1 this command relaunches itself as that many data-parallel processes
(torchrun, one per GPU) and waits for them; rank 0 writes the outputs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from transformers import set_seed

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import load_params
from prodcat.data.splits import read_split
from prodcat.encoders.load import StartingEncoder, load_encoder, pick_device, resolve_precision, starting_encoder
from prodcat.heads.softmax_weights import save_head
from prodcat.training.distributed import is_main_process, launch, launched, process_device
from prodcat.training.finetune import finetune_encoder, share_truncated
from prodcat.training.losses import SoftmaxHeadLoss, build_loss
from prodcat.training.resume import run_fingerprint
from prodcat.training.trainer import LabelledTexts

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True, help="preprocess output folder (train and validation are read, never test)")
    parser.add_argument(
        "--adapted", help="adapt stage output: the encoder to start from, unless adapt.method is none; without it, encoder.base"
    )
    parser.add_argument("--output", required=True, help="output sentence-transformers folder, with the softmax head")
    parser.add_argument("--checkpoints", required=True, help="per-epoch checkpoints, kept to resume a crashed run")
    parser.add_argument("--report", required=True, help="training summary (a DVC metric)")
    parser.add_argument("--live", required=True, help="DVCLive folder: per-step loss, per-epoch validation accuracy")
    args = parser.parse_args(argv)
    with stage_errors("finetune"):
        params = load_params(args.params)
        if params.finetune.processes > 1 and not launched():
            launch(params.finetune.processes, "stages.finetune", sys.argv[1:] if argv is None else argv, device=pick_device())
            return
        train, names, labels = read_split(args.data, "train", columns=["text", "label"])
        validation, _, validation_labels = read_split(args.data, "validation", columns=["text", "label"])
        examples = LabelledTexts(train["text"].tolist(), labels.tolist())

        set_seed(params.finetune.seed)
        device = process_device(pick_device())
        precision = resolve_precision(params.finetune.precision, device)
        start = (
            starting_encoder(Path(args.adapted), params.encoder.base)
            if args.adapted
            else StartingEncoder(params.encoder.base, params.encoder.base)
        )
        model = load_encoder(start.location, params.encoder.max_seq_length, device=device)
        truncated = share_truncated(model, examples.texts)
        log.info("device %s, precision %s; %.1f%% of texts exceed %d tokens", device, precision, 100 * truncated, model.max_seq_length)

        loss = build_loss(model, params.finetune, num_labels=len(names))
        summary = finetune_encoder(
            model,
            loss,
            examples,
            LabelledTexts(validation["text"].tolist(), validation_labels.tolist()),
            params=params.finetune,
            precision=precision,
            checkpoints=Path(args.checkpoints),
            fingerprint=run_fingerprint(examples, params.encoder.model_copy(update={"base": start.identity}), params.finetune),
            live_dir=Path(args.live),
        )
        if not is_main_process():
            return
        with atomic_dir(args.output) as folder:
            model.save_pretrained(str(folder), safe_serialization=True)
            if isinstance(loss, SoftmaxHeadLoss):
                save_head(loss.head_weights(), folder)
        write_json(
            args.report,
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
                "truncated_share": round(truncated, 4),
            },
        )


if __name__ == "__main__":
    main()
