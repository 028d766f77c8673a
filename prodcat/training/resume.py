"""Resuming a killed training run from its last checkpoint, and only a checkpoint of the same run.

A run fingerprint (a hash of the data and settings) is stored beside the checkpoints: a rerun under
another fingerprint starts over. The Trainer checkpoints the encoder and the optimizer, not the loss
module, so LossHeadCheckpoint writes the loss's own weights (the softmax head, TSDAE's decoder) into
each checkpoint; a checkpoint a kill cut before they were written is not resumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from prodcat.core.params import EncoderParams, FinetuneParams
from prodcat.training.trainer import LabelledTexts

log = logging.getLogger(__name__)

RUN_FINGERPRINT = "run_fingerprint.json"
HEAD_FILE = "loss_head.safetensors"  # the loss module's own weights inside a checkpoint, to resume


def run_fingerprint(train: LabelledTexts, encoder: EncoderParams, finetune: FinetuneParams) -> str:
    """Hash of everything that shapes the fine-tuned weights: a checkpoint is resumable only under the same one."""
    digest = hashlib.sha256()
    digest.update(json.dumps([encoder.model_dump(), finetune.model_dump()], sort_keys=True).encode())
    for text, label in zip(train.texts, train.labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def resumable_checkpoint(checkpoints: Path, fingerprint: str, complete: Callable[[str], bool] = lambda _: True) -> str | None:
    """The last complete checkpoint of an interrupted identical run; stale checkpoints of another run are removed.

    A last checkpoint that `complete` rejects (killed while our callback was still writing into it)
    is removed, so the run resumes from the one before it or starts over, never with a fresh head.
    """
    marker = checkpoints / RUN_FINGERPRINT
    if marker.is_file() and json.loads(marker.read_text())["fingerprint"] == fingerprint:
        last = get_last_checkpoint(str(checkpoints))
        if last is None or complete(last):
            return last
        log.warning("%s is incomplete (the run was killed while saving it): removed", last)
        shutil.rmtree(last)
        return get_last_checkpoint(str(checkpoints))
    if checkpoints.exists():
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True)
    marker.write_text(json.dumps({"fingerprint": fingerprint}))
    return None


def head_written(checkpoint: str) -> bool:
    """Whether LossHeadCheckpoint got to write the loss module's weights into `checkpoint` (it does so last)."""
    return Path(checkpoint, HEAD_FILE).is_file()


class LossHeadCheckpoint(TrainerCallback):
    """Saves the loss module's own weights (the softmax head) into each checkpoint.

    The Trainer checkpoints the encoder and the optimizer, not the loss; without this a resumed run
    would pair a trained encoder with a freshly initialised head.
    """

    def __init__(self, loss: nn.Module) -> None:
        self.loss = loss

    @staticmethod
    def head_state(loss: nn.Module) -> dict[str, torch.Tensor]:
        return {name: value.detach().cpu().contiguous() for name, value in loss.state_dict().items() if not name.startswith("model.")}

    def on_save(self, args, state, control, **kwargs) -> None:
        head = self.head_state(self.loss)
        if head and state.is_world_process_zero:  # the process that wrote the checkpoint
            save_file(head, str(Path(args.output_dir, f"checkpoint-{state.global_step}", HEAD_FILE)))

    def complete(self, checkpoint: str) -> bool:
        """False for a checkpoint the Trainer finished but a kill cut before `on_save` wrote the head into it."""
        return not self.head_state(self.loss) or head_written(checkpoint)

    def restore(self, checkpoint: str) -> None:
        path = Path(checkpoint, HEAD_FILE)
        if path.is_file():
            self.loss.load_state_dict(load_file(str(path)), strict=False)


class DecoderCheckpoint(LossHeadCheckpoint):
    """Saves TSDAE's decoder weights that are not tied to the encoder (cross-attention, LM head) into each checkpoint.

    Each tensor once: safetensors refuses shared storage (the LM head's two names for one bias).
    """

    @staticmethod
    def head_state(loss: nn.Module) -> dict:
        encoder = loss.encoder
        assert isinstance(encoder, nn.Module)
        seen = {parameter.data_ptr() for parameter in encoder.parameters()}  # saved with the encoder
        state = {}
        for name, value in loss.state_dict().items():
            if name.startswith("decoder.") and value.data_ptr() not in seen:
                seen.add(value.data_ptr())
                state[name] = value.detach().cpu().contiguous()
        return state
