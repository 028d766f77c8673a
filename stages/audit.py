"""Stage audit: suspected label errors, near-duplicates with different labels, leakage and outliers -> a review queue.

Label errors: cleanlab on the sparse model's calibrated class probabilities, out of fold on train and
from the train-fitted model on validation and test (each split audited on its own; held-out rows are
reported, never fitted on). Writes the ranked review queue (CSV, the shared review format), an offline
HTML page of it, and the flagged share per issue and split (a DVC metric).
"""

from __future__ import annotations

import logging
from pathlib import Path

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.data.audit import audit, issue_shares
from prodcat.data.splits import SPLITS, read_split
from prodcat.encoders.matrices import load_matrix
from prodcat.heads.sparse import load_temperature, probabilities
from prodcat.reports.audit_page import render_audit_page

log = logging.getLogger(__name__)

QUEUE_FILE = "label_issues.csv"
PAGE_FILE = "index.html"


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("audit"):
        params, paths = load_params(args.params), load_paths(args.paths)
        temperature = load_temperature(paths.sparse)
        splits, scored, names = {}, {}, []
        for split in SPLITS:
            splits[split], names, _ = read_split(paths.processed, split, columns=["id", "text", "label"])
            scored[split] = probabilities(load_matrix(Path(paths.sparse_scores, split)), temperature)
        findings = audit(splits, scored, names, params.audit)
        metrics = issue_shares(findings, {split: len(frame) for split, frame in splits.items()})
        with atomic_dir(paths.audit) as folder:
            findings.to_csv(Path(folder, QUEUE_FILE), index=False, lineterminator="\n")
            Path(folder, PAGE_FILE).write_text(render_audit_page(findings, metrics, params.audit.page_rows), encoding="utf-8")
        write_json(paths.audit_report, metrics)
        log.info("%d review rows: %s", len(findings), findings["issue"].value_counts().to_dict())


if __name__ == "__main__":
    main()
