"""The one schema of `params.yaml`, validated when a stage loads it.

Every stage reads the same file through `load_params`, so a typo or an out-of-range value fails
at once with the key's dotted path instead of deep inside a training run. Shared sections (base,
catalog, quality, encoder, inference), then one section per stage: a stage reads its own section and
the shared ones, never another stage's (dvc.yaml lists them). A key the schema does not know fails
with its dotted path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from prodcat.core.errors import InputError
from prodcat.core.variants import VariantName


class ParamsError(InputError):
    """params.yaml is missing, unreadable or does not match the schema."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseParams(_Section):
    """What every stage derives from: one seed for the split, the folds, the fusion's cross-fit and each training run."""

    seed: int = 42


# How deep a label goes: a level (0 = the top of "A | B | C") or `leaf`, each row's deepest level.
CategoryLevel = NonNegativeInt | Literal["leaf"]


class DatasetParams(_Section):
    """How to read a catalog's columns: what a bundle stores to read raw rows as training did."""

    id_column: str
    category_column: str
    category_separator: str = "|"
    category_format: Literal["plain", "json_list"] = "plain"  # json_list: '["A >> B"]', one path in a JSON list
    category_level: CategoryLevel = 0  # the deepest level a label reaches; leaf: each row's last
    unlabelled_values: list[str] = []  # top levels that mean "no category" (e.g. missing): such rows are unlabelled
    text_columns: list[str] = Field(min_length=1)
    price_column: str | None = None
    categorical_columns: list[str] = []

    @property
    def required_columns(self) -> list[str]:
        """Columns the pipeline reads; all must exist in the catalog."""
        optional = [self.price_column] if self.price_column else []
        names = [self.id_column, self.category_column, *self.text_columns, *optional, *self.categorical_columns]
        return list(dict.fromkeys(names))


class CatalogParams(DatasetParams):
    """The catalog, and what every stage that reads its raw rows needs to agree on (validate, preprocess, bundle)."""

    path: str
    group_column: str | None = None  # e.g. a product-cluster id: the split keeps a group on one side
    min_class_count: int = Field(20, ge=2)
    rare_classes: Literal["drop", "other"] = "other"
    max_text_chars: int = Field(4000, ge=16)

    @property
    def dataset(self) -> DatasetParams:
        """The column schema alone, as a bundle stores it."""
        return DatasetParams.model_validate(self.model_dump(include=set(DatasetParams.model_fields)))


# Data-quality checks that may be demoted to warnings. `required_columns` and `trainable_classes`
# always stop the pipeline: later stages cannot run without them.
WarnableCheck = Literal["row_count", "id_not_null", "id_unique", "text_nulls", "price_format", "label_share", "category_path"]


class QualityParams(_Section):
    """The validate stage's data-quality thresholds; a bundle stores them to check batch inputs the same way."""

    min_label_share: float = Field(0.8, gt=0, le=1)
    min_text_share: float = Field(0.8, gt=0, le=1)
    min_price_share: float = Field(0.9, gt=0, le=1)
    min_rows: int = Field(100, ge=1)
    max_rows: int | None = Field(None, ge=1)
    warn_only: list[WarnableCheck] = []

    @model_validator(mode="after")
    def _rows_ordered(self) -> QualityParams:
        if self.max_rows is not None and self.max_rows < self.min_rows:
            raise ValueError(f"max_rows ({self.max_rows}) is below min_rows ({self.min_rows})")
        return self


class PreprocessParams(_Section):
    """The train / validation / test split, and the reviewed corrections applied before it."""

    test_size: float = Field(0.2, gt=0, lt=1)
    validation_size: float = Field(0.1, gt=0, lt=0.5)  # share of train held out to choose the champion
    corrections: str = "data/corrections.csv"  # id, label (a class, or `exclude`): prodcat/data/corrections.py
    seed: int = 42  # base.seed, filled in by Params


class EncoderParams(_Section):
    base: str
    max_seq_length: int = Field(128, ge=8, le=8192)


Precision = Literal["auto", "bf16", "fp16", "fp32"]


# What runs the encoders (prodcat/encoders/runtimes/): torch; onnx_int8, an int8 ONNX export that embeds validation,
# test and prediction once it passes the embed stage's cosine gate and the champion's accuracy gate; openvino,
# prediction only (the embed stage runs torch: same precision).
Runtime = Literal["torch", "onnx_int8", "openvino"]


