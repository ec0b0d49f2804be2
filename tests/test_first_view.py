"""The compiled site's first view: every share link's own numbers, or an honest notice.

The site is built once for this module, with the Python runtime (``pyodide.js``)
at a local address that accepts connections and never answers, as on a network
that holds the request open.  Pages are opened in Debian's Chromium through
Playwright with every request outside localhost refused, so what is tested is
the static preview a visitor sees before (or without) the live app:

* ``?preset=NAME`` shows that preset's waterfall and headline, pre-rendered at
  build time (static/first-view.js, build.write_prerendered), within 1 s of load;
* a link with other keys shows the pending notice over dimmed numbers;
* ``?embed=1`` (the lesson page's iframe) has no page header;
* when the runtime makes no progress for the bounded wait, a Retry notice
  replaces Panel's overlay, and goes away if the live document arrives later.

A missing Chromium fails the tests in CI and skips them elsewhere (tests/conftest.py).
"""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_util import JS_LAST_WATERFALL as LAST_WATERFALL_JS
from browser_util import Visit
from live_site import Served
from worker_dryrun import load_build

import levers
from levers.explain import money

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"  # screenshots land here when the folder exists
BUILD_TIMEOUT = 600
#: Presets whose numbers differ from the engine's defaults (chatbot's do not).
PRESETS = ["lesson", "code-completion"]
#: The bounded wait, shortened for the tests (runtime-status.js reads it).
STALL_MS = 1500


build = load_build()


# --------------------------------------------------------------------------- fixtures


class Hanging:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture(scope="module")
def hanging() -> Iterator[Hanging]:
    with Hanging() as h:
        yield h


@pytest.fixture(scope="module")
def pyodide_url(hanging) -> str:
    return f"http://127.0.0.1:{hanging.port}/pyodide/v0.29.3/full/pyodide.js"


@pytest.fixture(scope="module")
def site(tmp_path_factory, pyodide_url) -> Path:
    out = tmp_path_factory.mktemp("site") / "dist"
    cmd = [sys.executable, str(REPO_ROOT / "build.py"), "--out", str(out), "--pyodide-url", pyodide_url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=REPO_ROOT)
    assert proc.returncode == 0, f"build.py failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture(scope="module")
def served(site) -> Iterator[Served]:
    with Served(site) as s:
        yield s


@pytest.fixture
def visit(browser, served, hanging):
    visits = []

    def make(**kwargs) -> Visit:
        v = Visit(browser, allow=(served.origin + "/", f"http://127.0.0.1:{hanging.port}/"), **kwargs)
        visits.append(v)
        return v

    yield make
    for v in visits:
        v.close()


# --------------------------------------------------------------------------- page probes


#: Records every change of <html class="..."> with its time, before any page script runs.
CLASS_LOG_JS = """
window.__classLog = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target === document.documentElement) {
      window.__classLog.push({cls: r.target.className, t: performance.now()});
    }
  }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['class']});
"""


def expected_costs(preset: str) -> list[float]:
    w = levers.waterfall(levers.load_preset(preset) if preset else levers.Scenario())
    return [st.cost_per_day for st in w.steps] + [w.final_cost_per_day]


def phase_time(page, phase: str) -> float | None:
    return page.evaluate(
        "(p) => { const e = (window.__clTimeline || []).find(x => x.phase === p); return e ? e.t : null; }", phase
    )


def wait_for_first_view(page, timeout_ms: int = 15_000) -> None:
    page.wait_for_function(
        "(window.__clTimeline || []).some(x => x.phase === 'first-view')", timeout=timeout_ms
    )


def screenshot(page, name: str) -> None:
    if ARTIFACTS.is_dir():
        page.screenshot(path=str(ARTIFACTS / name), full_page=False)


# --------------------------------------------------------------------------- build output


def test_every_prerendered_link_has_a_document_listed_by_the_manifest(site):
    manifest = json.loads((site / "manifest.json").read_text())
    from levers import presets

    keys = sorted(build.prerender_queries())
    assert {"default.embed", *presets.names(), *(f"{p}.embed" for p in presets.names())} == set(keys)
    files = [f"{build.PRERENDER}/{k}.json.gz" for k in keys]
    assert sorted(manifest["prerendered"]) == sorted(files)
    for rel in [*files, build.FIRST_VIEW_JS]:
        assert rel in manifest["files"], f"{rel} is not in manifest.json"
    for rel in files:
        doc = json.loads(gzip.decompress((site / rel).read_bytes()))
        (item,) = doc["render_items"]
        assert set(doc["docs_json"]) == {item["docid"]}
        assert item["root_ids"]


def test_page_template_passes_the_prerendered_keys(site):
    from html.parser import HTMLParser

    found = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "script" and a.get("src") == build.FIRST_VIEW_JS:
                found.append(a)

    P().feed((site / "index.html").read_text())
    assert len(found) == 1, "index.html does not load first-view.js exactly once"
    assert found[0]["data-folder"] == f"{build.PRERENDER}/"
    assert json.loads(found[0]["data-keys"]) == sorted(build.prerender_queries())


