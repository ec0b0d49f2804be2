"""Shared fixtures for the browser tests: one server, one Chromium, recorded pages.

One rule for every browser test in the suite: a missing Chromium (or
Playwright) fails the test when the ``CI`` environment variable is set, and
skips it with the reason otherwise. Modules that serve their own site use the
``browser`` fixture here and :class:`browser_util.Visit` for their pages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser_util import ARTIFACTS, Visit, chromium_available, launch_browser, serve_app, wait_for_app


def need_chromium() -> None:
    """Fail in CI, skip elsewhere, when Debian's Chromium or Playwright is missing."""
    if chromium_available():
        return
    reason = "needs /usr/bin/chromium and playwright"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server():
    """``panel serve app/main.py`` on a free loopback port, for the module."""
    need_chromium()
    with serve_app() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module."""
    need_chromium()
    with launch_browser() as b:
        yield b


class Page(Visit):
    """A page of the served app (no routing), its failed requests and dialogs recorded."""

    def __init__(self, browser, width=1280, height=900, color_scheme="light"):
        self.width, self.height = width, height
        super().__init__(browser, allow=None, viewport={"width": width, "height": height},
                         color_scheme=color_scheme)

    def open(self, url: str) -> dict:
        self.page.goto(url)
        return wait_for_app(self.page)

    def real_failures(self) -> list[str]:
        return [u for u in self.failed if "favicon" not in u]

    def shot(self, name: str, full_page: bool = True) -> str:
        ARTIFACTS.mkdir(exist_ok=True)
        path = str(ARTIFACTS / f"{name}.png")
        self.page.screenshot(path=path, full_page=full_page)
        return path


@pytest.fixture
def page(browser):
    p = Page(browser)
    yield p
    p.close()


@pytest.fixture
def make_page(browser):
    """``make_page(width=360, color_scheme="dark")``: pages closed after the test."""
    made = []

    def make(**kw):
        p = Page(browser, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture(scope="session")
def default_site(tmp_path_factory) -> Path:
    """``python build.py --out TMP``: the site as a user builds it, built once per test run.

    Shared by the modules that only read it (tests/test_build.py, tests/test_worker.py);
    a test that needs another build makes its own.
    """
    root = Path(__file__).resolve().parent.parent
    out = tmp_path_factory.mktemp("default-site") / "dist"
    proc = subprocess.run([sys.executable, str(root / "build.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, f"build.py failed:\n{proc.stdout}\n{proc.stderr}"
    return out
