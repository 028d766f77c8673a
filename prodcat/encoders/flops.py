"""FLOP counts of a BERT-style encoder over the real (non-padding) tokens, to judge speed against the hardware.

Standard library only: benchmarks/gpu.py imports it on machines that have torch and transformers but
not prodcat's other dependencies.

Per layer and per text of L real tokens (hidden size d, feed-forward size f):
- projections Q, K, V, output: 4 matmuls of d x d per token -> 2 * L * 4 * d^2 FLOPs
- feed-forward: d x f and f x d per token                  -> 2 * L * 2 * d * f FLOPs
- attention scores Q.K^T and the weighted sum of V         -> 2 * 2 * L^2 * d FLOPs
A forward pass is the sum over layers and texts; embeddings, layer norms, softmax, pooling and BERT's
unused pooler (2 * d^2 per text) are left out (< 0.1 % for all-MiniLM-L6-v2 at 128 tokens).
A training step is 3 forward passes: the backward pass computes a gradient for both the input and
the weight of each matmul, twice the forward's work. Padding is not counted: it is work, not output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EncoderShape:
    hidden: int
    intermediate: int
    layers: int

    @classmethod
    def of(cls, config) -> EncoderShape:
        """From a Hugging Face BERT-style config (hidden_size, intermediate_size, num_hidden_layers)."""
        return cls(config.hidden_size, config.intermediate_size, config.num_hidden_layers)


def forward_flops(shape: EncoderShape, lengths: Iterable[int]) -> int:
    """Matmul FLOPs of one forward pass over texts of these real token lengths (see module docstring)."""
    lengths = list(lengths)
    dense = 2 * sum(lengths) * (4 * shape.hidden**2 + 2 * shape.hidden * shape.intermediate)
    attention = 4 * sum(length * length for length in lengths) * shape.hidden
    return shape.layers * (dense + attention)


def training_flops(shape: EncoderShape, lengths: Iterable[int]) -> int:
    """Forward plus backward: 3 forward passes."""
    return 3 * forward_flops(shape, lengths)


def untruncated_lengths(tokenizer, texts: Sequence[str]) -> list[int]:
    """Tokens per text before truncation, special tokens included.

    Measured, never fed to the model: `verbose=False` keeps transformers' "longer than the specified maximum
    sequence length ... indexing errors" warning out of the log (the encoder truncates, as intended).
    """
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]]


def token_lengths(tokenizer, texts: Sequence[str], max_seq_length: int) -> list[int]:
    """Real tokens per text after truncation, special tokens included (what the encoder attends to)."""
    return [min(length, max_seq_length) for length in untruncated_lengths(tokenizer, texts)]
