"""Helpers for driving the served app in Debian's Chromium through Playwright.

Used by tests/test_app_browser.py and bench/ui_latency.py: start ``panel
serve app/main.py`` on a free loopback port, launch Chromium, wait for the
waterfall, and read its data from BokehJS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]

def waterfall_js(which: str = "any", min_docs: int = 1) -> str:
    """JS returning the waterfall's data as BokehJS holds it (the ColumnDataSource named
    "waterfall"), or null.

    Parameters
    ----------
    which
        ``"any"``: the first document that has one; ``"last"``: the last document
        BokehJS holds (the one on screen once the live app replaces the pre-rendered one).
    min_docs
        Return null until BokehJS holds at least this many documents (2: the live
        document has joined the pre-rendered one).
    """
    docs = "docs" if which == "any" else "docs.slice(-1)"
    return f"""() => {{
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  if (docs.length < {min_docs}) return null;
  for (const d of {docs}) {{
    const m = d.get_model_by_name('waterfall');
    if (m) {{
      const out = {{}};
      for (const [k, v] of m.data instanceof Map ? m.data.entries() : Object.entries(m.data)) {{
        out[k] = Array.from(v);
      }}
      return out;
    }}
  }}
  return null;
}}"""


#: The waterfall of the first document that has one.
JS_WATERFALL = waterfall_js()
#: The waterfall of the document on screen (the last one BokehJS holds).
JS_LAST_WATERFALL = waterfall_js("last")


def chromium_available() -> bool:
    """Whether Debian's Chromium and Playwright are installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``fn`` until it returns something truthy; raise TimeoutError after ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


