"""Length-bucketed batch order: texts of similar token length share a batch, so little padding is computed.

bucketed_batches is the order; LengthBucketBatchSampler hands it to the sentence-transformers Trainer.
Needs nothing beyond sentence-transformers and the standard library: benchmarks/gpu.py uses it on
machines without prodcat's other dependencies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from sentence_transformers.base.sampler import DefaultBatchSampler

POOL_BATCHES = 16  # texts are sorted by length within pools of this many batches, drawn at random each epoch


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int, drop_last: bool = False, replicas: int = 1) -> list[list[int]]:
    """Every index once, in batches of similar length; the same (lengths, batch_size, seed) give the same batches.

    Each call shuffles the indices, sorts them by length within pools of POOL_BATCHES batches (so batch
    contents still change from one seed to the next), cuts each pool into batches and shuffles the
    batch order, so that long and short batches alternate through the epoch.

    With `replicas` > 1 (data-parallel processes, each taking every replicas-th batch, as accelerate
    shards a batch sampler) every batch is full and their count is a multiple of `replicas`, so each
    process runs the same number of steps: the shuffled indices are topped up with their own first
    ones (a few texts seen twice per epoch), as torch's DistributedSampler pads, or cut with `drop_last`.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if replicas > 1:
        order = evened(order, batch_size * replicas, drop_last)
    pool = batch_size * POOL_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        ranked = sorted(order[start : start + pool], key=lambda index: lengths[index])  # stable: ties stay shuffled
        batches += [ranked[i : i + batch_size] for i in range(0, len(ranked), batch_size)]
    if drop_last:
        batches = [batch for batch in batches if len(batch) == batch_size]
    rng.shuffle(batches)
    return batches


def evened(order: list[int], unit: int, drop_last: bool) -> list[int]:
    """`order` cut to a multiple of `unit` (drop_last), or topped up to one with its own first entries, cycling."""
    if drop_last:
        return order[: len(order) - len(order) % unit]
    return order + [order[i % len(order)] for i in range(-len(order) % unit)]


def batch_count(size: int, batch_size: int, drop_last: bool = False, replicas: int = 1) -> int:
    """How many batches bucketed_batches gives for `size` texts (all processes together)."""
    if replicas > 1:
        unit = batch_size * replicas
        return (size // unit if drop_last else math.ceil(size / unit)) * replicas
    return size // batch_size if drop_last else math.ceil(size / batch_size)


class LengthBucketBatchSampler(DefaultBatchSampler):
    """Batches of texts of similar token length (bucketed_batches), a fresh draw each epoch from seed + epoch.

    Given to the Trainer as `partial(LengthBucketBatchSampler, lengths=..., replicas=...)`: the dataset holds
    texts, the lengths are counted once with the model's tokenizer. Every process draws the same batches
    (same seed and epoch) and accelerate hands process r the batches r, r + replicas, ...
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        drop_last: bool,
        valid_label_columns=None,
        generator=None,
        seed: int = 0,
        *,
        lengths: list[int],
        replicas: int = 1,
    ) -> None:
        super().__init__(
            dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=valid_label_columns, generator=generator, seed=seed
        )
        self.lengths, self.replicas = lengths, replicas

    def __iter__(self):
        yield from bucketed_batches(
            self.lengths, self.batch_size, seed=self.seed + self.epoch, drop_last=self.drop_last, replicas=self.replicas
        )

    def __len__(self) -> int:
        return batch_count(len(self.lengths), self.batch_size, self.drop_last, self.replicas)
