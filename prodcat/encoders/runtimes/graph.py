"""The whole SentenceTransformer as one traceable module: what the ONNX export and the OpenVINO conversion read.

Transformer, then the model's own Pooling and Normalize modules, traced as they are, so an exported or
converted graph pools and normalises exactly as `model.encode` does.
"""

from __future__ import annotations

import torch
from sentence_transformers import SentenceTransformer

GRAPH_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class SentenceEmbeddingGraph(torch.nn.Module):
    """The SentenceTransformer with positional tensor inputs, returning its `sentence_embedding`."""

    def __init__(self, model: SentenceTransformer, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.input_names, inputs, strict=True)))["sentence_embedding"]


def graph_inputs(model: SentenceTransformer) -> tuple[list[str], dict]:
    """The tokenizer outputs the graph reads, in order, and an example batch of them (two texts, padded) to trace with."""
    input_names = [name for name in GRAPH_INPUTS if name in model.tokenizer.model_input_names]
    example = model.tokenizer(["an example product", "a longer example product title"], padding=True, return_tensors="pt")
    return input_names, example