@contextlib.contextmanager
def serve_app(port: int | None = None, timeout: float = 60.0):
    """Run ``panel serve app/main.py`` on 127.0.0.1; yield the base URL."""
    port = port or free_port()
    log = ARTIFACTS / "panel-serve.log"
    ARTIFACTS.mkdir(exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", "app/main.py", "--port", str(port),
             "--address", "127.0.0.1", f"--allow-websocket-origin=127.0.0.1:{port}"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            def up():
                if proc.poll() is not None:
                    raise RuntimeError(f"panel serve exited ({proc.returncode}); see {log}")
                with socket.socket() as s:
                    return s.connect_ex(("127.0.0.1", port)) == 0
            wait_until(up, timeout=timeout, interval=0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def launch_browser():
    """A headless Chromium (Debian's) driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """A browser context whose console, page errors, requests and dialogs are recorded.

    Parameters
    ----------
    browser
        A Playwright browser (see :func:`launch_browser`).
    allow
        URL prefixes that may answer. Any other request is refused as if the
        network were down and its URL recorded in ``foreign``. ``None`` routes
        nothing (a served app whose own failures are recorded in ``failed``).
    map_url
        ``url -> local path or None``: a refused URL with a local copy is
        answered from that file instead.
    quiet
        URL prefixes refused without being recorded as foreign (a runtime the
        test means to be unreachable).
    init_script
        JavaScript run in every page before its own scripts.
    record_bytes
        Record each response's body size in ``bytes`` (costs a copy of every body).
    **ctx_kwargs
        Passed to ``browser.new_context`` (viewport, color_scheme, ...).
    """

    def __init__(self, browser, *, allow: tuple[str, ...] | None = ("http://127.0.0.1",), map_url=None,
                 quiet: tuple[str, ...] = (), init_script: str = "", record_bytes: bool = False,
                 **ctx_kwargs):
        self.allow, self.map_url, self.quiet, self.record_bytes = allow, map_url, quiet, record_bytes
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.failed: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.dialogs: list[str] = []
        self.bytes: dict[str, int] = {}
        self.context = browser.new_context(**ctx_kwargs)
        if allow is not None:
            self.context.route("**/*", self._route)
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("response", self._on_response)
        self.page.on("dialog", self._on_dialog)

    def _on_response(self, response):
        if response.status >= 400:
            self.failed.append(response.url)
        if not self.record_bytes:
            return
        try:
            self.bytes[response.url] = len(response.body())
        except Exception:  # redirects and aborted bodies have none
            self.bytes[response.url] = 0

    def _on_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.allow):
            route.continue_()
            return
        local = self.map_url(url) if self.map_url is not None else None
        if local is not None:
            route.fulfill(path=str(local))
            return
        if not (self.quiet and url.startswith(self.quiet)):
            self.foreign.append(url)
        route.abort("internetdisconnected")

    def canaries(self, url: str, timeout: float = 5.0) -> None:
        """Open ``url``, log a console error ("canary error") and request
        https://example.invalid/x, then wait (up to ``timeout`` s) until both are recorded:
        a test proves its recorders record by asserting on them afterwards."""
        self.page.goto(url)
        self.page.evaluate("() => { console.error('canary error'); "
                           "fetch('https://example.invalid/x').catch(() => null); }")
        end = time.monotonic() + timeout
        while time.monotonic() < end and not ("https://example.invalid/x" in self.foreign
                                              and any("canary error" in e for e in self.errors())):
            self.page.wait_for_timeout(50)  # Playwright delivers events while it waits

    def errors(self) -> list[str]:
        """The texts of console errors and uncaught page errors, in order."""
        return [text for kind, text in self.console if kind in ("error", "pageerror")]

    def close(self) -> None:
        self.context.close()


def waterfall(page) -> dict | None:
    """The waterfall ColumnDataSource's data in the page, or None before it exists."""
    return page.evaluate(JS_WATERFALL)


def wait_for_app(page, timeout: float = 30.0) -> dict:
    """Wait until the waterfall data and its chart are in the page; return the data."""
    page.wait_for_function(f"({JS_WATERFALL})() !== null", timeout=timeout * 1000)
    page.locator(".bk-Canvas").first.wait_for(state="attached", timeout=timeout * 1000)
    return waterfall(page)


#: Layout facts of the open page, shadow roots included: page overflow, the
#: waterfall's top, visible text smaller than 12 px, and the canvas text sizes
#: of every Bokeh figure (text drawn on a canvas has no DOM node to measure).
JS_LAYOUT = """() => {
  const small = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (['STYLE', 'SCRIPT', 'OPTION', 'TITLE'].includes(el.tagName)) continue;
      const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== '');
      if (!own) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === 'hidden' || cs.display === 'none' || Number(cs.opacity) === 0) continue;
      const px = parseFloat(cs.fontSize);
      if (px < 12) small.push({text: el.textContent.trim().slice(0, 40), px, cls: String(el.className).slice(0, 60)});
    }
  };
  walk(document);
  const canvasText = [];
  for (const d of (window.Bokeh ? Bokeh.documents : [])) {
    for (const m of d.all_models) {
      for (const k of ['text_font_size', 'major_label_text_font_size', 'axis_label_text_font_size']) {
        const v = m[k];
        const s = v && typeof v === 'object' ? v.value : v;
        if (typeof s === 'string' && s.endsWith('px')) canvasText.push({model: m.type, prop: k, px: parseFloat(s)});
      }
    }
  }
  let chartTop = null;
  const findFig = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('cl-waterfall')) return el;
      if (el.shadowRoot) { const f = findFig(el.shadowRoot); if (f) return f; }
    }
    return null;
  };
  const fig = findFig(document);
  if (fig) chartTop = fig.getBoundingClientRect().top + window.scrollY;
  return {
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    innerHeight: window.innerHeight,
    chartTop, small, canvasText,
  };
}"""


def layout(page) -> dict:
    """:data:`JS_LAYOUT` for ``page``."""
    return page.evaluate(JS_LAYOUT)


def edge_colours(png_path: str) -> tuple[tuple, tuple]:
    """The page background at the top-left and bottom-left corners of a full-page screenshot."""
    from PIL import Image

    with Image.open(png_path) as im:
        rgb = im.convert("RGB")
        return rgb.getpixel((1, 1)), rgb.getpixel((1, rgb.height - 2))


def wait_for_idle(page, timeout: float = 60.0) -> None:
    """Wait until BokehJS has rendered the document and processed its first messages."""
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle",
                           timeout=timeout * 1000)
