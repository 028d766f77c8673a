"""The model variants the pipeline trains and compares: each is a feature set plus a head.

This registry is the one place that says which features a variant reads and which head turns them
into class probabilities; the stages, the champion choice and prediction all look variants up here.

| variant   | features                                              | head                         |
|-----------|-------------------------------------------------------|------------------------------|
| stock     | base encoder's embedding + price + categoricals       | XGBoost                      |
| adapted   | adapted encoder's embedding (adapt stage, before      | XGBoost                      |
|           | fine-tuning) + price + categoricals                   |                              |
| finetuned | fine-tuned encoder's embedding + price + categoricals | XGBoost                      |
| softmax   | fine-tuned encoder's embedding                        | the fine-tuning softmax head |
| sparse    | word + character n-gram TF-IDF                        | linear (SVM or logistic)     |
| hybrid    | fine-tuned embedding + sparse class scores (out of    | XGBoost                      |
|           | fold on train) + price + categoricals                 |                              |
| hybrid_   | fine-tuned embedding + sparse class scores (out of    | softmax: embedding . W + b + |
| linear    | fold on train), class c's score in c's logit alone    | a_c x score_c (offset.py)    |
| fusion    | the probabilities of its members (params)             | weighted average             |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

# The encoders whose embeddings a variant may read (the other feature block is the sparse class scores).
Encoder = Literal["stock", "adapted", "finetuned"]

# The encoders a stage trains: each is saved as models/<encoder> (stock is encoder.base as shipped).
TRAINED_ENCODERS: tuple[Encoder, ...] = ("adapted", "finetuned")


@dataclass(frozen=True)
class Variant:
    name: str
    encoder: Encoder | None  # whose embedding it reads, if any
    sparse_scores: bool  # reads the sparse model's class scores
    head: str  # a name in prodcat.heads.registry.HEADS: xgboost, linear, softmax, offset, fusion
    description: str


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in [
        Variant("stock", "stock", False, "xgboost", "base encoder embedding + price + categoricals -> XGBoost"),
        Variant("adapted", "adapted", False, "xgboost", "adapted encoder embedding (before fine-tuning) + price + categoricals -> XGBoost"),
        Variant("finetuned", "finetuned", False, "xgboost", "fine-tuned embedding + price + categoricals -> XGBoost"),
        Variant("softmax", "finetuned", False, "softmax", "fine-tuned embedding -> the softmax head trained with it"),
        Variant("sparse", None, True, "linear", "word + char n-gram TF-IDF -> linear classifier"),
        Variant(
            "hybrid", "finetuned", True, "xgboost", "fine-tuned embedding + out-of-fold sparse scores + price + categoricals -> XGBoost"
        ),
        Variant(
            "hybrid_linear",
            "finetuned",
            True,
            "offset",
            "fine-tuned embedding + per-class sparse score offsets -> softmax head (linear in classes)",
        ),
        Variant("fusion", None, False, "fusion", "weighted average of its members' probabilities"),
    ]
}

if TYPE_CHECKING:
    VariantName = str  # a Literal built at run time is beyond a static checker
else:
    VariantName = Literal[tuple(VARIANTS)]  # what params.yaml may name, validated by pydantic


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}") from None


def encoders_needed(names: list[str]) -> list[Encoder]:
    """The encoders whose embeddings the given variants (fusion: through its members) read, in a fixed order."""
    used = {variant(name).encoder for name in names}
    return [encoder for encoder in ("stock", "adapted", "finetuned") if encoder in used]


def encoder_source(encoder: Encoder, base: str, finetuned: Path, adapted: Path) -> str:
    """Where an encoder's weights live: `stock` is the base encoder as shipped, the others their stage's folder."""
    return {"stock": base, "adapted": str(adapted), "finetuned": str(finetuned)}[encoder]


def sparse_needed(names: list[str]) -> bool:
    return any(variant(name).sparse_scores for name in names)
