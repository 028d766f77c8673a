"""Great Expectations Data Docs that read well offline (a screenshot of them: prodcat/reports/data_docs_screenshot.py).

Stock Data Docs pull Bootstrap, jQuery, Font Awesome and the GX logo from public CDNs, and draw the
index tables with JavaScript. The views here render the same pages with our templates first: a small
inline stylesheet instead of the CDN imports, static index tables, and no remote links left over, so
`reports/data_docs/` opens complete from disk, on an air-gapped machine or in a CI artifact.
"""

from __future__ import annotations

import re
from pathlib import Path

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import ChoiceLoader, FileSystemLoader

SITE_NAME = "prodcat"
TEMPLATES = Path(__file__).with_name("data_docs")

_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>\s*", re.IGNORECASE)
_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.IGNORECASE)
_REMOTE_IMAGE = re.compile(r"<img\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>", re.IGNORECASE)


def strip_remote_assets(html: str) -> str:
    """Drop stylesheets, scripts and images fetched from the network; the brand image becomes text."""
    html = _REMOTE_SCRIPT.sub("", _REMOTE_LINK.sub("", html))
    return _REMOTE_IMAGE.sub('<span class="prodcat-brand">prodcat data quality</span>', html)


class _OfflineView:
    """Our templates (data_docs/) take precedence over the package's; remote assets are stripped."""

    def __init__(self, custom_styles_directory: str | None = None, custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)  # type: ignore[call-arg]
        self.env.loader = ChoiceLoader([FileSystemLoader(TEMPLATES), self.env.loader])  # type: ignore[attr-defined]

    def render(self, document, template=None, **kwargs) -> str:
        return strip_remote_assets(super().render(document, template, **kwargs))  # type: ignore[misc]


class OfflinePageView(_OfflineView, DefaultJinjaPageView):
    """Expectation suite and validation result pages."""


class OfflineIndexPageView(_OfflineView, DefaultJinjaIndexPageView):
    """The index page, its tables rendered as HTML instead of by bootstrap-table."""


def site_config(folder: Path) -> dict:
    """A local Data Docs site in `folder`, rendered by the offline views."""
    view = {"module_name": __name__, "class_name": OfflinePageView.__name__}
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(Path(folder).resolve())},
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "view": {"module_name": __name__, "class_name": OfflineIndexPageView.__name__},
        },
        "site_section_builders": {"expectations": {"view": view}, "validations": {"view": view}},
    }