def test_service_worker_precaches_the_prerendered_documents(site, tmp_path, pyodide_url):
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    build.write_service_worker(copy, pyodide_url)
    sw = (copy / "serviceWorker.js").read_text()
    for rel in [f"{build.PRERENDER}/lesson.json.gz", f"{build.PRERENDER}/default.embed.json.gz", build.FIRST_VIEW_JS]:
        assert json.dumps(rel) in sw, f"the service worker does not precache {rel}"


def test_bounded_wait_is_twenty_seconds_by_default():
    text = (REPO_ROOT / "static" / "runtime-status.js").read_text()
    assert "var STALL_MS = 20000;" in text


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_recorders_record(served, visit):
    """The checks below are only as good as the recorders: prove they record."""
    v = visit()
    v.canaries(f"{served.origin}/index.html")
    assert any("canary error" in e for e in v.errors())
    assert "https://example.invalid/x" in v.foreign


@pytest.mark.browser
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_link_shows_its_own_numbers_before_python_runs(served, visit, preset):
    """Offline here, so what shows is the pre-rendered file; bench/site.py --first-view times it."""
    assert expected_costs(preset) != expected_costs(""), "pick a preset that differs from the defaults"
    v = visit(viewport={"width": 1280, "height": 900}, init_script=CLASS_LOG_JS)
    page = v.page
    page.goto(f"{served.origin}/index.html?preset={preset}", wait_until="load")
    wait_for_first_view(page)
    data = page.evaluate(LAST_WATERFALL_JS)
    assert data["cost_per_day"] == pytest.approx(expected_costs(preset))
    w = levers.waterfall(levers.load_preset(preset))
    headline = page.locator(".cl-headline .cl-stats").first.inner_text()
    assert f"{money(w.final_cost_per_day)}/day" in headline, headline
    assert page.evaluate("document.documentElement.dataset.runtime") != "ready"
    # The default document was drawn while the roots were hidden, never shown.
    log = page.evaluate("window.__classLog")
    hidden = [e for e in log if "cl-first-view-hold" in e["cls"]]
    assert hidden, log
    drawn = phase_time(page, "prerendered")
    assert hidden[0]["t"] < drawn, (log, drawn)
    shown_at = next(e["t"] for e in log if e["t"] > hidden[0]["t"] and "cl-first-view-hold" not in e["cls"])
    assert shown_at >= drawn
    assert "cl-pending" not in page.evaluate("document.documentElement.className")
    assert page.locator(".cl-pending-notice").count() == 0
    screenshot(page, f"first-view-{preset}.png")
    assert not v.foreign, v.foreign
    assert not v.errors(), v.errors()


@pytest.mark.browser
@pytest.mark.parametrize(
    "query, stands_in",
    [("?preset=lesson&hardware=mi355x", "lesson"), ("?cache_hit_rate=0.5", ""), ("?preset=no-such-preset", "")],
)
def test_link_with_other_keys_says_its_scenario_is_pending(served, visit, query, stands_in):
    v = visit(viewport={"width": 1280, "height": 900})
    page = v.page
    page.goto(f"{served.origin}/index.html{query}", wait_until="load")
    wait_for_first_view(page)
    notice = page.locator(".cl-pending-notice")
    assert notice.is_visible()
    text = notice.inner_text()
    assert "Your scenario appears when the calculator is ready" in text
    assert ("“lesson” preset" if stands_in else "default scenario") in text
    assert "cl-pending" in page.evaluate("document.documentElement.className")
    data = page.evaluate(LAST_WATERFALL_JS)
    assert data["cost_per_day"] == pytest.approx(expected_costs(stands_in))
    opacity = page.evaluate(
        "Math.max(...[...document.querySelectorAll('[data-root-id] > *')]"
        ".map(el => Number(getComputedStyle(el).opacity)))"
    )
    assert opacity < 0.6, f"the stand-in numbers are not dimmed (opacity {opacity})"
    assert not v.foreign, v.foreign
    assert not v.errors(), v.errors()


@pytest.mark.browser
def test_plain_preset_link_is_not_dimmed(served, visit):
    v = visit()
    v.page.goto(f"{served.origin}/index.html?preset=lesson&embed=1", wait_until="load")
    wait_for_first_view(v.page)
    assert v.page.evaluate(
        "[...document.querySelectorAll('[data-root-id] > *')].every(el => getComputedStyle(el).opacity === '1')"
    )
    assert v.page.locator(".cl-pending-notice").count() == 0


