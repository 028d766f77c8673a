"""What a label is: its category path down to the label's depth, levels joined by one separator.

"Clothing | Accessories" and "Electronics | Accessories" are two classes; a top level alone is itself.
Its own module, apart from the catalog parser and the split, so that the metrics, the predictor and the
drift report can read paths without depending on either.
"""

from __future__ import annotations

LABEL_SEPARATOR = " | "  # whatever the catalog's own separator


def label_depth(label: str) -> int:
    """ "A | B" -> 1: the level of the path's last part."""
    return label.count(LABEL_SEPARATOR)


def label_at_level(label: str, level: int) -> str:
    """ "A | B | C" -> "A | B" at level 1: the ancestor a label implies; a label no deeper than `level` is itself."""
    return LABEL_SEPARATOR.join(label.split(LABEL_SEPARATOR)[: level + 1])
