from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from devtools.scratch_repo import write_params, write_paths
from prodcat.core.errors import InputError
from prodcat.core.params import CatalogParams
from prodcat.data.catalog import Corrections, make_examples
from prodcat.data.corrections import read_corrections
from stages import preprocess as preprocess_stage

CATALOG = CatalogParams(path="c.csv", id_column="id", category_column="cat", text_columns=["name"], min_class_count=2)


def catalog() -> pd.DataFrame:
    cats = ["A"] * 4 + ["B"] * 4 + [None]
    return pd.DataFrame({"id": [f"id{i}" for i in range(len(cats))], "cat": cats, "name": [f"product {i}" for i in range(len(cats))]})


def corrections(tmp_path: Path, lines: list[str]) -> Corrections:
    path = tmp_path / "corrections.csv"
    path.write_text("\n".join(["id,label", *lines]) + "\n", encoding="utf-8")
    return Corrections(read_corrections(path), str(path))


def test_a_correction_relabels_labels_an_unlabelled_row_and_exclude_drops_the_row(tmp_path: Path) -> None:
    examples = make_examples(catalog(), CATALOG, corrections(tmp_path, ["id1,B", " id5 , exclude", "id8,A"]))
    labels = dict(zip(examples.frame["id"], examples.frame["label"], strict=True))
    assert labels == {"id0": "A", "id1": "B", "id2": "A", "id3": "A", "id4": "B", "id6": "B", "id7": "B", "id8": "A"}
    assert examples.unlabelled.empty  # id8 had no category: now labelled, no longer unlabelled
    assert examples.report["rows_corrected"] == 2 and examples.report["rows_excluded"] == 1 and examples.report["rows_out"] == 8


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["id1,B", "id99,A"], "corrections.csv line 3: id 'id99' is not in the catalog"),
        (["id1,C"], "corrections.csv line 2 (id 'id1'): label 'C' is not a class of the catalog; expected `exclude` or one of ['A', 'B']"),
        (["id1,B", "id1,A"], "corrections.csv line 3: id 'id1' is corrected twice"),
        (["id1,"], "corrections.csv line 2: blank id or label"),
    ],
)
def test_a_bad_correction_names_its_line(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        make_examples(catalog(), CATALOG, corrections(tmp_path, lines))


def test_preprocess_stops_on_a_bad_correction_and_writes_nothing(tmp_path: Path, small_catalog: Path, capsys) -> None:
    first_id = pd.read_csv(small_catalog, dtype=str)["Uniq Id"].iloc[0]
    fixes = tmp_path / "corrections.csv"
    fixes.write_text(f"id,label\n{first_id},Toys & Games\n{first_id[:-1]}x,exclude\n", encoding="utf-8")
    params = write_params(tmp_path / "run", small_catalog, preprocess={"corrections": str(fixes)})
    paths = write_paths(tmp_path / "run", processed=tmp_path / "processed", preprocess_report=tmp_path / "report.json")
    with pytest.raises(SystemExit):
        preprocess_stage.main(["--params", str(params), "--paths", str(paths)])
    assert f"preprocess: error: {fixes} line 3: id '{first_id[:-1]}x' is not in the catalog" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrections.csv", "run"]  # no split, no report, no scratch folder

    def splits(lines: str) -> dict[str, pd.DataFrame]:
        fixes.write_text(f"id,label\n{lines}", encoding="utf-8")
        preprocess_stage.main(["--params", str(params), "--paths", str(paths)])
        return {
            split: pd.read_parquet(tmp_path / "processed" / f"{split}.parquet").set_index("id") for split in ("train", "validation", "test")
        }

    before = splits("")
    relabelled = before["train"].index[before["train"]["label"] != "Toys & Games"][0]
    after = splits(f"{first_id},exclude\n{relabelled},Toys & Games\n")
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["rows_excluded"], report["rows_corrected"]) == (1, 1)
    assert after["train"].loc[relabelled, "label"] == "Toys & Games"
    for split, rows in before.items():  # a correction moves no other row between splits: test scores stay comparable
        assert after[split].index.tolist() == [i for i in rows.index if i != first_id]
