"""The review queue: one format for every row a person should look at, from the audit stage and from batch prediction.

A reviewer reads the queue top down (highest `score` first) and writes each decision into
`data/corrections.csv` (prodcat/data/corrections.py), which the next `preprocess` applies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prodcat.core.errors import InputError

REVIEW_COLUMNS = ["id", "issue", "given_label", "suggested_label", "score", "split", "text"]
# label_error, near_duplicate, leakage, outlier: the audit stage (prodcat/data/audit.py); low_confidence: batch prediction.
ISSUES = ("label_error", "near_duplicate", "leakage", "outlier", "low_confidence")
NEW_PRODUCTS = "new"  # the `split` of a batch's products: in no split of the training data
TEXT_CHARS = 300  # a review row shows the start of the text; the id finds the rest
# A reviewed queue is the queue with one more column, `decision`, filled in by the reviewer (`prodcat review` reads it):
DECISION = "decision"
ACCEPT = "accept"  # the suggested label is right
KEEP = "keep"  # the given label is right: nothing to correct
# `exclude` drops the row (prodcat/data/corrections.py); any other text is the right label, as labels.json spells it;
# a blank decision is not reviewed yet.


def review_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` in the review format: its columns in order, texts cut, ranked by score (highest first, ties by id)."""
    if unknown := sorted(set(rows["issue"]) - set(ISSUES)):
        raise ValueError(f"unknown review issue(s) {unknown}; expected one of {list(ISSUES)}")
    frame = rows[REVIEW_COLUMNS].assign(text=rows["text"].fillna("").str.slice(0, TEXT_CHARS), score=rows["score"].astype(float).round(4))
    return frame.sort_values(["score", "id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def low_confidence_rows(predictions: pd.DataFrame, texts: pd.Series, threshold: float) -> pd.DataFrame:
    """New products whose top-1 probability is below `threshold`, as review rows: the prediction suggested, no given label.

    score = 1 - top-1 probability: the less sure the model, the earlier a person looks.
    """
    top = predictions["top1_probability"].to_numpy(dtype=float)
    low = top < threshold
    return pd.DataFrame(
        {
            "id": predictions["id"].to_numpy()[low],
            "issue": "low_confidence",
            "given_label": "",
            "suggested_label": predictions["predicted"].to_numpy()[low],
            "score": np.round(1 - top[low], 4),
            "split": NEW_PRODUCTS,
            "text": texts.to_numpy()[low],
        },
        columns=REVIEW_COLUMNS,
    )


def decided_corrections(reviewed: pd.DataFrame, source: str) -> tuple[pd.DataFrame, int]:
    """The corrections (id, label) that a reviewed queue's decisions make, in queue order, and how many rows are not decided yet.

    A decision that names the given label (`keep`, or the label typed out) corrects nothing. An
    `accept` without a suggested label, a `keep` without a given label, or one id decided two ways
    stops with the file's line, so nothing is half applied.
    """
    if missing := [column for column in ["id", "given_label", "suggested_label", DECISION] if column not in reviewed]:
        raise InputError(f"{source}: missing column(s) {missing}; a reviewed queue is the review queue with a `{DECISION}` column")
    rows = reviewed[["id", "given_label", "suggested_label", DECISION]].fillna("").astype(str).apply(lambda column: column.str.strip())
    decided: dict[str, tuple[str, int]] = {}  # id -> (label, the line that decided it)
    corrections: list[tuple[str, str]] = []
    for line, (identifier, given, suggested, decision) in enumerate(rows.itertuples(index=False, name=None), start=2):
        if not decision:
            continue
        if not identifier:
            raise InputError(f"{source} line {line}: a decision ({decision!r}) without an id")
        if decision == KEEP and not given:
            raise InputError(f"{source} line {line} (id {identifier!r}): `{KEEP}`, but the row has no given label")
        if decision == ACCEPT and not suggested:
            raise InputError(f"{source} line {line} (id {identifier!r}): `{ACCEPT}`, but the row has no suggested label")
        label = {KEEP: given, ACCEPT: suggested}.get(decision, decision)
        if identifier in decided:
            earlier, earlier_line = decided[identifier]
            if earlier != label:
                raise InputError(
                    f"{source} line {line}: id {identifier!r} is decided {label!r} here but {earlier!r} on line {earlier_line}"
                )
            continue
        decided[identifier] = (label, line)
        if label != given:
            corrections.append((identifier, label))
    return pd.DataFrame(corrections, columns=["id", "label"], dtype=str), int((rows[DECISION] == "").sum())
