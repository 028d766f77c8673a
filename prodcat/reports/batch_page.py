"""The per-batch drift and quality report as one HTML page that opens offline.

The report JSON (written next to each batch's predictions) says whether the batch looks like the
training data; this page shows it to a person: a summary table, the warnings, and Vega-Lite charts
of the reference and batch distributions (text length, price, predicted labels, and their top level
when the labels are paths). The Vega libraries are inline (prodcat/reports/vega_offline.py), so the
page draws its charts without a network.

    prodcat batch-page predictions.parquet.report.json     # writes predictions.parquet.report.html
"""

from __future__ import annotations

import itertools
from pathlib import Path

from jinja2 import Environment
from markupsafe import Markup

from prodcat.core.errors import InputError
from prodcat.core.io import atomic_file, read_json
from prodcat.reports.vega_offline import CHARTS_SCRIPT, inline_vega_scripts, script_json

SAMPLES = ("reference", "batch")
REQUIRED_KEYS = (
    "rows",
    "variant",
    "model_fingerprint",
    "input_failures",
    "unseen_categoricals",
    "text_length",
    "price",
    "predicted_labels",
    "predicted_levels",
    "low_confidence",
    "warnings",
)
_VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
_COLOURS = {"domain": list(SAMPLES), "range": ["#9aa5b1", "#d9480f"]}