@pytest.mark.browser
def test_embed_has_no_page_header_in_the_static_view(served, visit):
    v = visit(viewport={"width": 1000, "height": 800})
    page = v.page
    page.goto(f"{served.origin}/index.html", wait_until="load")
    wait_for_first_view(page)
    assert page.locator(".cl-title").is_visible(), "the full page has lost its header"
    page.goto(f"{served.origin}/lesson.html", wait_until="load")
    frame_el = page.locator("iframe#calculator")
    frame_el.scroll_into_view_if_needed()
    frame = frame_el.element_handle().content_frame()
    wait_for_first_view(frame)
    assert frame.evaluate(LAST_WATERFALL_JS)["cost_per_day"] == pytest.approx(expected_costs(""))
    assert frame.locator(".cl-headline").is_visible()
    assert frame.locator(".cl-title").count() == 0 or not frame.locator(".cl-title").first.is_visible()
    assert not v.foreign, v.foreign
    assert not v.errors(), v.errors()


@pytest.mark.browser
def test_hanging_runtime_shows_retry_after_the_bounded_wait(served, visit, hanging):
    v = visit(viewport={"width": 1000, "height": 700}, init_script=f"window.__clStallMs = {STALL_MS};")
    page = v.page
    before = len(hanging.accepted)
    page.goto(f"{served.origin}/index.html", wait_until="load")
    page.wait_for_function("(window.__clTimeline || []).some(x => x.phase.startsWith('Loading the Python runtime'))")
    assert page.evaluate("document.documentElement.dataset.runtime") == "loading"
    assert "pn-loading" in page.evaluate("document.body.className")
    notice = page.locator(".cl-runtime-notice")
    notice.wait_for(timeout=STALL_MS + 10_000)
    assert len(hanging.accepted) > before, "the worker never asked the hanging server for pyodide.js"
    assert page.evaluate("document.documentElement.dataset.runtime") == "stalled"
    loading = phase_time(page, next(
        e["phase"] for e in page.evaluate("window.__clTimeline") if e["phase"].startswith("Loading the Python")))
    stalled = phase_time(page, "stalled")
    assert stalled - loading >= STALL_MS - 50, (loading, stalled)
    assert "has not answered for" in notice.inner_text()
    assert page.locator(".cl-retry").is_visible()
    # Panel's overlay is gone: the pre-rendered page is readable and scrolls.
    assert "pn-loading" not in page.evaluate("document.body.className")
    assert page.locator(".pn-loading-msg").count() == 0
    page.mouse.wheel(0, 600)
    page.wait_for_function("window.scrollY > 0", timeout=5_000)
    screenshot(page, "first-view-stalled.png")
    # Retry loads the page again.
    with page.expect_navigation():
        page.locator(".cl-retry").click()
    assert page.evaluate("document.documentElement.dataset.runtime") == "loading"
    assert not v.foreign, v.foreign
    assert not v.errors(), v.errors()


RENDER_FROM_PRERENDERED_JS = """async (path) => {
  // Stand in for the worker: deliver a document as its 'render' message would.
  const body = (await fetch(path)).body.pipeThrough(new DecompressionStream('gzip'));
  const data = await new Response(body).json();
  const item = data.render_items[0];
  pyodideWorker.dispatchEvent(new MessageEvent('message', {data: {
    type: 'render',
    docs_json: JSON.stringify(data.docs_json),
    render_items: JSON.stringify([{docid: item.docid, roots: item.roots, root_ids: item.root_ids}]),
    root_ids: JSON.stringify(item.root_ids),
  }}));
}"""


@pytest.mark.browser
def test_runtime_arriving_after_the_wait_goes_live_and_clears_the_notices(served, visit):
    """If the live document comes after all, the Retry and pending notices go."""
    v = visit(init_script=f"window.__clStallMs = {STALL_MS};")
    page = v.page
    page.goto(f"{served.origin}/index.html?preset=lesson&hardware=mi355x", wait_until="load")
    page.locator(".cl-runtime-notice").wait_for(timeout=STALL_MS + 10_000)
    assert page.locator(".cl-pending-notice").is_visible()
    assert "has not started" in page.locator(".cl-pending-notice").inner_text()
    # The "live" document: the code-completion preset, as the worker's render message.
    page.evaluate(RENDER_FROM_PRERENDERED_JS, f"{build.PRERENDER}/code-completion.json.gz")
    page.wait_for_function("document.documentElement.dataset.runtime === 'ready'", timeout=10_000)
    assert page.locator(".cl-runtime-notice").count() == 0
    assert "cl-static" not in page.evaluate("document.body.className")
    page.wait_for_function("!document.documentElement.classList.contains('cl-pending')", timeout=5_000)
    assert page.locator(".cl-pending-notice").count() == 0
    assert page.evaluate(LAST_WATERFALL_JS)["cost_per_day"] == pytest.approx(expected_costs("code-completion"))
    phases = [e["phase"] for e in page.evaluate("window.__clTimeline")]
    assert phases.index("stalled") < phases.index("render") < phases.index("ready") < phases.index("scenario")
    assert not v.errors(), v.errors()
