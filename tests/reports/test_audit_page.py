from __future__ import annotations

import json
import re

import pandas as pd

from prodcat.data.review import REVIEW_COLUMNS
from prodcat.reports.audit_page import render_audit_page

FINDINGS = pd.DataFrame(
    [
        ["a1", "label_error", "Fridges", "Freezers", 0.99, "train", "chest freezer <b>"],
        ["a2", "label_error", "Fridges", "Freezers", 0.97, "test", "upright freezer"],
        ["a3", "near_duplicate", "TVs", "Monitors", 0.95, "train", "27 inch screen"],
    ],
    columns=REVIEW_COLUMNS,
)
METRICS = {"train": {"rows": 50, "label_error": 0.02, "near_duplicate": 0.02}, "test": {"rows": 10, "label_error": 0.1, "leakage": 0.0}}


def test_the_audit_page_shows_the_top_rows_and_charts_the_shares_and_pairs_offline() -> None:
    page = render_audit_page(FINDINGS, METRICS, page_rows=2)
    assert "Review queue (top 2 of 3)" in page and "a2" in page and "a3" not in page.split("<h2>Review queue")[1]
    assert "chest freezer &lt;b&gt;" in page  # texts are escaped
    assert not re.search(r"<script[^>]+src=", page)  # Vega inline: no network
    charts = json.loads(re.search(r"const charts = (.*);", page)[1])
    shares = {(v["split"], v["issue"]): v["share"] for v in charts["chart-shares"]["data"]["values"]}
    assert shares == {
        ("train", "label_error"): 0.02,
        ("train", "near_duplicate"): 0.02,
        ("test", "label_error"): 0.1,
        ("test", "leakage"): 0.0,
    }
    assert charts["chart-pairs"]["data"]["values"] == [{"pair": "Fridges -> Freezers", "rows": 2}]
