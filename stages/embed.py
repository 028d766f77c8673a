"""Stage embed: train/validation/test sentence embeddings of every encoder the variants read (stock, adapted, finetuned).

With a cluster configured (`cluster` params) the texts missing from the cache are embedded on it,
one task per `cluster.shard_rows` texts (prodcat/cluster/workers.py); without one, in this process.

With `inference.runtime: onnx_int8` each encoder is also exported to ONNX and quantized to int8
(`models/onnx_int8/<encoder>/`); when its validation embeddings pass the cosine gate, the int8 ones
score validation and test, else the stage falls back to torch. `metrics/embed.json` says which
runtime each encoder used and why. Any other runtime embeds with torch here (openvino is prediction only).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from distributed import Client
from google.protobuf.message import DecodeError
from onnxruntime.capi import onnxruntime_pybind11_state as onnxruntime_errors

from prodcat.cluster.sharded_encoding import EncoderSpec, encode_on_cluster
from prodcat.cluster.workers import open_cluster, worker_path
from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import Params, load_params
from prodcat.core.paths import load_paths
from prodcat.core.variants import encoder_source, encoders_needed
from prodcat.data.splits import SPLITS
from prodcat.encoders.encode import cache_path, cached_encode, prune_cache
from prodcat.encoders.load import pick_device, resolve_precision
from prodcat.encoders.matrices import save_matrix
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.onnx_int8 import TORCH_REFERENCE, Int8Encoder, check_int8, export_int8, row_cosines
from prodcat.encoders.runtimes.torch import TorchEncoder

log = logging.getLogger(__name__)

INT8_INDEX = "index.json"  # in the int8 folder: inference.runtime and the encoders whose export was adopted (<encoder>/ beside it)

Splits = dict[str, list[str]]
Matrices = dict[str, np.ndarray]
Encode = Callable[[list[str]], np.ndarray]

# How exporting to int8 or running the export fails, as opposed to a bug here (a TypeError, AttributeError,
# KeyError... fails the stage): torch.onnx's exporter and TorchScript tracing raise RuntimeErrors
# (UnsupportedOperatorError among them); onnx and onnxruntime's Python layers refuse a graph or an input
# with ValueError; files fail with OSError; onnx's checks, protobuf and onnxruntime's status codes have types of their own.
INT8_FAILURES: tuple[type[Exception], ...] = (
    RuntimeError, ValueError, OSError, onnx.checker.ValidationError, onnx.shape_inference.InferenceError, DecodeError,
    onnxruntime_errors.Fail, onnxruntime_errors.InvalidArgument, onnxruntime_errors.InvalidGraph, onnxruntime_errors.InvalidProtobuf,
    onnxruntime_errors.NoSuchFile, onnxruntime_errors.NotImplemented, onnxruntime_errors.RuntimeException, onnxruntime_errors.EPFail,
)  # fmt: skip


def encode_where(client: Client | None, spec: EncoderSpec, in_process: Encode, shard_rows: int) -> Encode:
    """`texts -> embeddings`: sharded on the cluster when there is one, else `in_process`."""
    if client is None:
        return in_process
    return lambda texts: encode_on_cluster(client, spec, texts, shard_rows)


def int8_matrices(
    torch_encoder: TorchEncoder,
    splits: Splits,
    torch_validation: np.ndarray,
    params: Params,
    folder: Path,
    cache_dir: Path,
    client: Client | None = None,
) -> tuple[Matrices | None, dict, Path | None]:
    """Validation and test embeddings from the int8 export of `torch_encoder`, or None when the export fails or misses the gate.

    Returns them with the report (runtime used, reason, cosines) and the int8 cache file. A rejected
    export is removed, so an `models/onnx_int8/<encoder>/` folder always holds an adopted one.
    """
    settings = RuntimeSettings(params.encoder.max_seq_length, params.inference.batch_size, torch_encoder.precision)
    try:
        export = export_int8(
            torch_encoder.model, folder, params.encoder.max_seq_length, ffn_output_fp32=params.inference.int8_ffn_output_fp32
        )
        encoder = Int8Encoder.load(str(export), settings)
        cache_file = cache_dir / f"{encoder.fingerprint}.npz"  # export fingerprints never equal a torch one
        spec = EncoderSpec("onnx_int8", worker_path(folder), settings, encoder.fingerprint)
        encode = encode_where(client, spec, encoder.encode, params.cluster.shard_rows)
        validation, _ = cached_encode(splits["validation"], encode, cache_file)
    except INT8_FAILURES as error:  # the export or onnxruntime failed: score with torch, and say why
        shutil.rmtree(folder, ignore_errors=True)
        return None, {"runtime_used": "torch", "reason": f"int8 export failed: {type(error).__name__}: {error}"}, None
    cosines = row_cosines(torch_validation, validation)
    passed, reason = check_int8(torch_validation, validation, params.inference.int8_min_cosine)
    report = {"runtime_used": "onnx_int8" if passed else "torch", "reason": reason,
              "mean_cosine": round(float(cosines.mean()), 6), "min_cosine": round(float(cosines.min()), 6)}  # fmt: skip
    if not passed:
        shutil.rmtree(folder)
        return None, report, None
    test, _ = cached_encode(splits["test"], encode, cache_file)
    return {"validation": validation, "test": test}, report, cache_file


def encoder_matrices(
    source: str,
    splits: Splits,
    params: Params,
    device: str,
    precision: str,
    cache_dir: Path,
    int8_folder: Path,
    client: Client | None = None,
) -> tuple[Matrices, dict, set[Path]]:
    """Sentence embeddings per split (through the text-hash caches), the runtime report and the cache files used.

    Train is always embedded with torch, whatever the runtime: the heads (XGBoost, softmax) are fitted
    on train, so they learn from the reference vectors; int8 then scores validation and test exactly
    as prediction will, and the champion's validation accuracy shows what int8 costs. Train in int8
    would also refit every head whenever the runtime changes. With int8 adopted, the torch validation
    embeddings are kept as `validation_torch` for the champion's accuracy check (`adopt_int8`).
    """
    settings = RuntimeSettings(params.encoder.max_seq_length, params.inference.batch_size, precision)
    torch_encoder = TorchEncoder.load(source, settings, device=device)
    torch_cache = cache_path(cache_dir, torch_encoder.model, torch_encoder.precision)
    spec = EncoderSpec("torch", worker_path(source), settings, fingerprint=torch_cache.stem)
    encode = encode_where(client, spec, torch_encoder.encode, params.cluster.shard_rows)

    def torch_split(split: str) -> np.ndarray:
        matrix, encoded = cached_encode(splits[split], encode, torch_cache)
        log.info(
            "%s: encoded %d of %d %s texts with torch, %d from cache",
            source,
            encoded,
            len(splits[split]),
            split,
            len(splits[split]) - encoded,
        )
        return matrix

    matrices = {"train": torch_split("train"), "validation": torch_split("validation")}
    runtime = params.inference.runtime
    report = {"runtime_used": "torch", "reason": f"inference.runtime is {runtime}" + (" (prediction only)" if runtime != "torch" else "")}
    used = {torch_cache}
    if runtime == "onnx_int8":
        int8, report, int8_cache = int8_matrices(torch_encoder, splits, matrices["validation"], params, int8_folder, cache_dir, client)
        if int8 is not None:
            matrices |= {TORCH_REFERENCE: matrices["validation"], **int8}
            used.add(int8_cache)
    if "test" not in matrices:
        matrices["test"] = torch_split("test")
    return matrices, report, used


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("embed"):
        params, paths = load_params(args.params), load_paths(args.paths)
        splits = {split: pd.read_parquet(Path(paths.processed, f"{split}.parquet"), columns=["text"])["text"].tolist() for split in SPLITS}
        device = pick_device()
        precision = resolve_precision(params.inference.precision, device)
        used_cache_files: set[Path] = set()
        reports = {}
        with atomic_dir(paths.embeddings) as folder, atomic_dir(paths.onnx_int8) as int8_root, open_cluster(params.cluster) as client:
            for encoder in encoders_needed(params.variants):
                started = time.perf_counter()
                source = encoder_source(encoder, params.encoder.base, paths.finetuned, paths.adapted)
                matrices, reports[encoder], used = encoder_matrices(
                    source, splits, params, device, precision, paths.embedding_cache, int8_root / encoder, client
                )
                used_cache_files |= used
                for split, matrix in matrices.items():
                    save_matrix(Path(folder, encoder, split), matrix)
                reports[encoder]["seconds"] = round(time.perf_counter() - started, 1)
                log.info("%s: %d dimensions in %.1fs (%s); runtime %s: %s", encoder, matrices["train"].shape[1],
                         reports[encoder]["seconds"], precision, reports[encoder]["runtime_used"], reports[encoder]["reason"])  # fmt: skip
            adopted = [encoder for encoder, report in reports.items() if report["runtime_used"] == "onnx_int8"]
            write_json(int8_root / INT8_INDEX, {"runtime": params.inference.runtime, "exports": adopted})  # never an empty DVC out
        write_json(paths.embed_report, {"runtime": params.inference.runtime, "encoders": reports})
        prune_cache(paths.embedding_cache, keep=used_cache_files)


if __name__ == "__main__":
    main()
