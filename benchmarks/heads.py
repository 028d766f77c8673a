"""Heads that scale with classes: each head's training and scoring time at 20 and at ~130 classes, same rows.

    python -m benchmarks.heads [--catalog ../shared/data/instacart_products.csv] [--rounds 60] [--output .bench/heads.json]

Instacart products (rows with department "missing" dropped, classes of the path task with at least
`--min-class-rows` rows kept) are split once, 80/20 stratified by the aisle path (seed 42). The same
rows are labelled two ways: by department (20 classes) and by "department | aisle" (~130 classes).
Features are computed once: stock all-MiniLM-L6-v2 embeddings of the product name at 32 tokens
(cached in `--embeddings`), and per task the sparse model's out-of-fold class scores on train and the
full model's scores on test. Cost depends on shapes, not weights, so the stock encoder stands in for
the fine-tuned one.

Heads: the sparse model alone; XGBoost (the pipeline's booster, `--rounds` rounds, timed per round) on
the embedding, on embedding + all scores (today's hybrid), on embedding + top-k scores and their class
ids; a logistic regression on the joined columns; the sparse-offset softmax head; and, for the path
task, department-then-aisle (hierarchical) versions of the hybrid. Prints one JSON line per head and
the markdown table of docs/BENCHMARKS_HEADS.md (which ran `--rounds 10 --threads 1`: on a shared
machine one thread per head degrades evenly, two threads did not).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xgboost as xgb
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from prodcat.core.params import SparseParams, TrainXgbParams
from prodcat.encoders.encode import encode_texts
from prodcat.encoders.load import load_encoder, pick_device, resolve_precision
from prodcat.heads.sparse import fit_sparse, fit_temperature, out_of_fold_scores
from prodcat.heads.xgboost import booster_params

ENCODER = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 32
SEED = 42


def labelled_rows(catalog: Path, min_class_rows: int) -> pd.DataFrame:
    """Labelled products whose path class has `min_class_rows` rows: both tasks then see exactly the same rows."""
    frame = pd.read_csv(catalog)
    frame = frame[frame["department"] != "missing"]
    counts = frame["category"].value_counts()
    return frame[frame["category"].isin(counts[counts >= min_class_rows].index)].reset_index(drop=True)


def split_rows(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row positions, 80/20 stratified by the path (so each department is stratified too)."""
    return train_test_split(np.arange(len(frame)), test_size=0.2, stratify=frame["category"], random_state=SEED)


def embeddings(texts: list[str], cache: Path) -> tuple[np.ndarray, float]:
    """Stock-encoder embeddings of `texts` and the seconds they took (0 when read from `cache`, which is keyed by nothing but its path)."""
    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        if len(stored) == len(texts):
            return stored, 0.0
    device = pick_device()
    model = load_encoder(ENCODER, MAX_SEQ_LENGTH, device)
    started = time.perf_counter()
    vectors = encode_texts(model, texts, batch_size=128, precision=resolve_precision("auto", device))
    seconds = time.perf_counter() - started
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors, seconds


def timed(work, *args, **kwargs):
    started = time.perf_counter()
    result = work(*args, **kwargs)
    return result, time.perf_counter() - started