class InferenceParams(_Section):
    """How an encoder embeds texts, in the embed stage and in prediction alike (the bundle stores these)."""

    batch_size: int = Field(64, ge=1)
    precision: Precision = "auto"
    runtime: Runtime = "torch"
    int8_min_cosine: float = Field(0.98, gt=0, le=1)  # onnx_int8: mean cosine int8 vs torch on validation, else torch
    int8_ffn_output_fp32: bool = False  # onnx_int8: keep the feed-forward output projections fp32: closer to torch, slower


class FinetuneParams(_Section):
    objective: Literal["softmax_head", "batch_all_triplet"] = "softmax_head"
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(32, ge=2)
    learning_rate: float = Field(2e-5, gt=0)
    head_learning_rate: float = Field(1e-3, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    precision: Precision = "auto"
    length_buckets: bool = True  # softmax_head: batches of similar token length (less padding)
    fused_optimizer: bool = True  # AdamW's fused kernel (torch's adamw_torch_fused)
    dropout: bool = True  # the encoder's own dropout while it trains
    processes: int = Field(1, ge=1)  # data-parallel processes (torchrun), one per GPU; batch_size is per process
    seed: int = 42  # base.seed, filled in by Params

    @model_validator(mode="after")
    def _processes_evened(self) -> FinetuneParams:
        if self.processes > 1 and self.objective != "softmax_head":
            raise ValueError("processes > 1 needs objective softmax_head: the triplet batches are not evened out across processes")
        return self


class AdaptParams(_Section):
    """Unsupervised domain adaptation of the base encoder on unlabelled product texts, before fine-tuning."""

    method: Literal["none", "tsdae", "mlm"] = "none"
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=2)
    learning_rate: float = Field(3e-5, gt=0)
    deletion_ratio: float = Field(0.6, gt=0, lt=1)  # tsdae: share of words deleted from the encoder's input
    mlm_probability: float = Field(0.15, gt=0, lt=1)  # mlm: share of tokens masked
    max_texts: int | None = Field(None, ge=1)  # a seeded sample of the corpus; None keeps every text
    precision: Precision = "auto"
    seed: int = 42  # base.seed, filled in by Params


NgramRange = tuple[int, int]


class SparseParams(_Section):
    """The word + character n-gram TF-IDF linear model (variant `sparse`, and the scores `hybrid` reads)."""

    word_ngrams: NgramRange = (1, 2)
    char_analyzer: Literal["char_wb", "char"] = "char_wb"
    char_ngrams: NgramRange = (2, 5)
    min_df: int = Field(2, ge=1)
    max_features: int | None = Field(None, ge=1)  # per analyzer; None keeps every n-gram seen min_df times
    classifier: Literal["linear_svc", "logistic_regression"] = "linear_svc"
    C: float = Field(0.5, gt=0)
    folds: int = Field(5, ge=2, le=20)  # out-of-fold scores on train for the hybrid's XGBoost

    @field_validator("word_ngrams", "char_ngrams")
    @classmethod
    def _ordered(cls, bounds: NgramRange) -> NgramRange:
        if not 1 <= bounds[0] <= bounds[1] <= 8:
            raise ValueError(f"expected [low, high] with 1 <= low <= high <= 8, got {list(bounds)}")
        return bounds


class AuditParams(_Section):
    """The audit stage's text comparisons (label errors need no setting: cleanlab's confident learning picks its own cut-off)."""

    near_duplicate_similarity: float = Field(0.9, gt=0, le=1)  # word TF-IDF cosine at which two texts count as one product
    outlier_neighbours: int = Field(10, ge=1)  # a text's distance to its class: mean over this many nearest train rows of it
    page_rows: int = Field(200, ge=1)  # review rows on the audit page (the CSV has them all)


