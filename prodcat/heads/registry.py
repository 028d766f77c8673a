"""Which class each head name of the variant registry (prodcat.core.variants) is: adding a head is a `Head` subclass and a line here."""

from __future__ import annotations

from prodcat.core.variants import Variant
from prodcat.heads.base import Head
from prodcat.heads.fusion import FusionHead
from prodcat.heads.linear import LinearHead
from prodcat.heads.offset import OffsetHead
from prodcat.heads.softmax import SoftmaxHead
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
