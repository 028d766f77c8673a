"""Batch-prediction throughput and peak memory on a generated catalog of `--rows` products, and the cost of resuming a killed run.

    python -m benchmarks.batch [--rows 1000000] [--chunk-rows 20000] [--bundle models/bundle] [--kill-at 0.5]   (make bench-batch)

Writes the catalog with prodcat.data.synth in blocks (generation itself stays small), then runs
`prodcat predict` on it in a child process and prints rows, seconds, products/s and the
child's peak RSS. Chunked scoring keeps the peak flat: compare two sizes (e.g. 5000 and 20000 rows).
With --kill-at F it then runs the same command into a second output, SIGKILLs it once F of the rows
are committed, reruns it (it resumes), and prints the resumed run's figures, the overhead of the
kill and resume (killed + resumed seconds - uninterrupted seconds) and whether the predictions file
(byte for byte) and the report equal the uninterrupted run's.
Needs a bundle (`dvc repro`). Figures vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devtools.processes import kill_when
from prodcat.core.io import read_json
from prodcat.data.synth import generate_catalog
from prodcat.inference.batch import report_path
from prodcat.inference.bundle import file_sha256
from prodcat.inference.progress import committed_chunks

GENERATE_BLOCK = 10000  # catalog rows generated and written at a time


def write_catalog(path: Path, rows: int, seed: int) -> None:
    """`rows` synthetic products without their label column, block by block (a new seed per block)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        for block, start in enumerate(range(0, rows, GENERATE_BLOCK)):
            frame = generate_catalog(min(GENERATE_BLOCK, rows - start), seed + block).drop(columns=["Category"])
            frame.to_csv(handle, index=False, header=block == 0, lineterminator="\n")


def run_measured(command: list[str]) -> tuple[int, float, int]:
    """(exit status, seconds, peak RSS in bytes) of `command` run as a child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def predict_command(bundle: str, catalog: Path, output: Path, chunk_rows: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "prodcat",
        "predict",
        "--bundle",
        bundle,
        "--input",
        str(catalog),
        "--output",
        str(output),
        "--chunk-rows",
        str(chunk_rows),
    ]


def measured(command: list[str]) -> tuple[float, int]:
    """(seconds, peak RSS in bytes) of a successful run of `command`."""
    status, seconds, peak = run_measured(command)
    if status != 0:
        raise SystemExit(f"bench-batch: prodcat predict failed (exit {status})")
    return seconds, peak


def kill_and_resume(args: argparse.Namespace, catalog: Path, whole: Path, seconds: float) -> None:
    """Run again into another output, SIGKILL it once `args.kill_at` of the rows are committed, resume it, compare with `whole`."""
    output = whole.with_name(f"resumed{whole.suffix}")
    command = predict_command(args.bundle, catalog, output, args.chunk_rows)
    chunks = -(-args.rows // args.chunk_rows)
    kill_chunks = max(1, min(chunks - 1, round(chunks * args.kill_at)))
    killed = kill_when(command, lambda: committed_chunks(output) >= kill_chunks, Path.cwd(), timeout=float("inf"))
    committed = committed_chunks(output)
    resumed, peak = measured(command)
    equal = file_sha256(output) == file_sha256(whole) and read_json(report_path(output)) == read_json(report_path(whole))
    print(
        f"bench-batch: killed after {killed:.1f}s with {committed} of {chunks} chunks committed; resumed in {resumed:.1f}s "
        f"({(args.rows - committed * args.chunk_rows) / resumed:.0f} products/s over the rest), peak RSS {peak / 2**20:.0f} MiB"
    )
    print(
        f"bench-batch: kill + resume {killed + resumed:.1f}s vs uninterrupted {seconds:.1f}s: overhead {killed + resumed - seconds:+.1f}s "
        f"({(killed + resumed) / seconds - 1:+.1%}); predictions file and report equal to the uninterrupted run's: {equal}"
    )
    if not equal:
        raise SystemExit("bench-batch: the resumed run's output differs from the uninterrupted run's")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=20000)
    parser.add_argument("--bundle", default="models/bundle")
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--output", default="parquet", choices=["parquet", "csv"])
    parser.add_argument("--kill-at", type=float, help="also SIGKILL a run once this share of the chunks is committed, and resume it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        catalog, output = Path(scratch, "catalog.csv"), Path(scratch, f"predictions.{args.output}")
        started = time.perf_counter()
        write_catalog(catalog, args.rows, args.seed)
        print(
            f"bench-batch: generated {args.rows} rows ({catalog.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
        seconds, peak = measured(predict_command(args.bundle, catalog, output, args.chunk_rows))
        print(
            f"bench-batch: rows {args.rows}, chunk rows {args.chunk_rows}, {seconds:.1f}s, {args.rows / seconds:.0f} products/s, "
            f"peak RSS {peak / 2**20:.0f} MiB",
            flush=True,
        )
        if args.kill_at is not None:
            kill_and_resume(args, catalog, output, seconds)


if __name__ == "__main__":
    main()
