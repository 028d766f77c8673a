"""Batch runs that resume: a killed `prodcat predict` goes on from its last committed chunk; another run's progress is not resumed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from devtools.processes import kill_when
from prodcat.cli.predict import predict as predict_command
from prodcat.data.synth import generate_catalog
from prodcat.inference import batch
from prodcat.inference.progress import BatchProgress, committed_chunks, progress_path

ROOT = Path(__file__).resolve().parents[2]  # the child process imports this checkout's prodcat
CHUNK_ROWS = 100


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 new products (12 chunks) with row-level problems in late chunks, so the report's counts come from every part of the file."""
    frame = generate_catalog(n_rows=1200, seed=23).drop(columns=["Category"])
    frame.loc[1150, "Uniq Id"] = None
    frame.loc[1000:1020, "Selling Price"] = "call us"
    path = tmp_path_factory.mktemp("new") / "new.csv"
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def predict(bundle: Path, catalog: Path, output: Path, **flags: object) -> tuple[pd.DataFrame, dict]:
    predict_command(source=catalog, output=output, bundle=bundle, **{"chunk_rows": CHUNK_ROWS, **flags})
    return pd.read_parquet(output), json.loads(Path(f"{output}.report.json").read_text())


@pytest.fixture()
def scored_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of every chunk this process scores, in order (a resumed run must not score the committed ones again)."""
    rows: list[int] = []
    score_chunk = batch.score_chunk

    def counting(bundle, chunk, source, top_k=3):
        rows.append(len(chunk))
        return score_chunk(bundle, chunk, source, top_k)

    monkeypatch.setattr(batch, "score_chunk", counting)
    return rows


def test_a_killed_run_resumes_from_its_last_committed_chunk_and_equals_an_uninterrupted_run(
    trained, catalog: Path, tmp_path: Path, scored_rows: list[int], capsys
) -> None:
    bundle = trained[1]
    whole, whole_report = predict(bundle, catalog, tmp_path / "whole.parquet")
    assert len(scored_rows) == 12 and whole_report["rows"] == 1200 and whole_report["input_failures"]["share"] > 0
    scored_rows.clear()

    output = tmp_path / "resumed.parquet"
    command = [sys.executable, "-m", "prodcat", "predict", "--bundle", str(bundle), "--input", str(catalog), "--output", str(output)]
    command += ["--chunk-rows", str(CHUNK_ROWS)]
    kill_when(command, lambda: committed_chunks(output) >= 2, ROOT)
    committed = committed_chunks(output)
    assert 2 <= committed < 12  # killed mid-file, with chunks committed
    assert not output.exists() and not Path(f"{output}.report.json").exists()  # nothing but the progress before the end

    capsys.readouterr()
    resumed, resumed_report = predict(bundle, catalog, output)
    assert f"predict: resuming after chunk {committed} ({committed * CHUNK_ROWS} products committed in" in capsys.readouterr().out
    assert scored_rows == [CHUNK_ROWS] * (12 - committed)  # only the chunks the killed run had not committed
    source_ids = pd.read_csv(catalog, dtype=str, keep_default_na=False, na_values=[""])["Uniq Id"]
    assert resumed["id"].tolist() == whole["id"].tolist() and resumed["id"].isna().tolist() == source_ids.isna().tolist()
    assert resumed["id"].dropna().tolist() == source_ids.dropna().tolist()  # every row once, in input order
    assert resumed["predicted"].tolist() == whole["predicted"].tolist()
    assert resumed.equals(whole) and resumed_report == whole_report
    assert (tmp_path / "resumed.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert not progress_path(output).exists()  # removed after success


def interrupted(bundle: Path, catalog: Path, output: Path, chunks: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run into `output` that dies (an error other than a user's mistake) after committing `chunks` chunks."""
    commit = BatchProgress.commit

    def dying(self: BatchProgress, predictions: pd.DataFrame, monitor: dict) -> None:
        commit(self, predictions, monitor)
        if self.chunks == chunks:
            raise RuntimeError("the machine went away")

    with monkeypatch.context() as patch:
        patch.setattr(BatchProgress, "commit", dying)
        with pytest.raises(RuntimeError, match="went away"):
            predict(bundle, catalog, output)
    assert committed_chunks(output) == chunks and not output.exists()


@pytest.mark.parametrize("change", ["bundle", "input", "chunk rows", "top k", "--restart", "a part lost", "a part cut short"])
def test_progress_of_another_run_is_not_resumed(
    trained, catalog: Path, tmp_path: Path, scored_rows: list[int], monkeypatch: pytest.MonkeyPatch, capsys, change: str
) -> None:
    bundle, small = trained[1], tmp_path / "small.csv"
    pd.read_csv(catalog, dtype=str, keep_default_na=False).head(300).to_csv(small, index=False, lineterminator="\n")  # 3 chunks
    output = tmp_path / "out.parquet"
    interrupted(bundle, small, output, 2, monkeypatch)
    flags: dict[str, object] = {}
    expected = "of another run"
    if change == "bundle":  # a rebuilt bundle: its fingerprint differs
        bundle = Path(shutil.copytree(bundle, tmp_path / "rebuilt"))
        manifest = json.loads((bundle / "manifest.json").read_text())
        (bundle / "manifest.json").write_text(json.dumps({**manifest, "fingerprint": "another"}))
        expected = "(bundle_fingerprint differ)"
    elif change == "input":  # the last product gets a description: same name, same rows
        small.write_text(small.read_text()[:-1] + "X\n")
        expected = "(input_sha256 differ)"
    elif change == "chunk rows":
        flags, expected = {"chunk_rows": 99}, "(chunk_rows differ)"
    elif change == "top k":
        flags, expected = {"top_k": 2}, "(top_k differ)"
    elif change == "--restart":
        flags, expected = {"restart": True}, "starting over (--restart): earlier progress removed"
    elif change == "a part lost":
        (progress_path(output) / "part-000001.parquet").unlink()
        expected = "part-000001.parquet is missing or not the 100 rows recorded"
    else:
        part = progress_path(output) / "part-000000.parquet"
        part.write_bytes(part.read_bytes()[:200])
        expected = "part-000000.parquet is missing or not the 100 rows recorded"
    scored_rows.clear()
    capsys.readouterr()
    predict_command(source=small, output=output, bundle=bundle, **{"chunk_rows": CHUNK_ROWS, **flags})
    printed = capsys.readouterr().out
    assert expected in printed and "resuming" not in printed
    assert sum(scored_rows) == 300  # every chunk scored again
    assert pd.read_parquet(output)["id"].tolist() == pd.read_csv(small, dtype=str)["Uniq Id"].tolist()
    assert not progress_path(output).exists()
