"""Accuracy on real public catalogs: the whole pipeline, per variant, written to docs/BENCHMARKS.md.

    python -m benchmarks.accuracy            (make bench-accuracy; ~20 minutes on 2 cores)
    python -m benchmarks.accuracy --adapt tsdae --output .bench/accuracy-tsdae.md   (issue 14: adaptation)
    python -m benchmarks.accuracy --only Amazon --set finetune.epochs=1 --set adapt.max_texts=200 --adapt mlm   (a quick check)
    python -m benchmarks.accuracy --keep .bench/accuracy                               (keep each catalog's repo)
    python -m benchmarks.accuracy --keep .bench/accuracy --from-stage train_sparse    (rerun from a stage on new code)
    python -m benchmarks.accuracy --keep .bench/accuracy --render                      (the page again, from the kept results)

`--adapt tsdae|mlm` runs the adapt stage (adapt.method) and scores the `adapted` variant too, so each
table shows what adaptation alone (stock -> adapted) and adaptation + fine-tuning (finetuned) give;
compare with a run without it. `--set section.key=value` overrides any param (a YAML value).

For each catalog in ../shared/data the pipeline code is copied into a throwaway git + DVC repo,
its profile is applied (prodcat.data.profiles, as `prodcat profile` does), a few run-size params are set, and every stage runs
once through `dvc repro --single-item`, timed. Every number in docs/BENCHMARKS.md comes from here.
"""

from __future__ import annotations

import argparse
import contextlib
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
import pandas as pd
import yaml

from benchmarks.figures import measure
from devtools.scratch_repo import ROOT, commit_all, copy_pipeline, set_params
from prodcat.core.params import load_params
from prodcat.core.pipeline import stage_names
from prodcat.core.variants import VARIANTS
from prodcat.data.profiles import apply_profile, profile_path
from prodcat.data.splits import read_split
from prodcat.heads.intervals import accuracy_interval, paired_difference_interval
from prodcat.heads.metrics import path_metrics, summary_metrics
from prodcat.heads.sparse import fit_sparse

SHARED = ROOT.parent / "shared" / "data"
STAGES = list(stage_names())
RESULT_FILE = "result.json"  # with --keep: one benchmark's figures beside its repo, what --render reads
BASELINE = "baseline"  # the sparse model refitted on train + validation: what a practitioner fits first


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
    Benchmark(
        name="Instacart, department | aisle",
        catalog=SHARED / "instacart_products.csv",
        profile="instacart",
        # The profile holds the run: 132 aisle paths, names at 32 tokens, 2 epochs, heads linear in the classes.
        overrides={},
        references={"word + char TF-IDF + linear model, stratified 80/20 split (issue #20)": 0.78},
    ),
    Benchmark(
        name="Flipkart, category tree to level 2, split grouped by product name",
        catalog=SHARED / "flipkart_products.csv",
        profile="flipkart",
        overrides={},
    ),
]


def prepare(benchmark: Benchmark, folder: Path) -> Path:
    """A throwaway repo holding the pipeline code, configured for `benchmark`."""
    repo = copy_pipeline(folder / "repo")
    apply_profile(repo / "params.yaml", profile_path(benchmark.profile), catalog=str(benchmark.catalog))
    set_params(repo / "params.yaml", **benchmark.overrides)
    commit_all(repo, "benchmark")
    return repo


def baseline_predictions(repo: Path) -> list[str]:
    """What a practitioner would fit first, measured in this run: the sparse model on train + validation; its test labels."""
    params = load_params(repo / "params.yaml")
    fitted, names, fitted_labels = read_split(repo / "data/processed", "train")
    validation, _, validation_labels = read_split(repo / "data/processed", "validation")
    test, _, _ = read_split(repo / "data/processed", "test")
    texts = fitted["text"].tolist() + validation["text"].tolist()
    model = fit_sparse(texts, np.concatenate([fitted_labels, validation_labels]), len(names), params.train_sparse)
    return [names[i] for i in model.scores(test["text"].tolist()).argmax(axis=1)]


def label_scores(truth: list[str], predicted: list[str], names: list[str]) -> dict[str, float]:
    """The evaluate stage's scores (accuracy, macro-F1, path scores) for labels given by name."""
    index = {name: i for i, name in enumerate(names)}
    truth_ids, predicted_ids = np.array([index[t] for t in truth]), np.array([index[p] for p in predicted])
    return {**summary_metrics(truth_ids, predicted_ids), **path_metrics(truth_ids, predicted_ids, names)}


