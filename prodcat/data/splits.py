"""The train / validation / test splits: how preprocess cuts them, and how every later stage reads them back.

Apart from `catalog.py` on purpose: the stages that only read a split do not depend on how a raw
catalog is parsed, so editing the price parser reruns preprocess, not fine-tuning.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from prodcat.core.errors import InputError
from prodcat.core.params import PreprocessParams

SPLITS = ("train", "validation", "test")  # what preprocess writes; only evaluate reads test labels
UNLABELLED = "unlabelled"  # preprocess also writes unlabelled.parquet: texts of rows without a category, for the adapt stage


def split_off(frame: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, held out): a stratified `share` of the rows; with a group column, whole groups go to one side."""
    if "group" in frame:
        folds = max(2, round(1 / share))
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        rest_index, held_index = next(splitter.split(frame, frame["label"], groups=frame["group"]))
        return frame.iloc[rest_index].reset_index(drop=True), frame.iloc[held_index].reset_index(drop=True)
    rest, held = train_test_split(frame, test_size=share, random_state=seed, stratify=frame["label"])
    return rest.reset_index(drop=True), held.reset_index(drop=True)


def split_examples(frame: pd.DataFrame, split: PreprocessParams) -> dict[str, pd.DataFrame]:
    """train / validation / test: test first, then validation out of the rest (no near-duplicate leakage when grouped).

    Models train on `train`; the validation split chooses the champion and fusion weights; the test
    split is only ever reported.
    """
    rest, test = split_off(frame, split.test_size, split.seed)
    train, validation = split_off(rest, split.validation_size, split.seed)
    return {"train": train, "validation": validation, "test": test}


def adaptation_rows(unlabelled: pd.DataFrame, held_out: list[pd.DataFrame]) -> pd.DataFrame:
    """The unlabelled rows the adapt stage may read: non-blank texts, each once, none equal to a text of a `held_out` split.

    Unlabelled rows are in no split, but a catalog can hold the same text twice: a copy of a test
    product's text without its category must not let the encoder see that text before it is scored.
    """
    held_texts = set().union(*(set(frame["text"]) for frame in held_out))
    keep = unlabelled["text"].str.strip().astype(bool) & ~unlabelled["text"].isin(held_texts)
    return unlabelled[keep].drop_duplicates("text").reset_index(drop=True)


def label_names(labels: pd.Series) -> list[str]:
    """The label map: class index = position in this sorted list."""
    return sorted(labels.unique())


def label_ids(labels: pd.Series, names: list[str]) -> np.ndarray:
    """Class indices of `labels` under the label map `names`."""
    return labels.map({name: index for index, name in enumerate(names)}).to_numpy(dtype=np.int64)


def read_split(folder: str | Path, split: str, columns: list[str] | None = None) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """One split written by preprocess, the label map, and the split's class indices."""
    if not Path(folder, f"{split}.parquet").is_file():
        raise InputError(f"no {split} split in {folder}: run the preprocess stage first")
    frame = pd.read_parquet(Path(folder, f"{split}.parquet"), columns=columns)
    names = json.loads(Path(folder, "labels.json").read_text(encoding="utf-8"))
    return frame, names, label_ids(frame["label"], names)
