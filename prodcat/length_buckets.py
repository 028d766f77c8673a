"""Length-bucketed batch order: texts of similar token length share a batch, so little padding is computed.

Standard library only (benchmarks/gpu.py uses it on machines without prodcat's dependencies); the
sentence-transformers batch sampler that feeds it to the Trainer is prodcat.finetune.LengthBucketBatchSampler.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

POOL_BATCHES = 16  # texts are sorted by length within pools of this many batches, drawn at random each epoch


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int, drop_last: bool = False) -> list[list[int]]:
    """Every index once, in batches of similar length; the same (lengths, batch_size, seed) give the same batches.

    Each call shuffles the indices, sorts them by length within pools of POOL_BATCHES batches (so batch
    contents still change from one seed to the next), cuts each pool into batches and shuffles the
    batch order, so that long and short batches alternate through the epoch.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * POOL_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        ranked = sorted(order[start : start + pool], key=lambda index: lengths[index])  # stable: ties stay shuffled
        batches += [ranked[i : i + batch_size] for i in range(0, len(ranked), batch_size)]
    if drop_last:
        batches = [batch for batch in batches if len(batch) == batch_size]
    rng.shuffle(batches)
    return batches
