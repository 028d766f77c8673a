from __future__ import annotations

from pathlib import Path

import pandas as pd

from flows.tasks import audit_markdown
from prodcat.data.review import REVIEW_COLUMNS


def test_the_audit_artifact_tabulates_the_shares_and_quotes_the_top_of_the_queue() -> None:
    metrics = {"train": {"rows": 100, "label_error": 0.03, "outlier": 0.01}, "test": {"rows": 20, "label_error": 0.05, "leakage": 0.1}}
    queue = pd.DataFrame(
        [["a1", "label_error", "Fridges", "Freezers", 0.99, "train", "chest freezer"], ["b2", "leakage", "TVs", "TVs", 1.0, "test", "tv"]],
        columns=REVIEW_COLUMNS,
    )
    markdown = audit_markdown(metrics, queue, Path("reports/audit"))
    assert "| split | rows | label_error | outlier | leakage |" in markdown
    assert "| train | 100 | 3.0% | 1.0% |  |" in markdown and "| test | 20 | 5.0% |  | 10.0% |" in markdown
    assert "Top 2 of 2 review rows:" in markdown and "| a1 | label_error | Fridges | Freezers | 0.99 | train |" in markdown
    assert "`reports/audit/index.html`" in markdown and "`reports/audit/label_issues.csv`" in markdown
