"""The audit's goals on real catalogs: does it find injected label noise, does fixing it pay, what does it flag on real labels?

    python -m benchmarks.audit [--pricerunner ../shared/data/pricerunner_aggregate.csv] [--amazon ../shared/data/amazon2020_first1000.csv]
                               [--noise 0.05] [--top 20] [--output .bench/audit.json]

Injected noise (PriceRunner, its profile, the pipeline's grouped split with base.seed): a seeded
`--noise` share of train labels is flipped to a plausible neighbouring class, drawn from the clean
sparse model's out-of-fold confusion (row-normalised off-diagonal counts of the true class). The audit
(prodcat/data/audit.py `label_errors`, cleanlab on the noisy train's out-of-fold probabilities) flags
rows at its own cut-off; printed: its precision and recall against the flipped rows, and the sparse
model's test accuracy fitted on clean, noisy, and noisy train with the flagged rows set to the
suggested label, or with them left out (the share of the lost accuracy that comes back).

Real labels (PriceRunner, the Amazon sample): the full audit of the pipeline's splits as the audit
stage runs it; prints the `--top` suspected label errors (id, text cut, given, suggested, score).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from prodcat.core.params import CatalogParams, load_params
from prodcat.data.audit import audit, label_errors
from prodcat.data.catalog import make_examples, read_catalog
from prodcat.data.splits import label_ids, label_names, split_examples
from prodcat.heads.sparse import fit_sparse, fit_temperature, out_of_fold_scores, probabilities

SHARED = Path("../shared/data")


def catalog_params(profile: str, path: Path) -> CatalogParams:
    """params.yaml's catalog section with a shipped profile's columns and `path`, as `prodcat.data.profiles` would write it."""
    params = load_params()
    columns = yaml.safe_load(Path("profiles", f"{profile}.yaml").read_text(encoding="utf-8"))["catalog"]
    kept = {key: value for key, value in params.catalog.model_dump().items() if key not in CatalogParams.model_fields or key not in columns}
    return CatalogParams.model_validate({**kept, **columns, "path": str(path)})


def splits_of(profile: str, path: Path) -> dict[str, pd.DataFrame]:
    """The pipeline's train / validation / test rows of a catalog under its profile."""
    params = load_params()
    examples = make_examples(read_catalog(path), catalog_params(profile, path))
    return split_examples(examples.frame, params.preprocess)


def sparse_probabilities(train: pd.DataFrame, held: dict[str, pd.DataFrame], names: list[str]) -> dict[str, np.ndarray]:
    """As train_sparse + audit: out-of-fold calibrated probabilities on train, the train-fitted model's on the held-out frames."""
    params = load_params()
    labels = label_ids(train["label"], names)
    groups = train["group"].to_numpy() if "group" in train else None
    texts = train["text"].tolist()
    oof = out_of_fold_scores(texts, labels, groups, len(names), params.train_sparse, params.base.seed)
    temperature = fit_temperature(oof, labels)
    model = fit_sparse(texts, labels, len(names), params.train_sparse, temperature)
    scored = {name: probabilities(model.scores(frame["text"].tolist()), temperature) for name, frame in held.items()}
    return {"train": probabilities(oof, temperature), **scored}


def test_accuracy(train: pd.DataFrame, test: pd.DataFrame, names: list[str]) -> float:
    params = load_params()
    model = fit_sparse(train["text"].tolist(), label_ids(train["label"], names), len(names), params.train_sparse)
    return float((model.scores(test["text"].tolist()).argmax(axis=1) == label_ids(test["label"], names)).mean())


