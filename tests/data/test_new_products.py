from __future__ import annotations

from pathlib import Path

import pandas as pd

from devtools.scratch_repo import write_params
from prodcat.core.params import load_params
from prodcat.data.catalog import Corrections, make_examples, read_catalog
from prodcat.data.corrections import read_corrections
from prodcat.data.new_products import append_new_products


def test_labelled_new_products_are_appended_once_and_take_their_label_from_the_corrections(tmp_path: Path, small_catalog: Path) -> None:
    catalog = pd.read_csv(small_catalog, dtype=str, keep_default_na=False)
    catalog.head(300).to_csv(tmp_path / "catalog.csv", index=False)
    batch = catalog.iloc[298:303].drop(columns=["Category"])  # two rows the catalog holds, three new
    batch.to_csv(tmp_path / "new.csv", index=False)
    ids = batch["Uniq Id"].tolist()
    (tmp_path / "corrections.csv").write_text(
        f"id,label\n{ids[0]},exclude\n{ids[2]},Toys & Games\n{ids[4]},Home & Kitchen\n", encoding="utf-8"
    )
    params = write_params(tmp_path / "run", tmp_path / "catalog.csv", preprocess={"corrections": str(tmp_path / "corrections.csv")})
    assert append_new_products(params, tmp_path / "new.csv") == (2, str(tmp_path / "catalog.csv"))
    assert append_new_products(params, tmp_path / "new.csv") == (0, str(tmp_path / "catalog.csv"))  # a second run appends nothing more
    grown = read_catalog(tmp_path / "catalog.csv")
    assert len(grown) == 302 and grown["Uniq Id"].tolist()[-2:] == [ids[2], ids[4]] and grown["Category"].tail(2).isna().all()
    examples = make_examples(grown, load_params(params).catalog, Corrections(read_corrections(tmp_path / "corrections.csv"), "c"))
    labels = examples.frame.set_index("id")["label"]
    assert labels[ids[2]] == "Toys & Games" and labels[ids[4]] == "Home & Kitchen" and ids[0] not in labels
