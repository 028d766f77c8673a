"""Vega-Lite charts that draw without a network: Vega, Vega-Lite and vega-embed inline in the page.

`dvc plots show` (and vega-embed's usual snippet) load the three libraries from a CDN, so on a
machine without internet the confusion matrices and training curves are a blank page.
vl-convert-python ships the same libraries as one JavaScript bundle; `inline_vega_scripts()` is
that bundle as a <script>, used by DVC's HTML template (written here, named by
`plots.html_template` in .dvc/config) and by the batch report and audit pages (prodcat/reports/batch_page.py, audit_page.py).

    python -m prodcat.reports.vega_offline     # writes the template .dvc/config names (`make install` runs it)
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import string
from pathlib import Path

import vl_convert
from dvc_render.vega_templates import TEMPLATES
from markupsafe import Markup

from prodcat.core.cli import cli_errors
from prodcat.core.errors import InputError
from prodcat.core.io import atomic_file

VL_CONVERT_VERSION: str = vl_convert.__version__  # type: ignore[attr-defined]  # set at run time, absent from its stub
_SCHEMA_MAJOR = re.compile(r"/schema/vega-lite/v(\d+)(?:\.\d+)*\.json$")

# DVC's placeholders (dvc_render.html): the plots, and the auto-refresh tag of `dvc plots show`.
# `{scripts}` is left out on purpose: it is where DVC puts its CDN <script src=...> tags.
DVC_PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}")
_DVC_PAGE = string.Template("""<!DOCTYPE html>
<html>
<head>
$header
<meta charset="utf-8">
{refresh_tag}
<title>DVC Plot</title>
$inline_scripts
<style>
table { border-spacing: 15px; }
</style>
</head>
<body>
{plot_divs}
</body>
</html>
""")


# The end of every inline-chart page (the batch report, the audit page): draw each `charts_json` spec
# into the div of its id, or say in that div why it was not drawn. A Jinja template tail.
CHARTS_SCRIPT = """<script>
const charts = {{ charts_json }};
for (const [id, spec] of Object.entries(charts)) {
  vegaEmbed("#" + id, spec, {actions: false}).catch((error) => {
    document.getElementById(id).textContent = "chart not drawn: " + error;
  });
}
</script>
</body>
</html>
"""


def script_json(payload: object) -> Markup:
    """JSON safe inside a <script> element: no '</script>' or '<!--' can come from the data."""
    text = json.dumps(payload, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def dvc_vega_lite_major() -> int:
    """The Vega-Lite major version DVC's plot templates are written for (their `$schema`)."""
    majors = {schema_major(template.DEFAULT_CONTENT["$schema"]) for template in TEMPLATES}
    if len(majors) != 1:
        raise RuntimeError(f"DVC's plot templates mix Vega-Lite major versions {sorted(majors)}")
    return majors.pop()


def schema_major(schema: str) -> int:
    if not (match := _SCHEMA_MAJOR.search(schema)):
        raise RuntimeError(f"DVC's plot template names no Vega-Lite schema version: {schema}")
    return int(match.group(1))


def vega_lite_version() -> str:
    """The newest Vega-Lite in vl-convert's bundle that reads DVC's specs (same major version)."""
    major = dvc_vega_lite_major()
    versions = [v for v in vl_convert.get_vegalite_versions() if int(v.split(".")[0]) == major]
    if not versions:
        raise RuntimeError(f"vl-convert {VL_CONVERT_VERSION} bundles no Vega-Lite {major}.x, which DVC's plots use")
    return max(versions, key=lambda version: tuple(int(part) for part in version.split(".")))


def bundle_header() -> str:
    """An HTML comment naming what is inlined; it changes whenever the bundle would."""
    return (
        f"<!-- Vega {vl_convert.get_vega_version()}, Vega-Lite {vega_lite_version()}, vega-embed "
        f"{vl_convert.get_vega_embed_version()} inline (vl-convert-python {VL_CONVERT_VERSION}) -->"
    )


@functools.cache
def inline_vega_scripts() -> str:
    """One <script> that defines `vega`, `vegaLite` and `vegaEmbed` on `window`, needing no network.

    The bundle runs inside a function so that its thousand top-level names stay out of the page's
    global scope (DVC's plot snippets declare `var spec`).
    """
    bundle = vl_convert.javascript_bundle(vl_version=vega_lite_version())  # type: ignore[call-arg]  # the stub omits snippet's default
    if "</script" in bundle.lower() or "<!--" in bundle:
        raise RuntimeError("the Vega bundle contains '</script' or '<!--' and cannot be inlined as is")
    return f"<script>\n(() => {{\n{bundle}\n}})();\n</script>"


def dvc_html_template() -> str:
    """The page `dvc plots show` fills: DVC's default layout with the libraries inline instead of from a CDN."""
    scripts = inline_vega_scripts()
    if any(placeholder in scripts for placeholder in (*DVC_PLACEHOLDERS, "{scripts}")):
        raise RuntimeError("the Vega bundle contains a DVC template placeholder")  # DVC would replace it
    return _DVC_PAGE.substitute(header=bundle_header(), inline_scripts=scripts)


def configured_dvc_template(repo_root: Path = Path(".")) -> Path:
    """Where `plots.html_template` in the repository's DVC config points (relative to .dvc/, as DVC reads it)."""
    from dvc.repo import Repo  # heavy to import; the report page does not need it

    with Repo(str(repo_root)) as repo:
        configured = repo.config["plots"].get("html_template")
        if not configured:
            raise InputError(f"no plots.html_template in {Path(repo.dvc_dir, 'config')}")
        return Path(repo.dvc_dir, configured)


def write_dvc_template(path: Path) -> bool:
    """Write the template unless it is already there for the installed libraries; True if written."""
    if path.is_file():
        with path.open(encoding="utf-8") as existing:
            if bundle_header() in existing.read(1000):
                return False
    with atomic_file(path) as scratch:
        scratch.write_text(dvc_html_template(), encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the offline HTML template for `dvc plots show`.")
    parser.add_argument("--output", type=Path, help="where to write it (default: plots.html_template in .dvc/config)")
    args = parser.parse_args(argv)
    with cli_errors("vega_offline"):
        path = args.output or configured_dvc_template()
        print(f"{'wrote' if write_dvc_template(path) else 'up to date'}: {path}")


if __name__ == "__main__":
    main()