def flip_labels(train: pd.DataFrame, clean_oof: np.ndarray, names: list[str], share: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """(train with `share` of its labels flipped, the flipped row positions): each flip drawn from the true class's confusion."""
    rng = np.random.default_rng(seed)
    truth = label_ids(train["label"], names)
    confusion = np.zeros((len(names), len(names)))
    np.add.at(confusion, (truth, clean_oof.argmax(axis=1)), 1)
    np.fill_diagonal(confusion, 0)
    confusion += (confusion.sum(axis=1, keepdims=True) == 0) * (1 - np.eye(len(names)))  # never confused: any other class
    flipped = np.sort(rng.choice(len(train), size=round(share * len(train)), replace=False))
    new = [rng.choice(len(names), p=confusion[truth[row]] / confusion[truth[row]].sum()) for row in flipped]
    labels = train["label"].to_numpy().copy()
    labels[flipped] = np.asarray(names)[new]
    return train.assign(label=labels), flipped


def injected_noise(path: Path, share: float) -> dict:
    started = time.perf_counter()
    splits = splits_of("pricerunner", path)
    train, test = splits["train"], splits["test"]
    names = label_names(train["label"])
    params = load_params()
    clean = sparse_probabilities(train, {}, names)["train"]
    noisy, flipped = flip_labels(train, clean, names, share, params.base.seed)
    found = label_errors(noisy, sparse_probabilities(noisy, {}, names)["train"], names, "train")
    flagged = set(found["id"])
    truly = set(noisy["id"].to_numpy()[flipped])
    corrected = noisy.assign(label=noisy["id"].map(dict(zip(found["id"], found["suggested_label"], strict=True))).fillna(noisy["label"]))
    excluded = noisy[~noisy["id"].isin(flagged)]
    variants = {"clean": train, "noisy": noisy, "corrected": corrected, "flagged_excluded": excluded}
    accuracy = {name: test_accuracy(frame, test, names) for name, frame in variants.items()}
    original = train.set_index("id")["label"]
    hits = found[found["id"].isin(truly)]
    lost = accuracy["clean"] - accuracy["noisy"]
    return {
        "catalog": str(path),
        "train_rows": len(train),
        "test_rows": len(test),
        "flipped": len(truly),
        "flagged": len(flagged),
        "precision": round(len(flagged & truly) / max(len(flagged), 1), 4),
        "recall": round(len(flagged & truly) / len(truly), 4),
        "flipped_found_with_original_label_suggested": round(float((hits["suggested_label"] == hits["id"].map(original)).mean()), 4),
        "test_accuracy": {name: round(value, 4) for name, value in accuracy.items()},
        "recovered_share_of_lost_accuracy": {
            name: round((accuracy[name] - accuracy["noisy"]) / lost, 4) if lost > 0 else None for name in ("corrected", "flagged_excluded")
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def real_suspects(profile: str, path: Path, top: int) -> dict:
    """The audit stage's findings on a catalog's real labels: counts per issue, the `top` suspected label errors."""
    params = load_params()
    splits = splits_of(profile, path)
    names = label_names(splits["train"]["label"])
    scored = sparse_probabilities(splits["train"], {"validation": splits["validation"], "test": splits["test"]}, names)
    findings = audit(splits, scored, names, params.audit)
    errors = findings[findings["issue"] == "label_error"].head(top)
    return {
        "catalog": str(path),
        "rows": {name: len(frame) for name, frame in splits.items()},
        "issues": findings.groupby(["split", "issue"]).size().unstack(fill_value=0).to_dict(orient="index"),
        "suspects": errors.assign(text=errors["text"].str.slice(0, 90)).drop(columns="issue").to_dict(orient="records"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pricerunner", type=Path, default=SHARED / "pricerunner_aggregate.csv")
    parser.add_argument("--amazon", type=Path, default=SHARED / "amazon2020_first1000.csv")
    parser.add_argument("--noise", type=float, default=0.05, help="share of PriceRunner's train labels flipped (default: 0.05)")
    parser.add_argument("--top", type=int, default=20, help="suspects printed per real catalog (default: 20)")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    report = {"injected_noise": injected_noise(args.pricerunner, args.noise)}
    print(json.dumps(report["injected_noise"], indent=1), flush=True)
    for name, profile, path in (("pricerunner", "pricerunner", args.pricerunner), ("amazon", "amazon2020", args.amazon)):
        report[name] = real_suspects(profile, path, args.top)
        print(f"\n{name}: {report[name]['rows']} rows; findings per split {report[name]['issues']}")
        print(pd.DataFrame(report[name]["suspects"]).to_string(index=False, max_colwidth=90))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
