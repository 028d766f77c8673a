"""`prodcat review` (a reviewed queue into the corrections file) and `prodcat new-products`, and their refusals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from devtools.scratch_repo import write_params
from prodcat.cli import app
from prodcat.data.catalog import read_catalog
from prodcat.data.corrections import read_corrections

EXISTING = "id,label\na1,exclude\n"  # a hand-edited file: its bytes must stay


def reviewed_queue(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    """A review queue (the audit's columns) with the reviewer's `decision` column: (id, issue, given, suggested, decision)."""
    frame = pd.DataFrame(rows, columns=["id", "issue", "given_label", "suggested_label", "decision"])
    frame = frame.assign(score=0.5, split="train", text="a product")
    frame[["id", "issue", "given_label", "suggested_label", "score", "split", "text", "decision"]].to_csv(path, index=False)
    return path


@pytest.fixture()
def params(tmp_path: Path, small_catalog: Path) -> Path:
    (tmp_path / "corrections.csv").write_text(EXISTING, encoding="utf-8")
    return write_params(tmp_path / "run", small_catalog, preprocess={"corrections": str(tmp_path / "corrections.csv")})


def review(runner: CliRunner, queue: Path, params: Path):
    return runner.invoke(app, ["review", str(queue), "--params", str(params)], prog_name="prodcat")


def test_decisions_become_corrections_appended_once(runner: CliRunner, params: Path, tmp_path: Path) -> None:
    queue = reviewed_queue(
        tmp_path / "queue.csv",
        [
            ("b1", "label_error", "Toys", "Games", "accept"),  # the suggestion
            ("b2", "label_error", "Toys", "Games", "keep"),  # the given label stands: nothing to correct
            ("b3", "near_duplicate", "Books", "Toys", "Games"),  # another label, typed out
            ("b3", "outlier", "Books", "", "Games"),  # the same row decided again, the same way
            ("b4", "outlier", "Books", "", "exclude"),
            ("b5", "label_error", "Toys", "Books", ""),  # not reviewed yet
            ("b6", "low_confidence", "", "Games", "accept"),  # a new product from a batch's queue
            ("a1", "label_error", "Toys", "Games", "exclude"),  # already in the file, decided the same
        ],
    )
    result = review(runner, queue, params)
    assert result.exit_code == 0, result.output
    assert (
        result.stdout
        == f"prodcat review: 4 corrections added to {tmp_path / 'corrections.csv'} (1 already there, 1 rows not decided yet)\n"
    )
    text = (tmp_path / "corrections.csv").read_text(encoding="utf-8")
    assert text == EXISTING + "b1,Games\nb3,Games\nb4,exclude\nb6,Games\n"
    assert read_corrections(tmp_path / "corrections.csv")["id"].tolist() == ["a1", "b1", "b3", "b4", "b6"]  # what preprocess reads
    assert review(runner, queue, params).stdout.startswith("prodcat review: 0 corrections added")  # a second run adds nothing
    assert (tmp_path / "corrections.csv").read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [("a1", "label_error", "Toys", "Games", "accept")],
            "id 'a1' is decided 'Games', but {corrections} line 2 corrects it to 'exclude'",
        ),
        ([("b1", "outlier", "Toys", "", "accept")], "line 2 (id 'b1'): `accept`, but the row has no suggested label"),
        ([("b1", "low_confidence", "", "Toys", "keep")], "line 2 (id 'b1'): `keep`, but the row has no given label"),
        (
            [("b1", "label_error", "Toys", "Games", "accept"), ("b1", "outlier", "Toys", "", "Books")],
            "line 3: id 'b1' is decided 'Books' here but 'Games' on line 2",
        ),
    ],
)
def test_a_decision_that_cannot_be_applied_stops_with_its_line_and_writes_nothing(
    runner: CliRunner, params: Path, tmp_path: Path, rows: list, expected: str
) -> None:
    queue = reviewed_queue(tmp_path / "queue.csv", [*rows, ("b9", "label_error", "Toys", "Games", "Books")])  # b9 alone would be added
    result = review(runner, queue, params)
    corrections = tmp_path / "corrections.csv"
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"prodcat review: error: {queue}")
    assert expected.format(corrections=corrections) in result.stderr
    assert corrections.read_text(encoding="utf-8") == EXISTING


def test_a_queue_without_decisions_is_refused(runner: CliRunner, params: Path, tmp_path: Path) -> None:
    queue = tmp_path / "queue.csv"
    pd.DataFrame({"id": ["b1"], "given_label": ["Toys"], "suggested_label": ["Games"]}).to_csv(queue, index=False)
    result = review(runner, queue, params)
    assert result.exit_code == 1 and "missing column(s) ['decision']" in result.stderr and result.stderr.count("\n") == 1
    result = review(runner, tmp_path / "nowhere.csv", params)
    assert (result.exit_code, result.stderr) == (1, f"prodcat review: error: no reviewed queue at {tmp_path / 'nowhere.csv'}\n")


def test_new_products_appends_the_labelled_rows_of_a_batch(runner: CliRunner, tmp_path: Path, small_catalog: Path) -> None:
    catalog = pd.read_csv(small_catalog, dtype=str, keep_default_na=False)
    catalog.head(100).to_csv(tmp_path / "catalog.csv", index=False)
    batch = catalog.iloc[100:104].drop(columns=["Category"])
    batch.to_csv(tmp_path / "new.csv", index=False)
    ids = batch["Uniq Id"].tolist()
    (tmp_path / "corrections.csv").write_text(f"id,label\n{ids[1]},Toys & Games\n", encoding="utf-8")
    params = write_params(tmp_path / "run", tmp_path / "catalog.csv", preprocess={"corrections": str(tmp_path / "corrections.csv")})
    result = runner.invoke(app, ["new-products", "--input", str(tmp_path / "new.csv"), "--params", str(params)], prog_name="prodcat")
    assert (
        result.exit_code == 0 and result.stdout == f"prodcat new-products: 1 labelled new products appended to {tmp_path / 'catalog.csv'}\n"
    )
    assert read_catalog(tmp_path / "catalog.csv")["Uniq Id"].tolist()[-2:] == [catalog["Uniq Id"][99], ids[1]]

    result = runner.invoke(app, ["new-products", "--input", str(tmp_path / "none.csv"), "--params", str(params)], prog_name="prodcat")
    assert result.exit_code == 1 and result.stderr.startswith("prodcat new-products: error: ") and result.stderr.count("\n") == 1
    assert len(read_catalog(tmp_path / "catalog.csv")) == 101
