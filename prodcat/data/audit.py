"""The catalog audit: rows whose label looks wrong, texts given two labels, texts in train and a held-out split, texts unlike their class.

Label errors come from cleanlab (`find_label_issues`, confident learning) on class probabilities of
a model that never saw the row: the sparse model's out-of-fold scores on train, the train-fitted
model's on validation and test. Each split is audited on its own, so held-out rows are reported but
never fitted on. Near-duplicates, leakage and outliers compare texts in a word TF-IDF space fitted on
the audited texts themselves (no model involved). Every finding is a row of the review format
(prodcat/data/review.py), highest score first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from cleanlab.filter import find_label_issues
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import NearestNeighbors

from prodcat.core.params import AuditParams
from prodcat.data.review import REVIEW_COLUMNS, review_frame

# An outlier is farther from its class than Q3 + OUTLIER_IQR x IQR of its class's train rows: cleanlab
# Datalab's rule for feature outliers at its default threshold (0.37037 -> 1 / 0.37037 - 1 = 1.7).
OUTLIER_IQR = 1.7


def normalised(texts: pd.Series) -> pd.Series:
    """Case and whitespace folded: "Apple  iPhone" and "apple iphone" are one text."""
    return texts.fillna("").str.casefold().str.split().str.join(" ")


def text_vectors(texts: list[str]) -> sp.csr_matrix:
    """Word TF-IDF rows (unit length) of `texts`: cosine similarity is a dot product."""
    return TfidfVectorizer(sublinear_tf=True, dtype=np.float32).fit_transform(texts).tocsr()


def label_errors(frame: pd.DataFrame, probabilities: np.ndarray, names: list[str], split: str) -> pd.DataFrame:
    """Rows cleanlab finds mislabelled, with the most likely other class suggested; score = 1 - p(given label).

    `probabilities` must come from a model that never saw these rows (out of fold), else a wrong label
    it memorised looks right.
    """
    given = frame["label"].map({name: index for index, name in enumerate(names)}).to_numpy()
    if len(set(given)) < 2:  # confident learning compares classes: a split of one class has nothing to compare
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    issues = find_label_issues(given, probabilities, filter_by="prune_by_noise_rate")
    others = np.where(np.eye(len(names), dtype=bool)[given], -1.0, probabilities)
    return pd.DataFrame(
        {
            "id": frame["id"].to_numpy()[issues],
            "issue": "label_error",
            "given_label": frame["label"].to_numpy()[issues],
            "suggested_label": np.asarray(names)[others.argmax(axis=1)][issues],
            "score": 1 - probabilities[np.arange(len(given)), given][issues],
            "split": split,
            "text": frame["text"].to_numpy()[issues],
        },
        columns=REVIEW_COLUMNS,
    )


def near_duplicates(labelled: pd.DataFrame, vectors: sp.csr_matrix, min_similarity: float) -> pd.DataFrame:
    """Both rows of each pair of texts at least `min_similarity` alike (cosine) that carry different labels; score = the similarity.

    `labelled`: every split's rows (id, label, split, text), row i of `vectors` is its row i. The
    suggested label of a row is its partner's: one of the two is wrong, or the classes overlap.
    """
    search = NearestNeighbors(radius=1 - min_similarity, metric="cosine", algorithm="brute").fit(vectors)
    distances, neighbours = search.radius_neighbors(vectors)
    rows = []
    labels = labelled["label"].to_numpy()
    for row, (near, distance) in enumerate(zip(neighbours, distances, strict=True)):
        for other, gap in zip(near, distance, strict=True):
            if labels[other] != labels[row]:
                rows.append((row, other, 1 - gap))
    if not rows:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    first, second, similarity = (np.asarray(column) for column in zip(*rows, strict=True))
    found = labelled.iloc[first].reset_index(drop=True)
    found = found.assign(
        issue="near_duplicate", given_label=found["label"], suggested_label=labels[second], score=np.minimum(similarity, 1.0)
    )
    # A row close to several others keeps its closest partner.
    return found.sort_values("score", ascending=False, kind="stable").drop_duplicates("id")[REVIEW_COLUMNS]


def leakage(labelled: pd.DataFrame) -> pd.DataFrame:
    """Validation and test rows whose text (case and whitespace folded) is also a train text; suggested: that train row's label.

    Score 1: a leaked row inflates the held-out score however it is labelled.
    """
    keys = normalised(labelled["text"])
    train_labels = labelled.assign(key=keys)[labelled["split"] == "train"].drop_duplicates("key").set_index("key")["label"]
    held = labelled[(labelled["split"] != "train") & keys.isin(train_labels.index)]
    return held.assign(
        issue="leakage", given_label=held["label"], suggested_label=keys[held.index].map(train_labels).to_numpy(), score=1.0
    )[REVIEW_COLUMNS]


def outliers(labelled: pd.DataFrame, vectors: sp.csr_matrix, neighbours: int) -> pd.DataFrame:
    """Rows far from their class: mean cosine distance to the `neighbours` nearest train rows of the same label above the class's fence.

    The fence is cleanlab Datalab's for feature outliers, Q3 + 1.7 IQR of the class's train rows'
    distances (a train row is not its own neighbour). Score = the distance.
    """
    found = []
    is_train = (labelled["split"] == "train").to_numpy()
    for _, members in labelled.groupby("label", sort=True):
        rows = members.index.to_numpy()
        train_rows = rows[is_train[rows]]
        k = min(neighbours, len(train_rows) - 1)
        if k < 1:
            continue
        search = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(vectors[train_rows])
        distance, index = search.kneighbors(vectors[rows])
        own = train_rows[index] == rows[:, None]  # a train row's own entry (not a same-text twin) is dropped
        keep = np.where(own.any(axis=1, keepdims=True), ~own, np.arange(k + 1) < k)
        mean = np.array([d[m].mean() for d, m in zip(distance, keep, strict=True)])
        q1, q3 = np.percentile(mean[is_train[rows]], [25, 75])
        far = mean > q3 + OUTLIER_IQR * (q3 - q1)
        found.append(members[far].assign(score=mean[far]))
    frame = pd.concat(found) if found else labelled.iloc[:0].assign(score=[])
    return frame.assign(issue="outlier", given_label=frame["label"], suggested_label="")[REVIEW_COLUMNS]


def audit(splits: dict[str, pd.DataFrame], probabilities: dict[str, np.ndarray], names: list[str], params: AuditParams) -> pd.DataFrame:
    """Every finding on every split, in the review format, highest score first.

    `splits`: split name -> rows (id, text, label); `probabilities`: split name -> out-of-fold class probabilities.
    """
    labelled = pd.concat([frame[["id", "text", "label"]].assign(split=name) for name, frame in splits.items()], ignore_index=True)
    vectors = text_vectors(labelled["text"].fillna("").tolist())
    found = [label_errors(frame, probabilities[name], names, name) for name, frame in splits.items()]
    found += [near_duplicates(labelled, vectors, params.near_duplicate_similarity), leakage(labelled)]
    found += [outliers(labelled, vectors, params.outlier_neighbours)]
    return review_frame(pd.concat([frame for frame in found if len(frame)] or [pd.DataFrame(columns=REVIEW_COLUMNS)], ignore_index=True))


def issue_shares(findings: pd.DataFrame, rows: dict[str, int]) -> dict[str, dict[str, float | int]]:
    """Per split: its rows, and the share of them flagged per issue type (a row counts once per type)."""
    shares = {}
    for split, count in rows.items():
        flagged = findings[findings["split"] == split].drop_duplicates(["id", "issue"])["issue"].value_counts()
        issues = ("label_error", "near_duplicate", "outlier") + (("leakage",) if split != "train" else ())
        shares[split] = {"rows": count, **{issue: round(int(flagged.get(issue, 0)) / max(count, 1), 4) for issue in issues}}
    return shares