class ChampionParams(_Section):
    """The fusion's members (calibrated probabilities averaged, weights chosen on validation), the choice rule and the int8 gate.

    The rule (README, "Variants and the champion"): the first variant of `preference` that no other
    variant beats on validation by more than `noise_z` standard errors of the paired difference.
    """

    fusion_members: list[VariantName] = Field(["softmax", "hybrid", "sparse"], min_length=2)
    preference: list[VariantName] = ["fusion", "hybrid_linear", "hybrid", "sparse", "softmax", "finetuned", "adapted", "stock"]
    noise_z: float = Field(2.0, ge=0)  # how many standard errors of the paired validation difference count as a real win
    int8_max_accuracy_drop: float = Field(0.002, ge=0, lt=1)  # champion validation accuracy int8 may lose

    @field_validator("preference")
    @classmethod
    def _no_repeats(cls, preference: list[str]) -> list[str]:
        if len(set(preference)) != len(preference):
            raise ValueError(f"each variant at most once, got {preference}")
        return preference


class RefitParams(_Section):
    """The refit stage: the champion's parts that need no fine-tuning fitted again on train + validation once it is chosen."""

    enabled: bool = True


class CascadeParams(_Section):
    """The cascade stage: the sparse model answers the rows it is sure of, the champion the rest (prodcat/inference/cascade.py)."""

    enabled: bool = True
    max_accuracy_drop: float = Field(0.001, ge=0, lt=1)  # validation accuracy the cascade may lose against the champion alone


class TrainXgbParams(_Section):
    max_depth: int = Field(4, ge=1)
    eta: float = Field(0.1, gt=0, le=1)
    num_boost_round: int = Field(300, ge=1)
    seed: int = 42  # base.seed, filled in by Params


class MonitorParams(_Section):
    """The bundle stage's drift report beside every scored batch: when a shift from the training data becomes a warning."""

    bins: int = Field(10, ge=2, le=100)  # quantile bins of the training text lengths and prices
    psi_warning: float = Field(0.25, gt=0)  # population stability index above this is a warning
    low_confidence: float = Field(0.5, gt=0, lt=1)  # top-1 probability below this is a low-confidence prediction
    max_low_confidence_share: float = Field(0.2, ge=0, le=1)
    max_unseen_share: float = Field(0.5, ge=0, le=1)  # per categorical column, of its filled values


class ClusterParams(_Section):
    """Where the data-parallel work runs (prodcat/cluster/workers.py): a Dask scheduler, a local cluster, or in-process.

    Settings of where, not what: the results equal the in-process ones (allclose), so no DVC stage lists them.
    """

    scheduler: str | None = None  # address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786
    local_workers: int = Field(0, ge=0)  # N > 0: a LocalCluster of N worker processes for the stage's duration
    threads_per_worker: int = Field(1, ge=1)  # a local worker's threads (torch threads of each shard)
    shard_rows: int = Field(10000, ge=1)  # texts or rows per task: one task per shard, never per text

    @model_validator(mode="after")
    def _one_cluster(self) -> ClusterParams:
        if self.scheduler is not None and self.local_workers:
            raise ValueError(f"set either scheduler ({self.scheduler}) or local_workers ({self.local_workers}), not both")
        return self

    @property
    def configured(self) -> bool:
        """False: no cluster, the work runs in this process exactly as without Dask."""
        return self.scheduler is not None or self.local_workers > 0


# A task (a DVC stage of dvc.yaml, or batch scoring) that params.yaml gives no timeout of its own.
DEFAULT_TIMEOUT_SECONDS = 3600


class OrchestrationParams(_Section):
    """How the Prefect flows (flows/) run the stages; no stage reads this section."""

    retries: int = Field(2, ge=0, le=10)
    retry_delay_seconds: float = Field(10, gt=0)
    timeout_seconds: dict[str, PositiveInt] = {}  # per task; checked against dvc.yaml where a flow runs (`timeouts`)

    def timeouts(self, tasks: Sequence[str]) -> dict[str, int]:
        """Every task's timeout, the default where params.yaml gives none; a key that names no task is an error.

        The tasks come from the working copy's dvc.yaml (`prodcat.core.pipeline.task_names`), read only by
        the flows: the library itself never needs a repository.
        """
        if unknown := sorted(set(self.timeout_seconds) - set(tasks)):
            raise ParamsError(f"orchestration.timeout_seconds: unknown stage(s) {unknown}; the stages are {list(tasks)}")
        return {task: self.timeout_seconds.get(task, DEFAULT_TIMEOUT_SECONDS) for task in tasks}


