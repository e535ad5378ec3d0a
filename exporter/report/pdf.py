"""Print the HTML report to PDF with headless Chromium.

Why Chromium: the HTML is the report; printing it with a real browser keeps the PDF
exactly what a reader who prints the HTML gets, with no second layout engine to keep
in step. Chromium is not a Python dependency: without it, PDF output fails with a
message saying how to install it (HTML and Markdown need nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 120.0


class PdfError(Exception):
    """PDF output is not possible here; the message says why and what to install."""


def find_chromium() -> str | None:
    """``$DEVSECOPS_CHROMIUM`` when set, else the first Chromium on PATH."""
    configured = os.environ.get("DEVSECOPS_CHROMIUM")
    if configured:
        return shutil.which(configured) or None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_command(browser: str, profile: str) -> list[str]:
    """Headless flags shared by printing and the screenshot test."""
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions",
            "--no-first-run", "--disable-dev-shm-usage", "--allow-file-access-from-files",
            f"--user-data-dir={profile}"]


def html_to_pdf(html: str) -> bytes:
    """The PDF Chromium prints from ``html`` (raises PdfError)."""
    browser = find_chromium()
    if browser is None:
        raise PdfError("PDF output needs headless Chromium, which was not found on PATH: "
                       "install it (Debian/Ubuntu: apt-get install chromium) or set "
                       "DEVSECOPS_CHROMIUM to its path; --format html prints to the same "
                       "layout from any browser")
    with tempfile.TemporaryDirectory(prefix="devsecops-report-") as work:
        source = Path(work, "report.html")
        source.write_text(html, encoding="utf-8")
        target = Path(work, "report.pdf")
        command = [*chromium_command(browser, str(Path(work, "profile"))),
                   "--no-pdf-header-footer", f"--print-to-pdf={target}", source.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not print the report within {TIMEOUT:.0f}s") from None
        if not target.exists() or target.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise PdfError(f"Chromium did not print the report (exit {done.returncode}): "
                           + " | ".join(tail))
        return target.read_bytes()
