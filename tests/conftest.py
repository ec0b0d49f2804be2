"""Shared fixtures for the browser tests: one server, one Chromium, recorded pages.

A missing Chromium (or Playwright) fails the browser tests when the ``CI``
environment variable is set, and skips them with the reason otherwise.
"""

from __future__ import annotations

import os

import pytest
from browser_util import ARTIFACTS, chromium_available, launch_browser, serve_app, wait_for_app


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


class Page:
    """A page with its console messages, failed requests and dialogs recorded."""

    def __init__(self, browser, width=1280, height=900, color_scheme="light"):
        self.width, self.height = width, height
        self.ctx = browser.new_context(viewport={"width": width, "height": height},
                                       color_scheme=color_scheme)
        self.page = self.ctx.new_page()
        self.console: list[tuple[str, str]] = []
        self.failed: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("error", str(e))))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("response", lambda r: self.failed.append(r.url) if r.status >= 400 else None)

        def dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", dialog)

    def open(self, url: str) -> dict:
        self.page.goto(url)
        return wait_for_app(self.page)

    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"]

    def real_failures(self) -> list[str]:
        return [u for u in self.failed if "favicon" not in u]

    def shot(self, name: str, full_page: bool = True) -> str:
        ARTIFACTS.mkdir(exist_ok=True)
        path = str(ARTIFACTS / f"{name}.png")
        self.page.screenshot(path=path, full_page=full_page)
        return path

    def close(self):
        self.ctx.close()


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