# The sections whose code reads `<section>.seed` (the split, the training runs): filled from base.seed at load.
SEEDED = ("preprocess", "adapt", "finetune", "train_xgb")


class Params(_Section):
    variants: list[VariantName] = Field(min_length=1)
    base: BaseParams = BaseParams()
    catalog: CatalogParams
    quality: QualityParams = QualityParams()
    encoder: EncoderParams
    inference: InferenceParams = InferenceParams()
    preprocess: PreprocessParams = PreprocessParams()
    adapt: AdaptParams = AdaptParams()
    finetune: FinetuneParams = FinetuneParams()
    train_sparse: SparseParams = SparseParams()
    audit: AuditParams = AuditParams()
    train_xgb: TrainXgbParams = TrainXgbParams()
    champion: ChampionParams = ChampionParams()
    cascade: CascadeParams = CascadeParams()
    refit: RefitParams = RefitParams()
    bundle: MonitorParams = MonitorParams()
    orchestration: OrchestrationParams = OrchestrationParams()
    cluster: ClusterParams = ClusterParams()

    @model_validator(mode="before")
    @classmethod
    def _seeds_from_base(cls, raw: object) -> object:
        """One seed, set in one place: base.seed copied into each seeded section (a bad one is named as `base.seed`)."""
        if not isinstance(raw, dict):
            return raw
        base = raw.get("base", {})
        seed = base.get("seed", BaseParams().seed) if isinstance(base, dict) else None
        if not isinstance(seed, int):
            return raw
        if given := [f"{name}.seed" for name in SEEDED if isinstance(raw.get(name), dict) and "seed" in raw[name]]:
            raise ValueError(f"{', '.join(given)}: not a params key, every seed is base.seed")
        return {**raw, **{name: {**raw.get(name, {}), "seed": seed} for name in SEEDED if isinstance(raw.get(name, {}), dict)}}

    @model_serializer(mode="wrap")
    def _without_derived_seeds(self, handler: SerializerFunctionWrapHandler) -> dict:
        """A dump is a valid params.yaml again: the seeds filled in from base.seed are left out."""
        dumped = handler(self)
        for name in SEEDED:
            dumped.get(name, {}).pop("seed", None)
        return dumped

    @field_validator("variants")
    @classmethod
    def _unique(cls, variants: list[str]) -> list[str]:
        if len(set(variants)) != len(variants):
            raise ValueError(f"variants must be unique, got {variants}")
        return variants

    @model_validator(mode="after")
    def _variants_trainable(self) -> Params:
        if "softmax" in self.variants and self.finetune.objective != "softmax_head":
            raise ValueError(f"variant softmax needs finetune.objective softmax_head, not {self.finetune.objective}")
        if "adapted" in self.variants and self.adapt.method == "none":
            raise ValueError("variant adapted needs adapt.method tsdae or mlm, not none")
        if unranked := [name for name in self.variants if name not in self.champion.preference]:
            raise ValueError(f"champion.preference must rank every variant; missing {unranked}")
        if "fusion" in self.variants:
            if "fusion" in self.champion.fusion_members:
                raise ValueError("champion.fusion_members cannot include fusion itself")
            if missing := [name for name in self.champion.fusion_members if name not in self.variants]:
                raise ValueError(f"champion.fusion_members {missing} are not in variants {self.variants}")
        return self


def named_problems(error: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """Each validation problem as `dotted.key: message`."""
    return "; ".join(
        ": ".join(filter(None, [".".join(str(part) for part in (*prefix, *issue["loc"])), issue["msg"]])) for issue in error.errors()
    )


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    """Validate an already-parsed params mapping; errors name each offending key."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source} must be a mapping of sections (base, catalog, encoder, ...)")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(f"invalid params: {named_problems(error)}") from None


def cluster_params(**values: object) -> ClusterParams:
    """The `cluster` section from elsewhere than params.yaml (batch prediction's flags); errors name `cluster.<key>`."""
    try:
        return ClusterParams.model_validate(values)
    except ValidationError as error:
        raise ParamsError(f"invalid cluster settings: {named_problems(error, ('cluster',))}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        try:
            raw = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ParamsError(f"{path} is not valid YAML: {error}") from None
    return parse_params(raw, str(path))
