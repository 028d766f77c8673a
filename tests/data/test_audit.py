from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prodcat.core.params import AuditParams, SparseParams, load_params
from prodcat.data.audit import audit, issue_shares, label_errors, leakage, near_duplicates, outliers, text_vectors
from prodcat.data.catalog import make_examples
from prodcat.data.review import REVIEW_COLUMNS
from prodcat.data.splits import label_ids, label_names
from prodcat.data.synth import generate_catalog
from prodcat.heads.sparse import fit_temperature, out_of_fold_scores, probabilities

SWAPPED = {"Toys & Games": "Home & Kitchen", "Home & Kitchen": "Toys & Games"}  # the small catalog's two largest classes


def test_planted_wrong_labels_are_found_by_id_with_their_true_label_suggested() -> None:
    raw = generate_catalog(n_rows=500, seed=3)
    truth = raw["Category"].str.split("|").str[0].str.strip()
    rows = [row for top in SWAPPED for row in truth.index[truth == top][:3]]  # the first three of each
    raw.loc[rows, "Category"] = truth[rows].map(SWAPPED)
    planted = dict(zip(raw.loc[rows, "Uniq Id"], truth[rows], strict=True))
    train = make_examples(raw, load_params().catalog.model_copy(update={"min_class_count": 8})).frame
    names = label_names(train["label"])
    labels = label_ids(train["label"], names)
    scores = out_of_fold_scores(train["text"].tolist(), labels, None, len(names), SparseParams(), seed=0)
    found = label_errors(train, probabilities(scores, fit_temperature(scores, labels)), names, "train").set_index("id")
    assert set(planted) <= set(found.index)  # each planted row found by id ...
    assert found.loc[list(planted), "suggested_label"].to_dict() == planted  # ... its true label suggested
    assert (found.loc[list(planted), "score"] > 0.5).all() and (found["split"] == "train").all()


def frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "text", "label", "split"])


KNOWN = frame(
    [
        ("t1", "Samsung RB29 fridge freezer white", "Fridge Freezers", "train"),
        ("t2", "Apple iPhone 8 64GB silver", "Mobile Phones", "train"),
        ("t3", "Bosch Serie 4 dishwasher", "Dishwashers", "train"),
        ("v1", "samsung rb29 fridge-freezer WHITE", "Fridges", "validation"),  # near-duplicate of t1 (not the same text), another label
        ("x1", "apple  iphone 8 64gb SILVER", "Mobile Phones", "test"),  # t2's text again: leakage
        ("x2", "Canon EOS 2000D camera", "Digital Cameras", "test"),
    ]
)


APPLIANCES = {"Kettles": "kettle", "Toasters": "toaster", "Blenders": "blender"}


def test_a_near_duplicate_with_another_label_and_a_leaked_text_are_found_by_value() -> None:
    vectors = text_vectors(KNOWN["text"].tolist())
    pairs = near_duplicates(KNOWN, vectors, min_similarity=0.9)
    assert pairs[["id", "issue", "given_label", "suggested_label", "split"]].values.tolist() == [
        ["t1", "near_duplicate", "Fridge Freezers", "Fridges", "train"],
        ["v1", "near_duplicate", "Fridges", "Fridge Freezers", "validation"],
    ]  # t2 / x1 are alike too, but share their label
    assert pairs["score"].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    leaked = leakage(KNOWN)
    assert leaked.values.tolist() == [["x1", "leakage", "Mobile Phones", "Mobile Phones", 1.0, "test", "apple  iphone 8 64gb SILVER"]]
    assert list(leaked.columns) == REVIEW_COLUMNS


def test_a_text_unlike_its_class_is_an_outlier() -> None:
    shirts = [
        (f"s{i}", f"cotton t-shirt crew neck size {size} colour {colour}", "Shirts", "train")
        for i, (size, colour) in enumerate((s, c) for s in ("S", "M", "L", "XL") for c in ("red", "blue", "black"))
    ]
    odd = ("odd", "stainless steel saucepan with glass lid", "Shirts", "train")
    held = ("held", "induction wok non stick 28 cm", "Shirts", "test")
    rows = frame([*shirts, odd, held])
    found = outliers(rows, text_vectors(rows["text"].tolist()), neighbours=3)
    assert found["id"].tolist() == ["odd", "held"] and found["score"].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)


def test_audit_ranks_every_finding_and_counts_shares_per_split() -> None:
    appliances = [(f"{noun}{i}", f"{noun} {i} litre", label, "train") for label, noun in APPLIANCES.items() for i in range(12)]
    rows = pd.concat([KNOWN, frame(appliances)], ignore_index=True)
    splits = {name: part.drop(columns="split").reset_index(drop=True) for name, part in rows.groupby("split", sort=False)}
    names = label_names(rows["label"])
    scored = {}
    for name, part in splits.items():  # a model sure of every given label (0.9) but for kettle3's: it says Toasters
        believed = part["label"].mask(part["id"] == "kettle3", "Toasters")
        scored[name] = np.full((len(part), len(names)), 0.1 / (len(names) - 1))
        scored[name][np.arange(len(part)), label_ids(believed, names)] = 0.9
    findings = audit(splits, scored, names, AuditParams())
    assert list(findings.columns) == REVIEW_COLUMNS and findings["score"].is_monotonic_decreasing
    errors = findings[findings["issue"] == "label_error"]
    assert errors[["id", "given_label", "suggested_label", "split"]].values.tolist() == [["kettle3", "Kettles", "Toasters", "train"]]
    assert errors["score"].tolist() == [round(1 - 0.1 / (len(names) - 1), 4)]  # 1 - p(given label)
    assert set(findings.loc[findings["issue"] == "near_duplicate", "id"]) == {"t1", "v1"}
    assert findings.loc[findings["issue"] == "leakage", "id"].tolist() == ["x1"]
    shares = issue_shares(findings, {name: len(part) for name, part in splits.items()})
    assert shares["train"]["rows"] == 39 and shares["train"]["label_error"] == round(1 / 39, 4)
    assert shares["train"]["near_duplicate"] == round(1 / 39, 4) and "leakage" not in shares["train"]
    assert shares["test"] == {"rows": 2, "label_error": 0.0, "near_duplicate": 0.0, "outlier": 0.0, "leakage": 0.5}
