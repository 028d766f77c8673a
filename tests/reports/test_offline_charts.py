"""Charts that draw offline: `dvc plots show` with the repository's template, and the batch report page.

The browser tests open the pages in headless Chromium with the network blocked and read the rendered
DOM: a chart counts as drawn when its SVG holds the axis titles, category names and bars of its data.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from devtools.scratch_repo import ROOT
from prodcat.core.errors import InputError
from prodcat.inference.drift import REPORT_FORMAT
from prodcat.reports.batch_page import render_report_page, report_charts
from prodcat.reports.browser import find_chromium, rendered_dom
from prodcat.reports.vega_offline import (
    bundle_header,
    configured_dvc_template,
    dvc_html_template,
    dvc_vega_lite_major,
    vega_lite_version,
    write_dvc_template,
)

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")

_FLAT_LABELS = {
    "psi": 0.05,
    "reference": {"Toys & Games": 0.5, "Home</script>": 0.5},
    "batch": {"Toys & Games": 0.4, "Pet Supplies": 0.6},
}
REPORT = {
    "format_version": REPORT_FORMAT,
    "rows": 1000,
    "variant": "fusion",
    "model_fingerprint": "sha256:abc123",
    "input_failures": {"share": 0.01, "checks": {"price_format": 0.01}},
    "unseen_categoricals": {"Is Amazon Seller": {"share": 0.2, "examples": ["<b>maybe</b>", "Z"]}},
    "text_length": {"psi": 0.31, "edges": [50, 100], "reference": [0.2, 0.5, 0.3], "batch": [0.1, 0.6, 0.3]},
    "price": {"psi": 0.1, "edges": [10, 25.5], "reference": [0.3, 0.4, 0.3], "batch": [0.2, 0.4, 0.4]},
    "predicted_labels": _FLAT_LABELS,
    "predicted_levels": [{"level": 0, **_FLAT_LABELS}],
    "low_confidence": {"threshold": 0.5, "share": 0.12},
    "warnings": ["text_length PSI 0.31 > 0.25"],
}

_PATH_LABELS = {"psi": 0.9, "reference": {"A | x": 0.4, "A | y": 0.1, "B | x": 0.5}, "batch": {"A | x": 0.0, "A | y": 0.8, "B | x": 0.2}}
TWO_LEVEL_REPORT = {
    **REPORT,
    "predicted_labels": _PATH_LABELS,
    "predicted_levels": [
        {"level": 0, "psi": 0.415888, "reference": {"A": 0.5, "B": 0.5}, "batch": {"A": 0.8, "B": 0.2}},
        {"level": 1, **_PATH_LABELS},
    ],
}


class _Charts(HTMLParser):
    """Per chart container (a <div> with one of `ids`): its Vega <svg> count, <text> strings and bars' aria labels."""

    def __init__(self, ids: set[str]) -> None:
        super().__init__()
        self.charts = {chart: {"svgs": 0, "texts": set(), "bars": []} for chart in ids}
        self._chart: str | None = None
        self._depth = 0
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self._chart is None:
            if tag == "div" and attributes.get("id") in self.charts:
                self._chart, self._depth = attributes["id"], 1
            return
        chart = self.charts[self._chart]
        self._depth += tag == "div"
        chart["svgs"] += tag == "svg" and "marks" in (attributes.get("class") or "").split()  # not vega-embed's menu icon
        self._in_text = tag == "text"
        if attributes.get("aria-roledescription") == "bar":
            chart["bars"].append(attributes["aria-label"])

    def handle_endtag(self, tag: str) -> None:
        self._in_text = False
        if self._chart is not None and tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self._chart = None

    def handle_data(self, data: str) -> None:
        if self._chart is not None and self._in_text:
            self.charts[self._chart]["texts"].add(data)


def drawn_charts(page: Path, ids: set[str]) -> dict[str, dict]:
    parser = _Charts(ids)
    parser.feed(rendered_dom(page))
    return parser.charts


def bar_values(labels: list[str], x_title: str) -> dict[tuple[str, str], float]:
    """{(category, sample): percent} from Vega-Lite's bar descriptions ("x: below 50; share of rows: 20%; sample: batch")."""
    bars = [dict(part.split(": ", 1) for part in label.split("; ")) for label in labels]
    return {(bar[x_title], bar["sample"]): round(float(bar["share of rows"].rstrip("%")), 6) for bar in bars}


# --- the inline bundle and DVC's template --------------------------------------------------------------


