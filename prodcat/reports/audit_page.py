"""The catalog audit as one HTML page that opens offline: the shares per issue and split, the most frequent
given -> suggested label pairs, and the top of the review queue (the CSV beside it has every row).

The Vega libraries are inline (prodcat/reports/vega_offline.py), as on the batch report page.
"""

from __future__ import annotations

import pandas as pd
from jinja2 import Environment
from markupsafe import Markup

from prodcat.reports.vega_offline import CHARTS_SCRIPT, inline_vega_scripts, script_json

_VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
TOP_PAIRS = 15  # label-error pairs (given -> suggested) charted

_PAGE = Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Catalog audit: {{ rows|length }} of {{ total }} review rows</title>
{{ scripts }}
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }
table { border-collapse: collapse; margin-bottom: 1.5rem; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.25rem 0.6rem; border-bottom: 1px solid #d9e2ec; vertical-align: top; }
td.text { max-width: 40rem; }
.charts { display: flex; flex-wrap: wrap; gap: 2rem; }
</style>
</head>
<body>
<h1>Catalog audit</h1>
<p>Fix a row by adding <code>id,label</code> (a class, or <code>exclude</code>) to the corrections file
(<code>preprocess.corrections</code>), then <code>dvc repro</code> and <code>dvc metrics diff</code>.</p>
<h2>Flagged share of each split</h2>
<table><tr><th>split</th><th>rows</th>{% for issue in issues %}<th>{{ issue }}</th>{% endfor %}</tr>
{% for split, shares in metrics.items() %}<tr><td>{{ split }}</td><td>{{ shares.rows }}</td>
{% for issue in issues %}<td>{{ percent(shares.get(issue)) }}</td>{% endfor %}</tr>
{% endfor %}</table>
<div class="charts">{% for chart_id in charts %}<div id="{{ chart_id }}"></div>{% endfor %}</div>
<h2>Review queue (top {{ rows|length }} of {{ total }})</h2>
<table><tr>{% for column in columns %}<th>{{ column }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for column in columns %}<td{% if column == "text" %} class="text"{% endif %}>{{ row[column] }}</td>{% endfor %}</tr>
{% endfor %}</table>
"""
    + CHARTS_SCRIPT
)


def _percent(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.1f}%"


def shares_spec(metrics: dict[str, dict[str, float]], issues: list[str]) -> dict:
    """Grouped bars: the share of each split's rows flagged, per issue type."""
    values = [
        {"issue": issue, "split": split, "share": shares[issue]} for split, shares in metrics.items() for issue in issues if issue in shares
    ]
    return {
        "$schema": _VEGA_LITE_SCHEMA,
        "title": "flagged share per issue",
        "data": {"values": values},
        "mark": {"type": "bar", "tooltip": True},
        "width": {"step": 24},
        "height": 220,
        "encoding": {
            "x": {"field": "issue", "type": "nominal", "sort": issues, "title": "issue"},
            "xOffset": {"field": "split", "sort": list(metrics)},
            "y": {"field": "share", "type": "quantitative", "title": "share of rows", "axis": {"format": "%"}},
            "color": {"field": "split", "type": "nominal", "sort": list(metrics)},
        },
    }


def pairs_spec(findings: pd.DataFrame) -> dict:
    """Horizontal bars: the most frequent given -> suggested pairs among suspected label errors (where the taxonomy confuses)."""
    errors = findings[findings["issue"] == "label_error"]
    counts = (errors["given_label"] + " -> " + errors["suggested_label"]).value_counts().head(TOP_PAIRS)
    return {
        "$schema": _VEGA_LITE_SCHEMA,
        "title": "suspected label errors: given -> suggested",
        "data": {"values": [{"pair": pair, "rows": int(rows)} for pair, rows in counts.items()]},
        "mark": {"type": "bar", "tooltip": True},
        "width": 320,
        "encoding": {
            "y": {"field": "pair", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "rows", "type": "quantitative", "title": "rows"},
        },
    }


def render_audit_page(findings: pd.DataFrame, metrics: dict[str, dict[str, float]], page_rows: int) -> str:
    """A self-contained HTML page of the audit: `findings` in the review format (ranked), `metrics` as in metrics/audit.json."""
    issues = list(dict.fromkeys(issue for shares in metrics.values() for issue in shares if issue != "rows"))
    charts = {"chart-shares": shares_spec(metrics, issues), "chart-pairs": pairs_spec(findings)}
    return _PAGE.render(
        metrics=metrics,
        issues=issues,
        percent=_percent,
        columns=list(findings.columns),
        rows=findings.head(page_rows).to_dict("records"),
        total=len(findings),
        charts=list(charts),
        charts_json=script_json(charts),
        scripts=Markup(inline_vega_scripts()),
    )
