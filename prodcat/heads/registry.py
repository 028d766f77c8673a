"""Which class each head name of the variant registry (prodcat.core.variants) is, and which heads a stage fits: the one place that dispatches on a head.

Adding a head is a `Head` subclass and a line here; a stage that fits heads (train_xgb, refit) asks
for the variants whose heads it fits and fits them through `fit_heads`, whatever they are.
"""

from __future__ import annotations

from prodcat.core.variants import Variant, variant
from prodcat.heads.base import FittedHead, Fitting, Head, TrainingRows
from prodcat.heads.fusion import FusionHead
from prodcat.heads.offset import OffsetHead
from prodcat.heads.softmax import SoftmaxHead
from prodcat.heads.sparse import LinearHead
from prodcat.heads.xgboost import XGBoostHead

HEADS: dict[str, type[Head]] = {
    "xgboost": XGBoostHead,
    "linear": LinearHead,
    "softmax": SoftmaxHead,
    "fusion": FusionHead,
    "offset": OffsetHead,
}


def head_class(spec: Variant) -> type[Head]:
    """The class of the head variant `spec` names."""
    try:
        return HEADS[spec.head]
    except KeyError:
        raise ValueError(f"variant {spec.name!r} names the unknown head {spec.head!r}; known: {', '.join(HEADS)}") from None


def variants_fitted_in(stage: str, names: list[str]) -> list[str]:
    """The variants among `names` whose heads the stage `stage` fits, in their order."""
    return [name for name in names if head_class(variant(name)).fitted_in == stage]


def refitted_variants(names: list[str]) -> list[str]:
    """The variants among `names` whose heads the refit stage fits again on train + validation, in their order."""
    return [name for name in names if head_class(variant(name)).refitted]


def fit_heads(names: list[str], rows: TrainingRows, fitting: Fitting) -> dict[str, FittedHead]:
    """The heads of `names` that fit themselves on feature blocks, fitted on `rows`: the one way a stage fits heads.

    The others are fitted with what they read (`fitted_in`): the linear head is the sparse model's
    calibration (train_sparse), the softmax head is trained with its encoder (finetune), the fusion's
    weights are part of the champion's choice.
    """
    heads: dict[str, FittedHead] = {}
    for name in names:
        cls = head_class(variant(name))
        if issubclass(cls, FittedHead):
            heads[name] = cls.fit(variant(name), rows, fitting)
    return heads