_PAGE = Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Batch report: {{ report.rows }} rows, {{ report.variant }}</title>
{{ scripts }}
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { text-align: left; padding: 0.25rem 0.75rem; border-bottom: 1px solid #d9e2ec; }
.warnings { background: #fff4e6; border-left: 4px solid #d9480f; padding: 0.5rem 1rem; }
.ok { background: #ebfbee; border-left: 4px solid #2b8a3e; padding: 0.5rem 1rem; }
.charts { display: flex; flex-wrap: wrap; gap: 2rem; }
</style>
</head>
<body>
<h1>Batch report</h1>
{% if report.warnings %}
<div class="warnings"><strong>Warnings</strong><ul>
{% for warning in report.warnings %}<li>{{ warning }}</li>{% endfor %}
</ul></div>
{% else %}
<p class="ok">No warnings: the batch looks like the training data.</p>
{% endif %}
<h2>Summary</h2>
<table>
<tr><th>rows</th><td>{{ report.rows }}</td></tr>
<tr><th>variant</th><td>{{ report.variant }}</td></tr>
<tr><th>model fingerprint</th><td><code>{{ report.model_fingerprint }}</code></td></tr>
<tr><th>rows failing the input checks</th><td>{{ percent(report.input_failures.share) }}</td></tr>
<tr><th>text length PSI</th><td>{{ "%.3f"|format(report.text_length.psi) }}</td></tr>
<tr><th>price PSI</th><td>{{ "%.3f"|format(report.price.psi) if report.price else "no prices" }}</td></tr>
<tr><th>predicted labels PSI</th><td>{{ "%.3f"|format(report.predicted_labels.psi) }}</td></tr>
{% if levels %}<tr><th>label depth (levels)</th><td>{{ levels|length }}</td></tr>{% endif %}
{% for entry in levels[:-1] %}<tr><th>predicted level {{ entry.level }} PSI</th><td>{{ "%.3f"|format(entry.psi) }}</td></tr>
{% endfor %}
<tr><th>low-confidence predictions (below {{ report.low_confidence.threshold }})</th>
<td>{{ percent(report.low_confidence.share) }}</td></tr>
</table>
<h2>Input checks</h2>
{% if report.input_failures.checks %}
<table><tr><th>check</th><th>rows failing</th></tr>
{% for check, share in report.input_failures.checks.items() %}<tr><td>{{ check }}</td><td>{{ percent(share) }}</td></tr>{% endfor %}
</table>
{% else %}<p>Every row passed.</p>{% endif %}
<h2>Categorical values unseen in training</h2>
{% if report.unseen_categoricals %}
<table><tr><th>column</th><th>rows</th><th>examples</th></tr>
{% for column, unseen in report.unseen_categoricals.items() %}
<tr><td>{{ column }}</td><td>{{ percent(unseen.share) }}</td><td>{{ unseen.examples|join(", ") }}</td></tr>
{% endfor %}
</table>
{% else %}<p>None.</p>{% endif %}
<h2>Reference (training data) and batch</h2>
<div class="charts">
{% for chart_id in charts %}<div id="{{ chart_id }}"></div>{% endfor %}
</div>
"""
    + CHARTS_SCRIPT
)


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def bin_labels(edges: list[float]) -> list[str]:
    """Names of the bins prodcat.inference.drift cuts at `edges`: the first and last are open-ended."""
    inner = [f"{low:.4g} to {high:.4g}" for low, high in itertools.pairwise(edges)]
    return [f"below {edges[0]:.4g}", *inner, f"{edges[-1]:.4g} and above"]


def histogram_spec(title: str, axis_title: str, section: dict) -> dict:
    """Grouped bars: the share of rows per bin, reference next to batch (bins may differ in width)."""
    edges = section["edges"]
    for sample in SAMPLES:
        if len(section[sample]) != len(edges) + 1:
            raise InputError(f"report {title}: {len(edges)} edges but {len(section[sample])} {sample} shares (expected {len(edges) + 1})")
    bins = bin_labels(edges)
    values = [
        {"bin": label, "sample": sample, "share": share} for sample in SAMPLES for label, share in zip(bins, section[sample], strict=True)
    ]
    return _grouped_bars(f"{title} (PSI {section['psi']:.3f})", "bin", axis_title, bins, values)


def label_shares_spec(section: dict, title: str = "predicted labels", axis_title: str = "predicted label") -> dict:
    """Grouped bars: the share of each predicted label (or ancestor at one level), training's next to the batch's."""
    labels = sorted(set(section["reference"]) | set(section["batch"]))
    values = [{"label": label, "sample": sample, "share": section[sample].get(label, 0.0)} for sample in SAMPLES for label in labels]
    return _grouped_bars(f"{title} (PSI {section['psi']:.3f})", "label", axis_title, labels, values)


def _grouped_bars(title: str, field: str, axis_title: str, order: list[str], values: list[dict]) -> dict:
    return {
        "$schema": _VEGA_LITE_SCHEMA,
        "title": title,
        "data": {"values": values},
        "mark": {"type": "bar", "tooltip": True},
        "width": {"step": 28},
        "height": 220,
        "encoding": {
            "x": {"field": field, "type": "nominal", "sort": order, "title": axis_title, "axis": {"labelAngle": -40}},
            "xOffset": {"field": "sample", "sort": list(SAMPLES)},
            "y": {"field": "share", "type": "quantitative", "title": "share of rows", "axis": {"format": "%"}},
            "color": {"field": "sample", "type": "nominal", "scale": _COLOURS, "title": None},
        },
    }


def report_charts(report: dict) -> dict[str, dict]:
    """The page's charts by element id; no price chart when the batch had no price column, a level-0 chart when labels are paths."""
    charts = {"chart-text-length": histogram_spec("text length", "text length", report["text_length"])}
    if report["price"]:
        charts["chart-price"] = histogram_spec("price", "price", report["price"])
    charts["chart-predicted-labels"] = label_shares_spec(report["predicted_labels"])
    if len(levels := report["predicted_levels"]) > 1:
        charts["chart-predicted-level-0"] = label_shares_spec(levels[0], "predicted level 0", "level 0")
    return charts


def render_report_page(report: dict) -> str:
    """A self-contained HTML page of a batch report (the JSON written with the batch's predictions, in the current format)."""
    missing = [key for key in REQUIRED_KEYS if key not in report]
    if missing:
        raise InputError(f"the batch report lacks {', '.join(missing)}")
    charts = report_charts(report)
    return _PAGE.render(
        report=report,
        levels=report["predicted_levels"],
        percent=_percent,
        charts=list(charts),
        charts_json=script_json(charts),
        scripts=Markup(inline_vega_scripts()),
    )


def write_report_page(report: Path, output: Path | None = None) -> Path:
    """Render a batch report JSON as its page, by default beside it with .html (`prodcat batch-page`); the page's path."""
    if not report.is_file():
        raise InputError(f"no report at {report}")
    output = output or report.with_suffix(".html")
    page = render_report_page(read_json(report))
    with atomic_file(output) as scratch:
        scratch.write_text(page, encoding="utf-8")
    return output