def test_inline_vega_lite_is_the_major_version_of_dvcs_plot_specs() -> None:
    assert dvc_vega_lite_major() == 5  # "$schema": ".../vega-lite/v5.json" in dvc_render's templates
    assert vega_lite_version().startswith("5.")
    assert f"Vega-Lite {vega_lite_version()}," in bundle_header()


def test_dvc_template_has_dvcs_placeholders_and_no_cdn_scripts() -> None:
    template = dvc_html_template()
    assert "{plot_divs}" in template and "{refresh_tag}" in template
    assert "{scripts}" not in template  # where DVC would put its CDN <script src=...> tags
    assert not re.search(r"<script[^>]+src=", template)
    assert "window.vegaEmbed=" in template


def test_template_is_rewritten_only_when_the_bundle_changes(tmp_path: Path) -> None:
    path = tmp_path / "plots_offline.html"
    assert write_dvc_template(path) is True
    assert write_dvc_template(path) is False
    path.write_text(path.read_text(encoding="utf-8").replace(bundle_header(), "<!-- an older bundle -->"), encoding="utf-8")
    assert write_dvc_template(path) is True
    assert bundle_header() in path.read_text(encoding="utf-8")


CONFUSION = [
    {"actual": "Toys & Games", "predicted": "Toys & Games"},
    {"actual": "Toys & Games", "predicted": "Pet Supplies"},
    {"actual": "Pet Supplies", "predicted": "Pet Supplies"},
]
PLOTS_YAML = """plots:
  - plots/confusion:
      template: confusion
      x: actual
      y: predicted
  - dvclive/plots/metrics:
      x: step
"""


