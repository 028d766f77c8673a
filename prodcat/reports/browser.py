"""Headless Chromium with the network blocked: screenshots and rendered DOM of local report pages.

Used to check that a page reads offline (Data Docs, DVC plots, the batch report): every request to
another host fails at once, so whatever a page needs must already be in it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from prodcat.core.errors import InputError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",  # any request through the proxy fails fast
    "--host-resolver-rules=MAP * ~NOTFOUND",  # and no host name resolves
)


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def _run_offline(page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Open `page` (a local file) in a fresh profile with the network blocked."""
    chromium = find_chromium()
    if chromium is None:
        raise InputError("chromium not found; install it (e.g. `apt-get install -y chromium`)")
    with tempfile.TemporaryDirectory(prefix="prodcat-chromium-") as profile:
        command = [chromium, *OFFLINE_FLAGS, f"--user-data-dir={profile}", *flags, page.resolve().as_uri()]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)


def screenshot(page: Path, output: Path, width: int = 1400, height: int = 2000) -> Path:
    """A PNG of `page` as it renders offline."""
    output.parent.mkdir(parents=True, exist_ok=True)
    _run_offline(page, f"--window-size={width},{height}", f"--screenshot={output.resolve()}")
    if not output.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {page}")
    return output


def rendered_dom(page: Path, budget_ms: int = 10_000) -> str:
    """The page's DOM after its scripts ran offline (virtual time lets async chart rendering finish)."""
    return _run_offline(page, f"--virtual-time-budget={budget_ms}", "--dump-dom").stdout
