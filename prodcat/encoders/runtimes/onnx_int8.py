"""The onnx_int8 runtime: a sentence-transformers encoder exported to ONNX and quantized to int8 by onnxruntime.

Prepared by the embed stage (`export_int8`, from the torch model), loaded from the export folder
(`Int8Encoder`). The exported graph is the whole SentenceTransformer (`graph.SentenceEmbeddingGraph`),
so it pools and normalises exactly as `model.encode` does; `Int8Encoder` tokenizes with the model's tokenizer and truncation and pads per length-sorted batch,
as sentence-transformers does. Weights are quantized to int8 with `quantize_dynamic` (activations
are quantized on the fly); no `optimum` is needed.

Every build checks the int8 embeddings against the torch ones (`check_int8`, row-wise cosine) and
the champion's validation accuracy (`adopt_int8`); a caller that gets `torch` back falls back and
reports the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
from transformers import AutoTokenizer

from prodcat.core.errors import InputError
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import Runtime
from prodcat.encoders.encode import encoder_fingerprint
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.graph import SentenceEmbeddingGraph, graph_inputs

EXPORT_INFO = "export.json"
# The embed output beside an adopted int8 `validation.npy`: the torch embeddings of the same texts.
TORCH_REFERENCE = "validation_torch"
MODEL_FILE = "model.onnx"
OPSET = 17
# The int8 recipe (`int8_recipe`); part of the export's fingerprint, so a change never reuses cached
# vectors. Measured on all-MiniLM-L6-v2 (256 Amazon texts, 128 tokens; cosine to torch fp32, mean /
# min): per-tensor weights 0.949 / 0.897; per-channel 0.994 / 0.988; per-channel with the
# feed-forward output projections kept in fp32 0.997 / 0.994 (they read the GELU's output, whose
# outliers one dynamic activation scale per tensor cannot hold), but a third of the weights then
# stay fp32 and the speed-up shrinks. A logistic regression fitted on torch embeddings of 2,000
# PriceRunner titles scored 1,000 more at 0.940 with torch, 0.943 per-channel int8, 0.942 with the
# fp32 projections. reduce_range (7-bit weights) pays only on CPUs without VNNI and cost accuracy
# here (per-tensor: 0.848 / 0.789).
BASE_RECIPE = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False, "op_types": ["MatMul", "Attention"]}
ACTIVATIONS = ["Gelu", "BiasGelu", "FastGelu"]  # ops whose output feeds the feed-forward output projection


def int8_recipe(ffn_output_fp32: bool) -> dict:
    """How `export_int8` quantizes: `fp32_after` lists the ops whose consuming MatMuls stay fp32."""
    return {**BASE_RECIPE, "fp32_after": ACTIVATIONS if ffn_output_fp32 else []}


def _pooling_and_normalize(model: SentenceTransformer) -> tuple[str, bool]:
    """The pooling mode and whether the model normalises, read from its modules (for the export's description)."""
    modes = [module.pooling_mode for module in model if isinstance(module, Pooling)]
    normalize = any(isinstance(module, Normalize) for module in model)
    mode = modes[0] if modes else "none"
    return (mode if isinstance(mode, str) else "+".join(mode)), normalize


def _eager_attention(model: SentenceTransformer) -> contextlib.AbstractContextManager:
    """Attention written out as MatMul + Softmax while exporting: the pattern onnxruntime fuses into its Attention op."""
    transformer = getattr(model[0], "auto_model", None)
    if transformer is None or not hasattr(transformer, "set_attn_implementation"):
        return contextlib.nullcontext()
    previous = transformer.config._attn_implementation

    @contextlib.contextmanager
    def switched() -> Iterator[None]:
        transformer.set_attn_implementation("eager")
        try:
            yield
        finally:
            transformer.set_attn_implementation(previous)

    return switched()


def _fp32_matmuls(graph: onnx.ModelProto, after: list[str]) -> list[str]:
    """The MatMul nodes that read the output of an op of type in `after`."""
    produced_by = {output: node.op_type for node in graph.graph.node for output in node.output}
    return [
        node.name for node in graph.graph.node if node.op_type == "MatMul" and any(produced_by.get(name) in after for name in node.input)
    ]


def export_onnx(model: SentenceTransformer, folder: Path, max_seq_length: int, *, quantization: dict | None) -> Path:
    """Export `model` (ONNX, dynamic batch and sequence axes) to `folder` with its tokenizer and `export.json`.

    The traced graph is fused by onnxruntime's transformer optimizer (attention, GELU, layer norms). With
    a `quantization` recipe (`int8_recipe`), its weights are then quantized to int8 (the scoring path);
    with None, the fused fp32 graph is kept (the reference that shows the export itself changes nothing).
    """
    input_names, dummy = graph_inputs(model)
    pooling, normalize = _pooling_and_normalize(model)
    info = {
        "model_file": MODEL_FILE,
        "int8": quantization is not None,
        "inputs": input_names,
        "max_seq_length": max_seq_length,
        "pooling": pooling,
        "normalize": normalize,
        "dimension": model.get_embedding_dimension(),
        "opset": OPSET,
        "quantization": quantization,
        "source_fingerprint": encoder_fingerprint(model, "fp32"),
        "onnxruntime": onnxruntime.__version__,
    }
    info["fingerprint"] = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:20]
    device = model.device
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    # In eval mode as a whole: the exporter restores the wrapper's mode onto every submodule afterwards.
    graph = SentenceEmbeddingGraph(model.to("cpu"), input_names).eval()
    with atomic_dir(folder) as scratch, tempfile.TemporaryDirectory() as work:
        traced, fused = Path(work, "traced.onnx"), Path(work, "fused.onnx")
        with torch.inference_mode(), _eager_attention(model), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks traced as constants: the axes stay dynamic
            torch.onnx.export(
                graph,
                tuple(dummy[name] for name in input_names),
                str(traced),
                input_names=input_names,
                output_names=["sentence_embedding"],
                dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in input_names}, "sentence_embedding": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        shape = {"num_heads": getattr(config, "num_attention_heads", 0), "hidden_size": getattr(config, "hidden_size", 0)}
        optimize_model(str(traced), model_type="bert", **shape).save_model_to_file(str(fused))
        if quantization is not None:
            quantize_dynamic(
                fused,
                scratch / MODEL_FILE,
                op_types_to_quantize=quantization["op_types"],
                per_channel=quantization["per_channel"],
                reduce_range=quantization["reduce_range"],
                weight_type=QuantType[quantization["weight_type"]],
                nodes_to_exclude=_fp32_matmuls(onnx.load(fused), quantization["fp32_after"]),
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # types of the fused ops' outputs
            )
        else:
            shutil.copy2(fused, scratch / MODEL_FILE)
        model.tokenizer.save_pretrained(scratch)
        write_json(scratch / EXPORT_INFO, info)
    model.to(device)
    return Path(folder)


