"""Corrections: a person's decisions on reviewed rows, applied by `preprocess` to the next data version.

`data/corrections.csv` has two columns: `id` (the catalog's id column) and `label`, the corrected
label as a label path at the catalog's level ("A | B", as labels.json spells it) or `exclude` to drop
the row. A label may also be given to a catalog row that has none (e.g. a new product appended from a
batch's review queue). The file is small, hand-edited and reviewed line by line, so it lives in git;
`dvc.yaml` lists it as a dependency of preprocess, so a change reruns the pipeline.
New products labelled from a batch's review queue enter the same way (prodcat/data/new_products.py).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from prodcat.core.errors import InputError
from prodcat.core.io import atomic_file

CORRECTION_COLUMNS = ["id", "label"]
EXCLUDE = "exclude"  # the label that drops the row from every split


def read_corrections(path: str | Path) -> pd.DataFrame:
    """The corrections file (id, label), read as strings; a missing column, a blank cell or an id given twice stops the run."""
    if not Path(path).is_file():
        raise InputError(f"corrections file not found: {path} (an empty one holds just the header `id,label`)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    if missing := [column for column in CORRECTION_COLUMNS if column not in frame]:
        raise InputError(f"{path}: missing column(s) {missing}; expected {CORRECTION_COLUMNS}")
    frame = frame[CORRECTION_COLUMNS].apply(lambda column: column.str.strip())
    for row, values in frame.iterrows():
        if not values["id"] or not values["label"]:
            raise InputError(f"{path} line {row + 2}: blank id or label ({dict(values)})")
    if (twice := frame["id"].duplicated(keep="first")).any():
        row = int(twice.to_numpy().argmax())
        raise InputError(f"{path} line {row + 2}: id {frame['id'].iloc[row]!r} is corrected twice")
    return frame


def apply_corrections(ids: pd.Series, labels: pd.Series, corrections: pd.DataFrame, source: str) -> tuple[pd.Series, pd.Series]:
    """(labels with the corrections applied, which rows to keep): a row corrected to `exclude` is dropped.

    An id not in the catalog, or a label that is no class of the catalog (after back-off and the
    rare-class rule), stops the run and names the file's line: a typo must not silently train.
    """
    classes = set(labels.dropna())
    known = set(ids)
    for row, (identifier, label) in enumerate(corrections[CORRECTION_COLUMNS].itertuples(index=False, name=None)):
        if identifier not in known:
            raise InputError(f"{source} line {row + 2}: id {identifier!r} is not in the catalog")
        if label != EXCLUDE and label not in classes:
            raise InputError(
                f"{source} line {row + 2} (id {identifier!r}): label {label!r} is not a class of the catalog; "
                f"expected `{EXCLUDE}` or one of {sorted(classes)[:10]}{' ...' if len(classes) > 10 else ''}"
            )
    decided = ids.map(dict(zip(corrections["id"], corrections["label"], strict=True)))
    keep = decided.ne(EXCLUDE)
    return labels.where(decided.isna() | ~keep, decided), keep


def corrected_splits(splits: dict[str, pd.DataFrame], corrected: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The splits drawn from the catalog as labelled, holding the corrected rows: a correction moves no other row between splits.

    The split is stratified by label, so drawing it again from corrected labels would reshuffle
    rows and `dvc metrics diff` would compare test scores on different rows. A row corrected to
    `exclude` (absent from `corrected`) is dropped from its split; a row that only the corrections
    label (a new product) joins train.
    """
    by_id = corrected.set_index("id", drop=False)
    placed = set().union(*(set(frame["id"]) for frame in splits.values()))
    result = {}
    for name, frame in splits.items():
        rows = by_id.loc[frame["id"][frame["id"].isin(by_id.index)]]
        if name == "train":
            rows = pd.concat([rows, corrected[~corrected["id"].isin(placed)]])
        result[name] = rows.reset_index(drop=True)
    return result


def add_corrections(path: str | Path, decided: pd.DataFrame, source: str) -> tuple[int, int]:
    """Append the decided corrections (id, label) to the corrections file; (appended, already in the file).

    The file's lines stay byte for byte (its history is read line by line in review). An id the file
    already corrects to another label stops with both places named and nothing written.
    """
    existing = read_corrections(path)
    lines = {identifier: (label, row + 2) for row, (identifier, label) in enumerate(existing.itertuples(index=False, name=None))}
    new = []
    for identifier, label in decided[CORRECTION_COLUMNS].itertuples(index=False, name=None):
        if identifier not in lines:
            new.append((identifier, label))
        elif (earlier := lines[identifier])[0] != label:
            raise InputError(
                f"{source}: id {identifier!r} is decided {label!r}, but {path} line {earlier[1]} corrects it to {earlier[0]!r}; edit one of them"
            )
    if new:
        text = Path(path).read_text(encoding="utf-8")
        rows = io.StringIO()
        csv.writer(rows, lineterminator="\n").writerows(new)
        with atomic_file(path) as scratch:
            scratch.write_text(text + ("" if text.endswith("\n") else "\n") + rows.getvalue(), encoding="utf-8")
    return len(new), len(decided) - len(new)
