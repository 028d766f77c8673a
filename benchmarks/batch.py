"""Batch-prediction throughput and peak memory on a generated catalog of `--rows` products.

    python -m benchmarks.batch [--rows 1000000] [--chunk-rows 20000] [--bundle models/bundle]   (make bench-batch)

Writes the catalog with prodcat.data.synth in blocks (generation itself stays small), then runs
`python -m stages.predict` on it in a child process and prints rows, seconds, products/s and the
child's peak RSS. Chunked scoring keeps the peak flat: compare two sizes (e.g. 5000 and 20000 rows).
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

from prodcat.data.synth import generate_catalog

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=20000)
    parser.add_argument("--bundle", default="models/bundle")
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--output", default="parquet", choices=["parquet", "csv"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        catalog, output = Path(scratch, "catalog.csv"), Path(scratch, f"predictions.{args.output}")
        started = time.perf_counter()
        write_catalog(catalog, args.rows, args.seed)
        print(
            f"bench-batch: generated {args.rows} rows ({catalog.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
        command = [
            sys.executable,
            "-m",
            "stages.predict",
            "--bundle",
            args.bundle,
            "--input",
            str(catalog),
            "--output",
            str(output),
            "--chunk-rows",
            str(args.chunk_rows),
        ]
        status, seconds, peak = run_measured(command)
        if status != 0:
            raise SystemExit(f"bench-batch: stages.predict failed (exit {status})")
    print(
        f"bench-batch: rows {args.rows}, chunk rows {args.chunk_rows}, {seconds:.1f}s, {args.rows / seconds:.0f} products/s, peak RSS {peak / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