def export_int8(model: SentenceTransformer, folder: Path, max_seq_length: int, *, ffn_output_fp32: bool = False) -> Path:
    """The int8 scoring export of `model` in `folder` (see `export_onnx`, `int8_recipe`)."""
    return export_onnx(model, folder, max_seq_length, quantization=int8_recipe(ffn_output_fp32))


def session_options() -> onnxruntime.SessionOptions:
    """All graph optimisations, one intra-op thread per core this process may use."""
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    return options


class Int8Encoder:
    """Sentence embeddings from an `export_onnx` folder (int8, or fp32 when exported so), like `SentenceTransformer.encode`.

    The export fixes truncation (its `max_seq_length`) and runs on the CPU in its own precision.
    """

    def __init__(self, folder: Path | str, batch_size: int) -> None:
        self.folder = Path(folder)
        self.batch_size = batch_size
        if not (self.folder / EXPORT_INFO).is_file():
            raise InputError(f"runtime onnx_int8 needs an int8 export folder with {EXPORT_INFO}, got {folder}")
        self.info = json.loads((self.folder / EXPORT_INFO).read_text(encoding="utf-8"))
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.session = onnxruntime.InferenceSession(
            str(self.folder / self.info["model_file"]), session_options(), providers=["CPUExecutionProvider"]
        )

    @classmethod
    def load(cls, source: str, settings: RuntimeSettings) -> Int8Encoder:
        """The export folder `source` (the registry's loader)."""
        return cls(Path(source), settings.batch_size)

    @property
    def fingerprint(self) -> str:
        """Equal fingerprints embed equally: the source weights, truncation and the export recipe."""
        return self.info["fingerprint"]

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 embeddings in the order of `texts`; batches of similar length, each padded to its longest text."""
        order = np.argsort([-len(text) for text in texts], kind="stable")
        vectors = np.zeros((len(texts), self.info["dimension"]), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            tokens = self.tokenizer(
                [texts[row] for row in rows],
                padding=True,
                truncation="longest_first",
                max_length=self.info["max_seq_length"],
                return_tensors="np",
            )
            feed = {name: tokens[name].astype(np.int64) for name in self.info["inputs"]}
            vectors[rows] = self.session.run(["sentence_embedding"], feed)[0]
        return vectors


def row_cosines(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    return np.sum(reference * candidate, axis=1) / np.maximum(norms, 1e-12)


def check_int8(reference: np.ndarray, candidate: np.ndarray, min_cosine: float) -> tuple[bool, str]:
    """Whether the int8 embeddings point where the torch ones do: the mean row-wise cosine reaches `min_cosine`.

    The mean, not the worst row: a broken export (other pooling, lost normalisation, a bad
    quantization) moves every row, while one odd text should not flip the build; what int8 costs the
    classifier is judged by `adopt_int8`. The minimum is reported beside it.
    """
    cosines = row_cosines(reference, candidate)
    summary = f"cosine int8 vs torch: mean {cosines.mean():.5f}, min {cosines.min():.5f} over {len(cosines)} texts"
    if cosines.mean() < min_cosine:
        return False, f"{summary}; mean below inference.int8_min_cosine {min_cosine}"
    return True, summary


def adopt_int8(torch_accuracy: float, int8_accuracy: float, max_drop: float) -> tuple[Runtime, str]:
    """The runtime the champion scores with: int8 unless it loses more than `max_drop` validation accuracy."""
    drop = torch_accuracy - int8_accuracy
    summary = f"champion validation accuracy torch {torch_accuracy:.4f}, int8 {int8_accuracy:.4f}"
    if drop > max_drop:
        return "torch", f"{summary}: drop {drop:.4f} above champion.int8_max_accuracy_drop {max_drop}"
    return "onnx_int8", summary