def test_predictions(repo: Path, variants: list[str]) -> dict[str, list[str]]:
    """Each variant's predicted test label, row by row, from the evaluate stage's confusion rows (test order)."""
    return {
        variant: [row["predicted"] for row in json.loads((repo / f"plots/confusion/{variant}.json").read_text())] for variant in variants
    }


def intervals(test: pd.DataFrame, predicted: dict[str, list[str]], champion: str) -> dict:
    """95 % bootstrap intervals of each test accuracy (resampling product groups where the split has them), and the
    champion's paired difference to the baseline; `test` is the test split (its labels, and its groups when grouped)."""
    groups = test["group"].to_numpy() if "group" in test else None
    correct = {name: np.equal(labels, test["label"].tolist()) for name, labels in predicted.items()}
    return {
        "accuracy": {name: accuracy_interval(right, groups) for name, right in correct.items()},
        "champion_minus_baseline": paired_difference_interval(correct[champion], correct[BASELINE], groups),
    }


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


def run_benchmark(benchmark: Benchmark, folder: Path, from_stage: str | None = None) -> dict:
    """Run every stage in a fresh repo under `folder`; with `from_stage`, reuse that repo's outputs of the stages before it."""
    reused = STAGES[: STAGES.index(from_stage)] if from_stage else []
    if reused and not (folder / "repo" / "dvc.lock").is_file():
        raise SystemExit(f"--from-stage {from_stage}: no earlier run of {benchmark.name} in {folder} (run once with --keep first)")
    repo = prepare(benchmark, folder)
    seconds = {}
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        for stage in STAGES[len(reused) :]:
            seconds[stage] = measure(["dvc", "repro", "--single-item", "--force", stage])["seconds"]
            print(f"  {benchmark.name}: {stage} {seconds[stage]:.0f}s", flush=True)
        # Batch prediction over the whole file (its labels ignored) with the champion just chosen.
        predict = [sys.executable, "-m", "prodcat", "predict", "--input", str(benchmark.catalog), "--output", "predictions.parquet"]
        lines = subprocess.run(predict, capture_output=True, text=True, check=True).stdout.splitlines()
        printed = next(line for line in lines if "products/s" in line)  # the throughput line, before warnings and the report path
        print(f"  {benchmark.name}: {printed}", flush=True)
    finally:
        os.chdir(cwd)
    result = collect(benchmark, repo, reused, seconds, printed.replace(str(repo) + "/", ""))
    (folder / RESULT_FILE).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def collect(benchmark: Benchmark, repo: Path, reused: list[str], seconds: dict[str, float], predict: str) -> dict:
    """Everything the page shows for one benchmark, read from its repo after the run (JSON-ready, kept as result.json)."""
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    champion = json.loads((repo / "models/champion.json").read_text())
    test, _, _ = read_split(repo / "data/processed", "test")
    predicted = {**test_predictions(repo, list(metrics)), BASELINE: baseline_predictions(repo)}
    _, names, _ = read_split(repo / "data/processed", "train", columns=["label"])
    truth = test["label"].tolist()
    return {
        "metrics": metrics,
        "champion": champion,
        "champion_report": json.loads((repo / "metrics/champion.json").read_text()),
        "cascade": json.loads((repo / "metrics/cascade.json").read_text()),
        "baseline": label_scores(truth, predicted[BASELINE], names),
        "intervals": intervals(test, predicted, champion["champion"]),
        "grouped": "group" in test,
        "reused": reused,
        "validation": json.loads((repo / "metrics/validation.json").read_text()),
        "rows": json.loads((repo / "metrics/preprocess.json").read_text()),
        "finetune": json.loads((repo / "metrics/finetune.json").read_text()),
        "adapt": json.loads((repo / "metrics/adapt.json").read_text()),
        "sparse_classifier": load_params(repo / "params.yaml").train_sparse.classifier,
        "seconds": seconds,
        "predict": predict,
        "params": {section: values for section, values in benchmark.overrides.items()},
    }


