"""The openvino runtime: the SentenceTransformer converted in memory by `openvino.convert_model` (prediction only).

Load, convert and compile stay apart: the torch model is loaded as always (`load_encoder`), converted
to an OpenVINO graph from its own modules (`graph.SentenceEmbeddingGraph`), then compiled for the CPU
at the precision torch would use there. Nothing is written to disk: the bundle keeps only the
safetensors, and a bundle scored with OpenVINO is the same files as one scored with torch. Texts are
tokenized, clipped and batched as `encode_texts` does them. Measured in `python -m benchmarks.encoder_levers`
(docs/BENCHMARKS_ENCODER.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import openvino
import torch
from sentence_transformers import SentenceTransformer

from prodcat.encoders.encode import prepared_batches
from prodcat.encoders.load import load_encoder, resolve_precision
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.graph import SentenceEmbeddingGraph, graph_inputs

# prodcat precision -> OpenVINO's CPU inference precision (bf16 runs only where the CPU has it natively, as in torch)
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}


def convert_encoder(model: SentenceTransformer) -> tuple[openvino.Model, list[str]]:
    """`model` as an OpenVINO graph with dynamic batch and sequence axes, and the tokenizer outputs it reads, in order.

    The graph shares the torch weights: keep `model` alive while it is used.
    """
    input_names, example = graph_inputs(model)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks traced as constants: the axes stay dynamic
        graph = openvino.convert_model(
            SentenceEmbeddingGraph(model.to("cpu"), input_names).eval(), example_input=tuple(example[name] for name in input_names)
        )
    return graph, input_names


class OpenVinoEncoder:
    """`SentenceTransformer.encode` on OpenVINO's CPU runtime: same tokenization, truncation and batches as `encode_texts`."""

    def __init__(self, model: SentenceTransformer, precision: str, batch_size: int) -> None:
        self.model = model  # its weights back the converted graph; its tokenizer and max_seq_length feed it
        self.precision = resolve_precision(precision, "cpu")
        self.batch_size = batch_size
        graph, self.input_names = convert_encoder(model)
        self.compiled = openvino.Core().compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.precision]})

    @classmethod
    def load(cls, source: str, settings: RuntimeSettings) -> OpenVinoEncoder:
        """The torch encoder at `source` (a name or folder), loaded on the CPU and converted."""
        return cls(load_encoder(source, settings.max_seq_length, device="cpu"), settings.precision, settings.batch_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 embeddings in the order of `texts`; batches longest text first, each padded to its longest."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts])  # as encode_texts: the same batches
        batches = [[texts[i] for i in order[start : start + self.batch_size]] for start in range(0, len(texts), self.batch_size)]
        request = self.compiled.create_infer_request()  # one per call: requests are not shared between threads
        vectors = [
            request.infer([features[name].numpy() for name in self.input_names])[0] for features in prepared_batches(self.model, batches, 1)
        ]
        result = np.empty((len(texts), vectors[0].shape[1]), dtype=np.float32)
        result[order] = np.concatenate(vectors)
        return result