def plots_repo(repo: Path, project_config: bool) -> Path:
    """A git + DVC repo with a confusion plot and a training curve shaped like the pipeline's; with
    `project_config`, the project's committed .dvc/config and its template written as `make install` does."""
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    if project_config:
        shutil.copy2(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
        write_dvc_template(configured_dvc_template(repo))
    (repo / "plots" / "confusion").mkdir(parents=True)
    (repo / "plots" / "confusion" / "fusion.json").write_text(json.dumps(CONFUSION), encoding="utf-8")
    (repo / "dvclive" / "plots" / "metrics" / "train").mkdir(parents=True)
    (repo / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").write_text("step\tloss\n10\t2.5\n20\t1.25\n", encoding="utf-8")
    (repo / "dvc.yaml").write_text(PLOTS_YAML, encoding="utf-8")
    return repo


def plots_show(repo: Path) -> Path:
    subprocess.run([sys.executable, "-m", "dvc", "plots", "show"], cwd=repo, check=True, capture_output=True)
    return repo / "dvc_plots" / "index.html"


DVC_CHARTS = {"plots_confusion_fusion_json", "dvclive_plots_metrics_train_loss_tsv"}


@needs_chromium
def test_dvc_plots_show_draws_offline_with_the_repository_config(tmp_path: Path) -> None:
    charts = drawn_charts(plots_show(plots_repo(tmp_path / "repo", project_config=True)), DVC_CHARTS)
    confusion, loss = charts["plots_confusion_fusion_json"], charts["dvclive_plots_metrics_train_loss_tsv"]
    assert confusion["svgs"] == 1 and {"actual", "predicted", "Toys & Games", "Pet Supplies"} <= confusion["texts"]
    assert loss["svgs"] == 1 and {"step", "loss", "dvclive/plots/metrics/train/loss.tsv"} <= loss["texts"]


@needs_chromium
def test_control_dvcs_default_page_draws_nothing_offline(tmp_path: Path) -> None:
    """DVC's own page loads Vega from a CDN: offline it draws no chart (what the template fixes)."""
    page = plots_show(plots_repo(tmp_path / "repo", project_config=False))
    assert "https://cdn.jsdelivr.net/npm/vega@" in page.read_text(encoding="utf-8")
    charts = drawn_charts(page, DVC_CHARTS)
    assert [chart["svgs"] for chart in charts.values()] == [0, 0]
    assert not any(chart["texts"] for chart in charts.values())


# --- the batch report page -----------------------------------------------------------------------------


def test_report_page_is_self_contained_and_escapes_the_data() -> None:
    page = render_report_page(REPORT)
    assert not re.search(r"(?:src|href)=\"https?://", page)
    assert page.count("<script") == page.count("</script>") == 2  # the bundle and the charts; no label closes one
    assert "text_length PSI 0.31 &gt; 0.25" in page
    assert "<td>12.0%</td>" in page and "<td>0.310</td>" in page and "(below 0.5)" in page
    assert "&lt;b&gt;maybe&lt;/b&gt;, Z" in page
    assert 'id="chart-price"' in page


def test_report_page_without_prices_or_warnings() -> None:
    page = render_report_page({**REPORT, "price": None, "warnings": [], "unseen_categoricals": {}})
    assert "<td>no prices</td>" in page and 'id="chart-price"' not in page
    assert "No warnings" in page and "<p>None.</p>" in page


def test_report_page_of_path_labels_shows_the_depth_and_the_top_level() -> None:
    page = render_report_page(TWO_LEVEL_REPORT)
    assert "<tr><th>label depth (levels)</th><td>2</td></tr>" in page
    assert "<tr><th>predicted level 0 PSI</th><td>0.416</td></tr>" in page and "predicted level 1 PSI" not in page
    assert 'id="chart-predicted-level-0"' in page
    chart = report_charts(TWO_LEVEL_REPORT)["chart-predicted-level-0"]
    assert chart["title"] == "predicted level 0 (PSI 0.416)"
    assert chart["data"]["values"] == [
        {"label": "A", "sample": "reference", "share": 0.5},
        {"label": "B", "sample": "reference", "share": 0.5},
        {"label": "A", "sample": "batch", "share": 0.8},
        {"label": "B", "sample": "batch", "share": 0.2},
    ]
    flat = render_report_page({**REPORT, "predicted_levels": [{"level": 0, **REPORT["predicted_labels"]}]})
    assert "<tr><th>label depth (levels)</th><td>1</td></tr>" in flat and 'id="chart-predicted-level-0"' not in flat


def test_report_page_rejects_a_report_it_cannot_draw() -> None:
    with pytest.raises(InputError, match=r"report text length: 2 edges but 2 batch shares \(expected 3\)"):
        render_report_page({**REPORT, "text_length": {**REPORT["text_length"], "batch": [0.5, 0.5]}})
    with pytest.raises(InputError, match=r"the batch report lacks low_confidence, warnings"):
        render_report_page({key: value for key, value in REPORT.items() if key not in ("low_confidence", "warnings")})


@needs_chromium
def test_report_page_draws_its_charts_offline(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report_page(REPORT), encoding="utf-8")
    charts = drawn_charts(page, {"chart-text-length", "chart-price", "chart-predicted-labels"})
    text_length, price, labels = charts["chart-text-length"], charts["chart-price"], charts["chart-predicted-labels"]
    assert [chart["svgs"] for chart in (text_length, price, labels)] == [1, 1, 1]
    assert {"text length (PSI 0.310)", "below 50", "100 and above", "share of rows", "reference", "batch"} <= text_length["texts"]
    assert bar_values(text_length["bars"], "text length") == {
        ("below 50", "reference"): 20.0,
        ("50 to 100", "reference"): 50.0,
        ("100 and above", "reference"): 30.0,
        ("below 50", "batch"): 10.0,
        ("50 to 100", "batch"): 60.0,
        ("100 and above", "batch"): 30.0,
    }
    assert {"price (PSI 0.100)", "10 to 25.5", "25.5 and above"} <= price["texts"] and len(price["bars"]) == 6
    assert {"predicted labels (PSI 0.050)", "Home</script>", "Pet Supplies", "Toys & Games"} <= labels["texts"]
    assert bar_values(labels["bars"], "predicted label") == {
        ("Home</script>", "reference"): 50.0,
        ("Pet Supplies", "reference"): 0.0,
        ("Toys & Games", "reference"): 50.0,
        ("Home</script>", "batch"): 0.0,
        ("Pet Supplies", "batch"): 60.0,
        ("Toys & Games", "batch"): 40.0,
    }


@needs_chromium
def test_report_page_of_path_labels_draws_the_top_level_offline(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report_page(TWO_LEVEL_REPORT), encoding="utf-8")
    chart = drawn_charts(page, {"chart-predicted-level-0"})["chart-predicted-level-0"]
    assert chart["svgs"] == 1 and {"predicted level 0 (PSI 0.416)", "A", "B"} <= chart["texts"]
    assert bar_values(chart["bars"], "level 0") == {
        ("A", "reference"): 50.0,
        ("B", "reference"): 50.0,
        ("A", "batch"): 80.0,
        ("B", "batch"): 20.0,
    }
