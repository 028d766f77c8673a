"""Data-parallel fine-tuning: the finetune stage run as N processes by torch's elastic launcher (torchrun).

DVC runs `python -m stages.finetune ...` once. With `finetune.processes` > 1 that process only launches
N copies of the same command (`launch`) and waits for them; each copy sees the launcher's LOCAL_RANK,
RANK and WORLD_SIZE, takes one GPU (or a share of the CPU cores), and the Trainer's DDP (accelerate)
averages their gradients; HeadGradientAverage does the same for the softmax head, which DDP does not
see. Only rank 0 writes outputs.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from transformers import TrainerCallback

from prodcat.core.errors import InputError


class ProcessesFailed(RuntimeError):
    """A launched fine-tuning process exited non-zero (its own log says why)."""


def launched() -> bool:
    """True inside a process started by torchrun (or accelerate launch), which sets these variables."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def process_device(device: str) -> str:
    """This process's own GPU (`cuda:LOCAL_RANK`) when launched on CUDA, else `device` unchanged."""
    if device == "cuda" and launched():
        local = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return device


def ddp_backend(device: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.startswith("cuda") else "gloo"


def launch(processes: int, module: str, argv: list[str], device: str) -> None:
    """Run `python -m module *argv` as `processes` local processes under torch's elastic launcher; wait for all.

    Raises ProcessesFailed naming the ranks that failed and their exit codes.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    if device.startswith("cuda") and processes > torch.cuda.device_count():
        raise InputError(f"finetune.processes is {processes} but {torch.cuda.device_count()} GPU(s) are visible (one process per GPU)")
    config = get_args_parser().parse_args(["--standalone", f"--nproc-per-node={processes}", "--module", module, *argv])
    try:
        run(config)
    except ChildFailedError as error:
        failed = ", ".join(f"rank {rank} exit code {failure.exitcode}" for rank, failure in sorted(error.failures.items()))
        raise ProcessesFailed(
            f"{len(error.failures)} of {processes} fine-tuning processes failed ({failed}); their logs are above"
        ) from None


class HeadGradientAverage(TrainerCallback):
    """Averages the loss module's own gradients (the softmax head) across processes before each optimizer step.

    The Trainer wraps only the encoder in DDP, so without this each process's head would step on its own
    batches' gradient and the heads would drift apart. Gradient clipping (encoder parameters only, already
    averaged) comes before this callback, so every process clips alike.
    """

    def __init__(self, loss: nn.Module) -> None:
        self.parameters = [parameter for name, parameter in loss.named_parameters() if not name.startswith("model.")]

    def on_pre_optimizer_step(self, args, state, control, **kwargs) -> None:
        for parameter in self.parameters:
            if parameter.grad is not None:
                torch.distributed.all_reduce(parameter.grad)  # a sum: gloo has no average
                parameter.grad /= args.world_size