def class_codes(names: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Class index = position in the sorted names, as labels.json does."""
    classes = sorted(names.unique())
    return names.map({name: index for index, name in enumerate(classes)}).to_numpy(), classes


def scores_of(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    predicted = probabilities.argmax(axis=1)
    return {"accuracy": float(accuracy_score(labels, predicted)), "macro_f1": float(f1_score(labels, predicted, average="macro"))}


@dataclass(frozen=True)
class SparseFeatures:
    """One task's sparse scores: out of fold on train, the full model's on test, and what each cost."""

    train: np.ndarray
    test: np.ndarray
    temperature: float
    out_of_fold_seconds: float
    fit_seconds: float
    score_seconds: float


def sparse_features(texts: list[str], labels: np.ndarray, train: np.ndarray, test: np.ndarray, num_classes: int) -> SparseFeatures:
    """What train_sparse computes: 5-fold out-of-fold scores, the temperature, then the model on all train rows scoring test."""
    params = SparseParams()
    train_texts, test_texts = [texts[i] for i in train], [texts[i] for i in test]
    oof, oof_seconds = timed(out_of_fold_scores, train_texts, labels[train], None, num_classes, params, SEED)
    temperature = fit_temperature(oof, labels[train])
    model, fit_seconds = timed(fit_sparse, train_texts, labels[train], num_classes, params, temperature)
    test_scores, score_seconds = timed(model.scores, test_texts)
    return SparseFeatures(oof, test_scores, temperature, oof_seconds, fit_seconds, score_seconds)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k highest scores of each row, highest first, and their class indices."""
    classes = np.argsort(-scores, axis=1)[:, :k]
    return np.take_along_axis(scores, classes, axis=1), classes


def top_k_block(scores: np.ndarray, k: int) -> tuple[np.ndarray, list[str]]:
    """Rank-ordered top-k scores, then their class ids as categorical features: without the ids a score says not whose it is."""
    values, classes = top_k(scores, k)
    return np.hstack([values, classes.astype(np.float32)]), ["q"] * k + ["c"] * k


class RoundClock(xgb.callback.TrainingCallback):
    """Seconds of each boosting round: checks that the cost per round stays flat, so extrapolating by rounds holds."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.last = time.perf_counter()

    def after_iteration(self, model, epoch, evals_log) -> bool:
        now = time.perf_counter()
        self.seconds.append(now - self.last)
        self.last = now
        return False


def boost(
    train: np.ndarray, labels: np.ndarray, test: np.ndarray, feature_types: list[str], num_classes: int, rounds: int, threads: int
) -> dict:
    """The pipeline's booster (depth 4, eta 0.1) for `rounds` rounds: test probabilities, seconds, and per-round seconds.

    Each round adds one tree per class, so after the first round (which also builds the histogram cuts)
    training time is linear in rounds; the per-round clock checks it. `summary` extrapolates from it.
    """
    params = {**booster_params(num_classes, TrainXgbParams()), "nthread": threads}
    matrix = xgb.DMatrix(train, label=labels, feature_types=feature_types, enable_categorical=True)
    clock = RoundClock()
    booster, train_seconds = timed(xgb.train, params, matrix, num_boost_round=rounds, callbacks=[clock])
    test_matrix = xgb.DMatrix(test, feature_types=feature_types, enable_categorical=True)
    probabilities, score_seconds = timed(booster.predict, test_matrix)
    return {
        "probabilities": probabilities.reshape(len(test), -1),
        "train_seconds": train_seconds,
        "score_seconds": score_seconds,
        "rounds": rounds,
        "train_seconds_per_round": train_seconds / rounds,
        "round_seconds_first_last": [clock.seconds[0], clock.seconds[-1]],
    }


def logistic(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> dict:
    """Multinomial logistic regression on standardised features: one weight row per class, cost linear in classes."""

    def fit():
        scaler = StandardScaler().fit(train)
        return scaler, LogisticRegression(C=1.0, max_iter=300).fit(scaler.transform(train), labels)

    (scaler, model), train_seconds = timed(fit)
    probabilities, score_seconds = timed(lambda: model.predict_proba(scaler.transform(test)))
    return {"probabilities": probabilities, "train_seconds": train_seconds, "score_seconds": score_seconds}


def softmax_offset(
    train: np.ndarray,
    train_scores: np.ndarray,
    labels: np.ndarray,
    test: np.ndarray,
    test_scores: np.ndarray,
    threads: int,
    max_epochs: int = 10,
) -> dict:
    """logits = standardised embedding @ W + b + a * calibrated sparse scores (a: one scale per class), trained with AdamW.

    Unlike a logistic regression on the joined columns, the score of class c feeds class c's logit
    only: the head starts (W = 0, a = 1) as the calibrated sparse model and learns what the embedding
    adds. The epoch is chosen on a seeded tenth of the train rows; nothing here reads the test labels.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    fit_rows, held_rows = train_test_split(np.arange(len(labels)), test_size=0.1, stratify=labels, random_state=SEED)
    scaler = StandardScaler().fit(train)
    features, scores = torch.from_numpy(scaler.transform(train).astype(np.float32)), torch.from_numpy(train_scores)
    targets = torch.from_numpy(labels).long()
    linear = torch.nn.Linear(train.shape[1], train_scores.shape[1])
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    scale = torch.nn.Parameter(torch.ones(train_scores.shape[1]))
    optimizer = torch.optim.AdamW([*linear.parameters(), scale], lr=1e-3, weight_decay=1e-2)

    def logits(x, s):
        return linear(x) + scale * s

    def fit():
        best = (-1.0, None)
        fit_index = torch.from_numpy(fit_rows)
        for _ in range(max_epochs):
            for batch in fit_index[torch.randperm(len(fit_index))].split(256):
                loss = torch.nn.functional.cross_entropy(logits(features[batch], scores[batch]), targets[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                held = float((logits(features[held_rows], scores[held_rows]).argmax(1) == targets[held_rows]).float().mean())
            if held > best[0]:
                best = (held, {key: value.clone() for key, value in [*linear.state_dict().items(), ("scale", scale.detach())]})
        return best[1]

    state, train_seconds = timed(fit)

    def score():
        with torch.no_grad():
            x = torch.from_numpy(scaler.transform(test).astype(np.float32))
            return torch.softmax(x @ state["weight"].T + state["bias"] + state["scale"] * torch.from_numpy(test_scores), dim=1).numpy()

    probabilities, score_seconds = timed(score)
    return {"probabilities": probabilities, "train_seconds": train_seconds, "score_seconds": score_seconds}


def hierarchical(train: np.ndarray, test: np.ndarray, path_labels: np.ndarray, parent_of: np.ndarray, fit_head, num_paths: int) -> dict:
    """P(path) = P(parent) x P(child | parent): one head over parents, one per parent over its own children.

    Each child head sees only its parent's rows and classes, so the work summed over parents is far
    below one head over all paths. A parent with one child needs no head.
    """
    parent_labels = parent_of[path_labels]
    parent = fit_head(train, parent_labels, test, len(np.unique(parent_of)))
    probabilities = np.zeros((len(test), num_paths), dtype=np.float32)
    train_seconds, score_seconds = parent["train_seconds"], parent["score_seconds"]
    for parent_class in np.unique(parent_of):
        children = np.flatnonzero(parent_of == parent_class)
        weight = parent["probabilities"][:, parent_class]
        if len(children) == 1:
            probabilities[:, children[0]] = weight
            continue
        rows = parent_labels == parent_class
        local = np.searchsorted(children, path_labels[rows])
        child = fit_head(train[rows], local, test, len(children))
        probabilities[:, children] = weight[:, None] * child["probabilities"]
        train_seconds += child["train_seconds"]
        score_seconds += child["score_seconds"]
    return {"probabilities": probabilities, "train_seconds": train_seconds, "score_seconds": score_seconds}


def task_heads(
    embedding: np.ndarray, sparse: SparseFeatures, labels: np.ndarray, split, num_classes: int, rounds: int, threads: int, k: int
):
    """Each head's run on one task, by name: a dict with probabilities and seconds."""
    train, test = split
    y = labels[train]
    emb_train, emb_test = embedding[train], embedding[test]
    hybrid_train, hybrid_test = np.hstack([emb_train, sparse.train]), np.hstack([emb_test, sparse.test])
    dense = ["q"] * embedding.shape[1]

    def boosted(train_block, test_block, types):
        return boost(train_block, y, test_block, types, num_classes, rounds, threads)

    (train_top, top_types), (test_top, _) = (top_k_block(scores, k) for scores in (sparse.train, sparse.test))

    yield (
        "sparse",
        {
            "probabilities": softmax(sparse.temperature * sparse.test, axis=1),
            "train_seconds": sparse.fit_seconds,
            "score_seconds": sparse.score_seconds,
        },
    )
    yield "xgb_embedding", boosted(emb_train, emb_test, dense)
    yield "xgb_hybrid_all", boosted(hybrid_train, hybrid_test, dense + ["q"] * num_classes)
    yield f"xgb_hybrid_top{k}_ids", boosted(np.hstack([emb_train, train_top]), np.hstack([emb_test, test_top]), dense + top_types)
    yield "logistic_hybrid", logistic(hybrid_train, y, hybrid_test)
    yield (
        "softmax_offset",
        softmax_offset(emb_train, sparse.temperature * sparse.train, y, emb_test, sparse.temperature * sparse.test, threads),
    )


def hierarchical_heads(embedding, sparse: SparseFeatures, labels, parent_of, split, rounds, threads):
    """The path task as department, then aisle within it, on the hybrid features (embedding + all path scores)."""
    train, test = split
    hybrid_train, hybrid_test = np.hstack([embedding[train], sparse.train]), np.hstack([embedding[test], sparse.test])
    types = ["q"] * hybrid_train.shape[1]

    def boosted(rows, y, test_block, num_classes):
        return boost(rows, y, test_block, types, num_classes, rounds, threads)

    def linear(rows, y, test_block, num_classes):
        return logistic(rows, y, test_block)

    num_paths = len(parent_of)
    yield "hier_xgb_hybrid", hierarchical(hybrid_train, hybrid_test, labels[train], parent_of, boosted, num_paths)
    yield "hier_logistic_hybrid", hierarchical(hybrid_train, hybrid_test, labels[train], parent_of, linear, num_paths)


def summary(name: str, run: dict, labels: np.ndarray, sparse: SparseFeatures, pipeline_rounds: int) -> dict:
    """A head's figures; boosted heads also at `pipeline_rounds` (extrapolated: first round + the last round's time for each
    further one; scoring in proportion to trees); `with_sparse_*`: plus the sparse scores they read."""
    rows = len(labels)
    row = {
        "head": name,
        **scores_of(labels, run["probabilities"]),
        "train_seconds": run["train_seconds"],
        "score_seconds": run["score_seconds"],
    }
    row["score_rows_per_second"] = rows / run["score_seconds"]
    if "rounds" in run:
        first, last = run["round_seconds_first_last"]
        row |= {
            "rounds": run["rounds"],
            "train_seconds_per_round": run["train_seconds_per_round"],
            "round_seconds_first_last": run["round_seconds_first_last"],
            f"train_seconds_at_{pipeline_rounds}_extrapolated": first + (pipeline_rounds - 1) * last,
            f"score_seconds_at_{pipeline_rounds}_extrapolated": run["score_seconds"] * pipeline_rounds / run["rounds"],
        }
    if name not in {"sparse", "xgb_embedding"}:
        row["with_sparse_train_seconds"] = row["train_seconds"] + sparse.out_of_fold_seconds + sparse.fit_seconds
        row["with_sparse_score_seconds"] = row["score_seconds"] + sparse.score_seconds
    return row


def run_task(name, embedding, texts, labels, split, num_classes, args, parent_of=None) -> dict:
    train, test = split
    sparse = sparse_features(texts, labels, train, test, num_classes)
    print(
        f"[{name}] {num_classes} classes: sparse out-of-fold {sparse.out_of_fold_seconds:.1f} s, fit {sparse.fit_seconds:.1f} s", flush=True
    )
    runs = task_heads(embedding, sparse, labels, split, num_classes, args.rounds, args.threads, args.k)
    if parent_of is not None:
        runs = [*runs, *hierarchical_heads(embedding, sparse, labels, parent_of, split, args.rounds, args.threads)]
    heads = []
    for head, run in runs:
        heads.append(summary(head, run, labels[test], sparse, args.pipeline_rounds))
        print(f"[{name}] {json.dumps(heads[-1])}", flush=True)
    return {
        "classes": num_classes,
        "sparse_out_of_fold_seconds": sparse.out_of_fold_seconds,
        "sparse_fit_seconds": sparse.fit_seconds,
        "sparse_score_seconds": sparse.score_seconds,
        "heads": heads,
    }


def ratios(small: dict, large: dict) -> dict:
    """Per head, large-task seconds over small-task seconds (same rows, same run)."""
    by_name = {row["head"]: row for row in small["heads"]}
    return {
        row["head"]: {key: row[key] / by_name[row["head"]][key] for key in ("train_seconds", "score_seconds")}
        for row in large["heads"]
        if row["head"] in by_name
    }


def table(report: dict) -> str:
    """The markdown table of docs/BENCHMARKS_HEADS.md: per head, both tasks side by side, and the ratio."""
    small, large = (report["tasks"][task] for task in ("department", "path"))
    by_name = {row["head"]: row for row in small["heads"]}
    lines = [
        f"| head | {small['classes']} cl. train s | score s (rows/s) | acc | macro-F1 "
        f"| {large['classes']} cl. train s | score s (rows/s) | acc | macro-F1 | train ratio | score ratio |",
        "|---|" + "---:|" * 10,
    ]

    def cells(row: dict | None) -> str:
        if row is None:
            return "| n/a | n/a | n/a | n/a "
        return (
            f"| {row['train_seconds']:.1f} | {row['score_seconds']:.3f} ({row['score_rows_per_second']:,.0f}) "
            f"| {row['accuracy']:.4f} | {row['macro_f1']:.4f} "
        )

    for row in large["heads"]:
        other = by_name.get(row["head"])
        ratio = report["ratio_path_over_department"].get(row["head"])
        ratio_cells = f"| {ratio['train_seconds']:.1f}x | {ratio['score_seconds']:.1f}x |" if ratio else "| n/a | n/a |"
        lines.append(f"| {row['head']} {cells(other)}{cells(row)}{ratio_cells}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=Path("../shared/data/instacart_products.csv"))
    parser.add_argument("--embeddings", type=Path, default=Path(".bench/instacart_emb.npy"))
    parser.add_argument("--min-class-rows", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=60, help="boosting rounds measured (the pipeline trains 300)")
    parser.add_argument("--pipeline-rounds", type=int, default=TrainXgbParams().num_boost_round)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=5, help="sparse scores kept by the top-k hybrids")
    parser.add_argument("--output", type=Path, default=Path(".bench/heads.json"))
    args = parser.parse_args()

    frame = labelled_rows(args.catalog, args.min_class_rows)
    texts = frame["product_name"].tolist()
    split = split_rows(frame)
    embedding, embed_seconds = embeddings(texts, args.embeddings)
    departments, _ = class_codes(frame["department"])
    paths, path_names = class_codes(frame["category"])
    department_names = sorted(frame["department"].unique())
    parent_of = np.array([department_names.index(path.split(" | ")[0]) for path in path_names])
    print(f"{len(frame)} rows ({len(split[0])} train, {len(split[1])} test); embeddings {embed_seconds:.1f} s (0: cached)", flush=True)

    small = run_task("department", embedding, texts, departments, split, len(department_names), args)
    large = run_task("path", embedding, texts, paths, split, len(path_names), args, parent_of)
    report = {
        "rows": len(frame),
        "train_rows": len(split[0]),
        "test_rows": len(split[1]),
        "embed_seconds": embed_seconds,
        "settings": {key: str(value) for key, value in vars(args).items()},
        "tasks": {"department": small, "path": large},
        "ratio_path_over_department": ratios(small, large),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(table(report))


if __name__ == "__main__":
    main()
