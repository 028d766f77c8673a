"""Accuracy on real public catalogs: the whole pipeline, per variant, written to docs/BENCHMARKS.md.

    python -m benchmarks.accuracy            (make bench-accuracy; ~20 minutes on 2 cores)
    python -m benchmarks.accuracy --adapt tsdae --output .bench/accuracy-tsdae.md   (issue 14: adaptation)
    python -m benchmarks.accuracy --only Amazon --set finetune.epochs=1 --set adapt.max_texts=200 --adapt mlm   (a quick check)

`--adapt tsdae|mlm` runs the adapt stage (adapt.method) and scores the `adapted` variant too, so each
table shows what adaptation alone (stock -> adapted) and adaptation + fine-tuning (finetuned) give;
compare with a run without it. `--set section.key=value` overrides any param (a YAML value).

For each catalog in ../shared/data the pipeline code is copied into a throwaway git + DVC repo,
its profile is applied (prodcat.data.profiles), a few run-size params are set, and every stage runs
once through `dvc repro --single-item`, timed. Every number in docs/BENCHMARKS.md comes from here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from benchmarks.figures import measure
from devtools.scratch_repo import ROOT, commit_all, copy_pipeline, set_params
from prodcat.core.params import load_params
from prodcat.core.pipeline import stage_names
from prodcat.core.variants import VARIANTS
from prodcat.data.profiles import apply_profile, profile_path
from prodcat.data.splits import read_split
from prodcat.heads.linear import fit_sparse
from prodcat.heads.metrics import summary_metrics

SHARED = ROOT.parent / "shared" / "data"
STAGES = list(stage_names())


@dataclass(frozen=True)
class Benchmark:
    name: str
    catalog: Path
    profile: str
    overrides: dict  # params sections -> keys, on top of the profile
    references: dict[str, float] = field(default_factory=dict)  # label -> accuracy


BENCHMARKS = [
    Benchmark(
        name="PriceRunner, split grouped by Cluster ID",
        catalog=SHARED / "pricerunner_aggregate.csv",
        profile="pricerunner",
        # Titles are short: 48 tokens cover them. One epoch over ~25k titles is ~800 steps.
        overrides={"encoder": {"max_seq_length": 48}, "finetune": {"epochs": 2}},
        references={
            "word 1-2-gram + char_wb 2-5-gram TF-IDF + LinearSVC (C 0.5), fitted on all train rows (issue #9)": 0.9864,
            "word 1-2-gram TF-IDF + logistic regression (shared/data README)": 0.954,
        },
    ),
    Benchmark(
        name="Amazon 2020, first 1,000 rows",
        catalog=SHARED / "amazon2020_first1000.csv",
        profile="amazon2020",
        # As the reference: classes with at least 5 rows, the others dropped.
        overrides={"catalog": {"min_class_count": 5, "rare_classes": "drop"}},
        references={"word 1-2-gram TF-IDF + logistic regression (shared/data README)": 0.821},
    ),
]


def prepare(benchmark: Benchmark, folder: Path) -> Path:
    """A throwaway repo holding the pipeline code, configured for `benchmark`."""
    repo = copy_pipeline(folder / "repo")
    apply_profile(repo / "params.yaml", profile_path(benchmark.profile), catalog=str(benchmark.catalog))
    set_params(repo / "params.yaml", **benchmark.overrides)
    commit_all(repo, "benchmark")
    return repo


def baseline_on_all_train_rows(repo: Path) -> dict[str, float]:
    """What a practitioner would fit first, measured in this run: the sparse model on train + validation, scored on test."""
    params = load_params(repo / "params.yaml")
    fitted, names, fitted_labels = read_split(repo / "data/processed", "train")
    validation, _, validation_labels = read_split(repo / "data/processed", "validation")
    test, _, truth = read_split(repo / "data/processed", "test")
    texts = fitted["text"].tolist() + validation["text"].tolist()
    model = fit_sparse(texts, np.concatenate([fitted_labels, validation_labels]), len(names), params.train_sparse)
    return summary_metrics(truth, model.scores(test["text"].tolist()).argmax(axis=1))


def with_overrides(benchmark: Benchmark, settings: list[str], adapt: str) -> Benchmark:
    """`benchmark` with `section.key=value` settings on top of its overrides; adapt.method `adapt` adds the adapted variant."""
    overrides = {section: dict(values) for section, values in benchmark.overrides.items()}
    for setting in settings:
        key, _, value = setting.partition("=")
        section, _, name = key.partition(".")
        if not name:
            raise SystemExit(f"--set {setting}: expected section.key=value")
        overrides.setdefault(section, {})[name] = yaml.safe_load(value)
    if adapt != "none":
        overrides.setdefault("adapt", {})["method"] = adapt
        variants = load_params(ROOT / "params.yaml").variants
        overrides["variants"] = [*variants[:1], "adapted", *variants[1:]]  # the adapted encoder alone, beside stock
    return replace(benchmark, overrides=overrides)


def run_benchmark(benchmark: Benchmark, folder: Path) -> dict:
    repo = prepare(benchmark, folder)
    seconds = {}
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        for stage in STAGES:
            seconds[stage] = measure(["dvc", "repro", "--single-item", stage])["seconds"]
            print(f"  {benchmark.name}: {stage} {seconds[stage]:.0f}s", flush=True)
        # Batch prediction over the whole file (its labels ignored) with the champion just chosen.
        predict = [sys.executable, "-m", "stages.predict", "--input", str(benchmark.catalog), "--output", "predictions.parquet"]
        lines = subprocess.run(predict, capture_output=True, text=True, check=True).stdout.splitlines()
        printed = next(line for line in lines if "products/s" in line)  # the throughput line, before warnings and the report path
        print(f"  {benchmark.name}: {printed}", flush=True)
    finally:
        os.chdir(cwd)
    return {
        "metrics": json.loads((repo / "metrics/evaluate.json").read_text()),
        "validation": json.loads((repo / "metrics/validation.json").read_text()),
        "champion": json.loads((repo / "models/champion.json").read_text()),
        "rows": json.loads((repo / "metrics/preprocess.json").read_text()),
        "finetune": json.loads((repo / "metrics/finetune.json").read_text()),
        "adapt": json.loads((repo / "metrics/adapt.json").read_text()),
        "baseline": baseline_on_all_train_rows(repo),
        "sparse_classifier": load_params(repo / "params.yaml").train_sparse.classifier,
        "seconds": seconds,
        "predict": printed.replace(str(repo) + "/", ""),
        "params": {section: values for section, values in benchmark.overrides.items()},
    }


def adapt_sentence(adapt: dict) -> str:
    if adapt["method"] == "none":
        return ""
    return (
        f" Adaptation (`{adapt['method']}`): {adapt['epochs']} epoch(s) over {adapt['corpus_texts']} texts "
        f"({adapt['corpus_unlabelled_texts']} unlabelled), {adapt['seconds'] / 60:.1f} minutes, final loss {adapt['final_loss']}."
    )


def markdown(results: dict[str, dict], command: str, benchmarks: list[Benchmark]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Regenerated by `{command}` on {datetime.date.today().isoformat()}: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. Every number below comes from that run.",
        "",
        "Speed against the hardware's peak: `make bench-speed` (CPU) and [BENCHMARKS_GPU.md](BENCHMARKS_GPU.md) (GPU, with the card's name).",
        "Domain adaptation before fine-tuning (the `adapt` stage, TSDAE and MLM) against none: [BENCHMARKS_ADAPT.md](BENCHMARKS_ADAPT.md).",
        "",
    ]
    for benchmark in benchmarks:
        result = results[benchmark.name]
        rows, finetune = result["rows"], result["finetune"]
        lines += [
            f"## {benchmark.name}",
            "",
            f"`{benchmark.catalog.name}` with profile `{benchmark.profile}`, overrides `{json.dumps(result['params'])}`: "
            f"{rows['train_rows']} train / {rows['validation_rows']} validation / {rows['test_rows']} test rows. "
            f"Fine-tuning: {finetune['epochs']} epoch(s), {finetune['objective']}, {finetune['precision']} on {finetune['device']}, "
            f"{finetune['samples_per_second']} samples/s." + adapt_sentence(result["adapt"]),
            "",
            "| variant | features -> head | validation accuracy | test accuracy | test macro-F1 |",
            "|---|---|---|---|---|",
        ]
        champion = result["champion"]["champion"]
        sparse_head = "LinearSVC" if result["sparse_classifier"] == "linear_svc" else "logistic regression"
        for name, m in result["metrics"].items():
            label = f"**{name}** (champion)" if name == champion else name
            lines.append(
                f"| {label} | {VARIANTS[name].description} | {result['validation'][name]['accuracy']:.4f} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |"
            )
        baseline = result["baseline"]
        lines.append(
            f"| baseline: the `sparse` model fitted on train + validation (this run) | word + char n-gram TF-IDF -> {sparse_head} | | "
            f"{baseline['accuracy']:.4f} | {baseline['macro_f1']:.4f} |"
        )
        lines += [f"| reference: {label} | | | {accuracy:.4f} | |" for label, accuracy in benchmark.references.items()]
        best = max(m["accuracy"] for m in result["metrics"].values())
        weights = result["champion"]["fusion_weights"]
        lines += [
            "",
            f"Champion (best validation accuracy, then macro-F1): **{champion}**, test accuracy "
            f"{result['metrics'][champion]['accuracy']:.4f}, {best - result['metrics'][champion]['accuracy']:.4f} below the best variant on test."
            + (f" Fusion weights (chosen on validation): {json.dumps(weights)}." if weights else ""),
        ]
        lines += ["", "| stage | " + " | ".join(STAGES) + " | total |", "|---" * (len(STAGES) + 2) + "|"]
        seconds = result["seconds"]
        lines += ["| seconds | " + " | ".join(f"{seconds[s]:.0f}" for s in STAGES) + f" | {sum(seconds.values()):.0f} |", ""]
        lines += [f"Batch prediction over the whole file with the champion: `{result['predict']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--only", help="run only the benchmarks whose name contains this text")
    parser.add_argument("--adapt", choices=["none", "tsdae", "mlm"], default="none", help="adapt.method, with the adapted variant scored")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="a params override (repeatable)")
    args = parser.parse_args(argv)
    benchmarks = [with_overrides(b, args.set, args.adapt) for b in BENCHMARKS if not args.only or args.only in b.name]
    missing = [str(b.catalog) for b in benchmarks if not b.catalog.is_file()]
    if missing or not benchmarks:
        raise SystemExit(f"missing benchmark data: {', '.join(missing)}" if missing else f"no benchmark name contains {args.only!r}")
    with tempfile.TemporaryDirectory(prefix="prodcat-bench-") as scratch:
        results = {b.name: run_benchmark(b, Path(scratch, str(i))) for i, b in enumerate(benchmarks)}
    command = (
        " ".join(["python -m benchmarks.accuracy", *(argv if argv is not None else sys.argv[1:])])
        if args.only or args.set or args.adapt != "none"
        else "make bench-accuracy"
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(markdown(results, command, benchmarks), encoding="utf-8")
    print(Path(args.output).read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
