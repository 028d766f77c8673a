"""Pipeline figures: wall time and peak memory of every stage, and the cost of a no-op `dvc repro`.

    python -m benchmarks.figures            # forces every stage once, in order (the full pipeline's time)

Each stage runs as `dvc repro --force --single-item <stage>` inside a fresh Python process, so that
process's RUSAGE_CHILDREN peak RSS belongs to that stage alone (the stage command and dvc itself).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from prodcat.core.pipeline import stage_names

_MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(json.dumps({"code": code, "seconds": time.perf_counter() - started,
                  "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measure(command: list[str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB) of `command` and its descendants."""
    output = subprocess.run([sys.executable, "-c", _MEASURE, *command], stdout=subprocess.PIPE, text=True, check=True)
    figures = json.loads(output.stdout.strip().splitlines()[-1])
    if figures["code"] != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {figures['code']}")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dvc-yaml", default="dvc.yaml")
    args = parser.parse_args(argv)
    stages = stage_names(Path(args.dvc_yaml))

    rows = [(stage, measure(["dvc", "repro", "--force", "--single-item", stage])) for stage in stages]
    noop = measure(["dvc", "repro"])

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'stage':<12} {'seconds':>9} {'peak MiB':>9}")
    for stage, figures in rows:
        print(f"{stage:<12} {figures['seconds']:>9.1f} {figures['peak_mib']:>9.0f}")
    total = sum(figures["seconds"] for _, figures in rows)
    print(f"{'total':<12} {total:>9.1f} {max(f['peak_mib'] for _, f in rows):>9.0f}")
    print(f"{'no-op repro':<12} {noop['seconds']:>9.1f} {noop['peak_mib']:>9.0f}")


if __name__ == "__main__":
    main()