def refit_and_cascade_sentence(result: dict) -> str:
    """What the refit and the cascade did to the champion, from the run's metrics/champion.json and metrics/cascade.json."""
    report, cascade = result["champion_report"], result["cascade"]
    refit = report["refit"]
    text = (
        f" Refitted on train + validation (`refit`: {', '.join(refit)}): test accuracy {report['test_refit']['accuracy']:.4f}."
        if refit
        else " No refit."
    )
    if cascade.get("threshold") is not None:
        text += (
            f" Cascade: the sparse model answers validation rows whose top probability is at least {cascade['threshold']:.3f} "
            f"({cascade['sparse_share']:.1%} of them); validation accuracy {cascade['accuracy_cascade']:.4f} against "
            f"{cascade['accuracy_champion']:.4f} for the champion alone."
        )
    return text


def adapt_sentence(adapt: dict) -> str:
    if adapt["method"] == "none":
        return ""
    return (
        f" Adaptation (`{adapt['method']}`): {adapt['epochs']} epoch(s) over {adapt['corpus_texts']} texts "
        f"({adapt['corpus_unlabelled_texts']} unlabelled), {adapt['seconds'] / 60:.1f} minutes, final loss {adapt['final_loss']}."
    )


def interval_text(low: float, high: float, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"[{low:{sign}.4f}, {high:{sign}.4f}]"


def level_table(result: dict) -> list[str]:
    """Per level of the category path: the accuracy of each higher level implied by the predicted path, then the
    predicted depth and hierarchical F1; empty for a catalog whose labels have one level."""
    scores = {**result["metrics"], BASELINE: result["baseline"]}
    levels = sorted(int(key.rsplit("_", 1)[1]) for key in result["baseline"] if key.startswith("accuracy_level_"))
    if not levels:
        return []
    return [
        "Path scores on test (labels are paths: a level-k accuracy compares both paths cut at level k; hierarchical F1 counts "
        "each label with its ancestors):",
        "",
        "| variant | " + " | ".join(f"level {level} (implied)" for level in levels) + " | predicted depth | hierarchical F1 |",
        "|---" * (len(levels) + 3) + "|",
        *(
            f"| {name} | " + " | ".join(f"{m[f'accuracy_level_{level}']:.4f}" for level in levels) + f" | {m['accuracy']:.4f} | "
            f"{m['hierarchical_f1']:.4f} |"
            for name, m in scores.items()
        ),
        "",
    ]


def markdown(results: dict[str, dict], command: str, benchmarks: list[Benchmark]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Regenerated by `{command}` on {datetime.date.today().isoformat()}: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. Every number below comes from that run.",
        "",
        "Test accuracies carry a 95 % bootstrap interval (10,000 resamples of the test rows, or of whole product groups where",
        "the split is grouped, so that near-twins do not count as independent evidence). The champion's difference to the",
        "baseline is paired: both are resampled on the same rows; an interval that holds 0 is no proven win.",
        "",
        "Speed against the hardware's peak: `make bench-speed` (CPU) and [BENCHMARKS_GPU.md](BENCHMARKS_GPU.md) (GPU, with the card's name).",
        "Domain adaptation before fine-tuning (the `adapt` stage, TSDAE and MLM) against none: [BENCHMARKS_ADAPT.md](BENCHMARKS_ADAPT.md).",
        "Heads at 20 and 132 classes (training and scoring time on the same rows): [BENCHMARKS_HEADS.md](BENCHMARKS_HEADS.md).",
        "",
    ]
    for benchmark in benchmarks:
        result = results[benchmark.name]
        rows, finetune = result["rows"], result["finetune"]
        accuracy_intervals = result["intervals"]["accuracy"]
        lines += [
            f"## {benchmark.name}",
            "",
            f"`{benchmark.catalog.name}` with profile `{benchmark.profile}`, overrides `{json.dumps(result['params'])}`: "
            f"{rows['train_rows']} train / {rows['validation_rows']} validation / {rows['test_rows']} test rows. "
            f"Fine-tuning: {finetune['epochs']} epoch(s), {finetune['objective']}, {finetune['precision']} on {finetune['device']}, "
            f"{finetune['samples_per_second']} samples/s." + adapt_sentence(result["adapt"]),
            "",
            "| variant | features -> head | validation accuracy | test accuracy [95 % CI] | test macro-F1 |",
            "|---|---|---|---|---|",
        ]
        champion = result["champion"]["champion"]
        sparse_head = "LinearSVC" if result["sparse_classifier"] == "linear_svc" else "logistic regression"
        for name, m in result["metrics"].items():
            label = f"**{name}** (champion)" if name == champion else name
            lines.append(
                f"| {label} | {VARIANTS[name].description} | {result['validation'][name]['accuracy']:.4f} | "
                f"{m['accuracy']:.4f} {interval_text(*accuracy_intervals[name])} | {m['macro_f1']:.4f} |"
            )
        baseline = result["baseline"]
        lines.append(
            f"| baseline: the `sparse` model fitted on train + validation (this run) | word + char n-gram TF-IDF -> {sparse_head} | | "
            f"{baseline['accuracy']:.4f} {interval_text(*accuracy_intervals[BASELINE])} | {baseline['macro_f1']:.4f} |"
        )
        lines += [f"| reference: {label} | | | {accuracy:.4f} | |" for label, accuracy in benchmark.references.items()]
        best = max(m["accuracy"] for m in result["metrics"].values())
        weights = result["champion"]["fusion_weights"]
        difference, low, high = result["intervals"]["champion_minus_baseline"]
        unit = "product groups" if result["grouped"] else "rows"
        lines += [
            "",
            f"Champion (chosen on validation): **{champion}**, test accuracy "
            f"{result['metrics'][champion]['accuracy']:.4f}, {best - result['metrics'][champion]['accuracy']:.4f} below the best variant on test. "
            f"Champion minus baseline on test: {difference:+.4f} {interval_text(low, high, signed=True)} (paired bootstrap over {unit})."
            + (f" Fusion weights (chosen on validation): {json.dumps(weights)}." if weights else "")
            + refit_and_cascade_sentence(result),
            "",
            *level_table(result),
        ]
        lines += ["| stage | " + " | ".join(STAGES) + " | total |", "|---" * (len(STAGES) + 2) + "|"]
        seconds = result["seconds"]
        lines += [
            "| seconds | "
            + " | ".join(f"{seconds[s]:.0f}" if s in seconds else "reused" for s in STAGES)
            + f" | {sum(seconds.values()):.0f} |",
            "",
        ]
        if result["reused"]:
            lines += [f"Stages {', '.join(result['reused'])} were not rerun: their outputs come from an earlier run of this benchmark.", ""]
        lines += [f"Batch prediction over the whole file with the champion: `{result['predict']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--only", help="run only the benchmarks whose name contains this text")
    parser.add_argument("--adapt", choices=["none", "tsdae", "mlm"], default="none", help="adapt.method, with the adapted variant scored")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="a params override (repeatable)")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR/<benchmark> and keep the repos (default: a temporary folder)")
    parser.add_argument("--render", action="store_true", help="with --keep: write the page from the kept results, running nothing")
    parser.add_argument(
        "--from-stage",
        choices=STAGES,
        help="with --keep: rerun this stage and the later ones on the current code, reusing the earlier outputs",
    )
    args = parser.parse_args(argv)
    benchmarks = [with_overrides(b, args.set, args.adapt) for b in BENCHMARKS if not args.only or args.only in b.name]
    missing = [str(b.catalog) for b in benchmarks if not b.catalog.is_file()]
    if missing or not benchmarks:
        raise SystemExit(f"missing benchmark data: {', '.join(missing)}" if missing else f"no benchmark name contains {args.only!r}")
    if (args.from_stage or args.render) and not args.keep:
        raise SystemExit("--from-stage and --render reuse the repos of an earlier --keep run: give --keep DIR")
    with contextlib.ExitStack() as stack:
        scratch = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prodcat-bench-")))
        if args.render:
            results = {b.name: json.loads((scratch / b.profile / RESULT_FILE).read_text()) for b in benchmarks}
        else:
            results = {b.name: run_benchmark(b, scratch / b.profile, args.from_stage) for b in benchmarks}
    command = (
        " ".join(["python -m benchmarks.accuracy", *(argv if argv is not None else sys.argv[1:])])
        if args.only or args.set or args.adapt != "none" or args.from_stage or args.render
        else "make bench-accuracy"
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(markdown(results, command, benchmarks), encoding="utf-8")
    print(Path(args.output).read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
