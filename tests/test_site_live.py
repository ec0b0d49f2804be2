"""The compiled site goes live in Chromium: real Pyodide, Panel's worker, BokehJS; no network.

The site is built with ``--pyodide-url`` pointing at a local stand-in for the
Pyodide CDN (see ``tests/live_site.py``), or at ``COST_LEVERS_PYODIDE_URL``
when that is set. Every request outside 127.0.0.1 is refused and recorded.
Expectations come from the engine: whatever the live app shows must be what
``levers.waterfall`` gives for the scenario in the page's own URL.

In CI (``CI`` set), or with ``COST_LEVERS_PYODIDE_URL`` set, an unavailable
runtime fails the test; elsewhere it skips and says why.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from browser_util import Visit, waterfall_js
from live_site import URL_ENV, LiveSite, Unavailable

import levers

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"
READY = "document.documentElement.dataset.runtime === 'ready'"
#: Longest wait for the live app [ms]; about 7 s is usual here on 2 cores.
READY_TIMEOUT_MS = 180_000
#: Query keys that only change the view, not the scenario.
VIEW_KEYS = {"embed", "theme", "yaxis", "tab"}

pytestmark = pytest.mark.browser


# Move the cache-hit-rate control (or else the first slider) to a third of its range, through
# BokehJS, as a drag would.
MOVE_LEVER_JS = """() => {
  const doc = Bokeh.documents[Bokeh.documents.length - 1];
  const sliders = [...doc.all_models].filter(m => m.type === 'Slider' && typeof m.value === 'number');
  const s = sliders.find(m => /cache hit/i.test(m.title || '')) || sliders[0];
  if (!s) return null;
  const v = Math.round((s.start + (s.end - s.start) / 3) / s.step) * s.step;
  s.value = v;
  return {title: s.title, value: v};
}"""
# The worker has answered every change sent to it (Panel's page-side handler keeps this state).
WORKER_IDLE = "() => typeof pyodideWorker !== 'undefined' && !pyodideWorker.busy && !pyodideWorker.queue.length"


def _fail_or_skip(reason: str):
    if os.environ.get("CI") or os.environ.get(URL_ENV):
        pytest.fail(f"the live site cannot run: {reason}")
    pytest.skip(f"the live site cannot run here: {reason}")


@pytest.fixture(scope="module")
def live(tmp_path_factory, browser):
    """The site built against a Pyodide runtime, served on 127.0.0.1 (after the
    browser fixture, so a missing Chromium is reported by the suite's one rule)."""
    try:
        site = LiveSite(tmp_path_factory.mktemp("live") / "dist").__enter__()
    except Unavailable as e:
        _fail_or_skip(str(e))
    yield site
    site.__exit__(None, None, None)


#: The waterfall of the live document: Panel's worker handler embeds it after the pre-rendered one.
LIVE_WATERFALL_JS = waterfall_js("last", min_docs=2)


class LiveVisit(Visit):
    """A page where only 127.0.0.1 answers; console errors and foreign requests are recorded."""

    def __init__(self, browser, width=1280, height=900):
        super().__init__(browser, allow=("http://127.0.0.1:",), viewport={"width": width, "height": height})

    def open_live(self, url: str) -> float:
        """Open ``url`` and wait until the live app has replaced the pre-rendered one; seconds taken."""
        t0 = time.monotonic()
        self.page.goto(url)
        self.page.wait_for_function(f"{READY} || document.documentElement.dataset.runtime === 'failed'",
                                    timeout=READY_TIMEOUT_MS)
        state = self.page.evaluate("document.documentElement.dataset.runtime")
        assert state == "ready", f"the runtime failed: {self.errors()}"
        took = time.monotonic() - t0
        # The page sends its location right after the first render: let the app apply it.
        self.page.wait_for_function(WORKER_IDLE, timeout=30_000)
        self.page.wait_for_timeout(500)
        self.page.wait_for_function(WORKER_IDLE, timeout=30_000)
        return took

    def waterfall(self, expected=None, timeout=30.0) -> dict | None:
        """The live waterfall; with ``expected`` costs, wait until it shows them."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.page.evaluate(LIVE_WATERFALL_JS)
            if expected is None or (data and data["cost_per_day"] == pytest.approx(expected, rel=1e-9)):
                return data
            if time.monotonic() > deadline:
                return data
            self.page.wait_for_timeout(100)


@pytest.fixture
def visit(browser):
    visits = []

    def make(**kwargs) -> Visit:
        v = LiveVisit(browser, **kwargs)
        visits.append(v)
        return v

    yield make
    for v in visits:
        v.close()


def engine_costs_for(url: str) -> list[float]:
    """The engine's waterfall for the scenario a page URL describes."""
    query = {k: v for k, v in parse_qsl(urlsplit(url).query) if k not in VIEW_KEYS and not k.startswith("train.")}
    preset = query.pop("preset", None)
    scenario = levers.load_preset(preset, **query) if preset else levers.Scenario.from_mapping(query)
    w = levers.waterfall(scenario)
    return [st.cost_per_day for st in w.steps] + [w.final_cost_per_day]


def test_recorders_record(visit, live):
    """The console and foreign-request recorders see what they are meant to see."""
    v = visit()
    v.canaries(f"{live.origin}/index.html")
    assert any("canary error" in e for e in v.errors())
    assert "https://example.invalid/x" in v.foreign


def test_live_app_moves_a_lever_and_its_share_link_reproduces_it(visit, live):
    v = visit()
    tti = v.open_live(f"{live.origin}/index.html")
    timeline = v.page.evaluate("window.__clTimeline || null")
    if ARTIFACTS.is_dir():
        (ARTIFACTS / "live-site-timing.json").write_text(json.dumps(
            {"pyodide": live.source, "time_to_interactive_s": tti, "timeline": timeline}, indent=2))
    print(f"time to interactive ({live.source}): {tti:.1f} s")

    default = engine_costs_for(v.page.url)
    assert v.waterfall(default)["cost_per_day"] == pytest.approx(default, rel=1e-9)

    moved = v.page.evaluate(MOVE_LEVER_JS)
    assert moved is not None, "no slider in the live app"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not urlsplit(v.page.url).query:
        v.page.wait_for_timeout(100)
    shared = v.page.url
    assert urlsplit(shared).query, f"moving {moved['title']!r} left no share link in the address bar"
    expected = engine_costs_for(shared)
    assert expected != default, f"moving {moved} did not change the scenario's cost"
    assert v.waterfall(expected)["cost_per_day"] == pytest.approx(expected, rel=1e-9)

    again = visit()
    again.open_live(shared)
    assert again.waterfall(expected)["cost_per_day"] == pytest.approx(expected, rel=1e-9), (
        f"{shared} does not reproduce the moved lever"
    )
    assert not v.foreign and not again.foreign
    assert v.errors() == [] and again.errors() == []


@pytest.mark.parametrize(
    "query",
    ["preset=lesson", "preset=chatbot&hardware=mi355x&weights=fp4&cache_hit_rate=0.5"],
    ids=["preset", "overrides"],
)
def test_share_links_go_live_with_their_own_numbers(visit, live, query):
    v = visit(width=360, height=780)
    v.open_live(f"{live.origin}/index.html?{query}")
    expected = engine_costs_for(f"/?{query}")
    assert v.waterfall(expected)["cost_per_day"] == pytest.approx(expected, rel=1e-9)
    assert dict(parse_qsl(urlsplit(v.page.url).query)) == dict(parse_qsl(query)), "the address bar lost the link"
    assert not v.foreign
    assert v.errors() == []


def test_a_runtime_with_another_python_is_refused_with_what_to_do(visit, live):
    """The start-up modules are bytecode for one CPython: a worker expecting another cache tag
    stops before installing anything and says why in the page. (Runs last: it edits the
    served worker, and puts it back.)"""
    worker = live.out / live.manifest["worker"]
    original = worker.read_text()
    tag = live.manifest["environment"]["bytecode"]["tag"]
    assert tag and original.count(f'"{tag}"') == 1
    worker.write_text(original.replace(f'"{tag}"', '"cpython-399"'))
    try:
        v = visit()
        v.page.goto(f"{live.origin}/index.html")
        v.page.wait_for_function("document.documentElement.dataset.runtime === 'failed'", timeout=READY_TIMEOUT_MS)
        text = v.page.locator(".cl-runtime-notice-text").inner_text()
        assert "Checking the Python runtime failed" in text
        assert f"compiled for cpython-399, but the runtime at {live.pyodide_url} runs {tag}" in text
        assert "built again for Pyodide" in text
        timeline = [e["phase"] for e in v.page.evaluate("window.__clTimeline")]
        assert not any(p.startswith("Installing") for p in timeline), timeline
    finally:
        worker.write_text(original)
