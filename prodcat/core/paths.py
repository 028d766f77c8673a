"""Where each pipeline artifact lives, read from the one place it is written down: `paths.yaml`.

dvc.yaml reads the same file through `vars` (`${paths.processed}` in a stage's deps and outs); the
stages read it here (`load_paths(args.paths).processed`), so a path is never spelled twice and a
stage's CLI declares no path flags. tests/pipeline/test_dvc_deps.py checks that the keys a stage's
code reads are the keys its dvc.yaml entry declares.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prodcat.core.errors import InputError
from prodcat.core.params import named_problems

PATHS_YAML = Path("paths.yaml")  # in the working directory, beside dvc.yaml

# The folders below `models` that the heads, the refit and the bundle find by name: each key is its folder's name.
MODEL_FOLDERS = ("adapted", "finetuned", "onnx_int8", "sparse", "xgb", "refit")


class PathsError(InputError):
    """paths.yaml is missing, unreadable or does not match the schema."""


class ArtifactPaths(BaseModel):
    """Each artifact's path (relative to the working directory), by the stage that writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # validate
    data_docs: Path = Field(description="Great Expectations Data Docs, written on every run")
    data_quality: Path = Field(description="data-quality summary (a DVC metric), written only when validation passed")
    # preprocess
    processed: Path = Field(description="train, validation, test and unlabelled .parquet and labels.json")
    preprocess_report: Path = Field(description="row counts (a DVC metric)")
    # every model stage
    models: Path = Field(description="the trained models; the folders of MODEL_FOLDERS lie directly below it")
    # adapt
    adapted: Path = Field(description="the adapted encoder (safetensors) and adapt.json; adapt.json only with adapt.method none")
    adapt_checkpoints: Path = Field(description="adapt's last epoch, kept to resume a crashed run")
    adapt_report: Path = Field(description="adaptation summary, corpus size and sha256 (a DVC metric)")
    adapt_live: Path = Field(description="DVCLive folder: per-step loss, per-epoch validation centroid accuracy")
    # finetune
    finetuned: Path = Field(description="the fine-tuned encoder with its softmax head")
    finetune_checkpoints: Path = Field(description="finetune's last epoch, kept to resume a crashed run")
    finetune_report: Path = Field(description="fine-tuning summary (a DVC metric)")
    finetune_live: Path = Field(description="DVCLive folder: per-step loss, per-epoch validation accuracy")
    # embed
    embeddings: Path = Field(description="<encoder>/{train,validation,test}.npy embedding matrices")
    embedding_cache: Path = Field(description="embeddings by text hash, one file per encoder fingerprint")
    onnx_int8: Path = Field(
        description="index.json, and <encoder>/ int8 ONNX exports that passed the cosine gate (inference.runtime onnx_int8)"
    )
    embed_report: Path = Field(description="runtime used per encoder and why (a DVC metric)")
    # train_sparse
    sparse: Path = Field(description="the sparse model: vectorizers (JSON), linear weights and calibration (npz)")
    sparse_scores: Path = Field(description="{train,validation,test}.npy class scores, out of fold on train")
    # audit
    audit: Path = Field(description="the review queue (label_issues.csv) and its page (index.html)")
    audit_report: Path = Field(description="flagged share per issue and split (a DVC metric)")
    # train_xgb
    xgb: Path = Field(description="<variant>.ubj boosters, tabular.json, <variant>.safetensors offset heads")
    # champion
    champion: Path = Field(description="the champion, its fusion weights and the runtime that embeds for prediction (JSON)")
    validation_report: Path = Field(description="validation scores per variant (a DVC metric)")
    # refit
    refit: Path = Field(description="the champion's parts refitted on train + validation (the models/ layout) and refit.json")
    # cascade
    cascade: Path = Field(description="the threshold at which the sparse model answers (JSON)")
    cascade_report: Path = Field(description="threshold, sparse share, validation accuracy with and without the cascade (a DVC metric)")
    # evaluate
    evaluate_report: Path = Field(description="test scores per variant (a DVC metric)")
    per_class: Path = Field(description="per-class precision/recall/F1 per variant (a DVC metric)")
    champion_report: Path = Field(description="the champion's name, validation and test scores (a DVC metric)")
    confusion: Path = Field(description="<variant>.json confusion rows (a DVC plot)")
    # bundle
    bundle: Path = Field(description="the model bundle that batch prediction and the service load")

    @model_validator(mode="after")
    def _models_layout(self) -> ArtifactPaths:
        """The heads and the bundle find these folders below `models` by name: another place would go unread."""
        for key in MODEL_FOLDERS:
            if getattr(self, key) != self.models / key:
                raise ValueError(f"{key} must be {(self.models / key).as_posix()} (models/{key}: scoring reads that layout)")
        return self


def parse_paths(raw: object, source: str = "paths.yaml") -> ArtifactPaths:
    """Validate an already-parsed paths file (`paths:` mapping keys to paths); errors name each offending key."""
    if not isinstance(raw, dict) or not isinstance(raw.get("paths"), dict):
        raise PathsError(f"{source} must hold a `paths:` mapping of artifact keys to paths")
    try:
        return ArtifactPaths.model_validate(raw["paths"])
    except ValidationError as error:
        raise PathsError(f"invalid {source}: {named_problems(error, ('paths',))}") from None


def load_paths(path: str | Path = PATHS_YAML) -> ArtifactPaths:
    path = Path(path)
    if not path.is_file():
        raise PathsError(f"paths file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PathsError(f"{path} is not valid YAML: {error}") from None
    return parse_paths(raw, str(path))
