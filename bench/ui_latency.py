"""UI latency: from a slider change to the updated waterfall data in the browser.

Serves the app with ``panel serve`` on 127.0.0.1, opens it in Debian's
Chromium (Playwright), and moves sliders from the keyboard (PageUp/PageDown on
the focused handle). Timing runs in the page: from the keydown (capture
phase, ``performance.now()``) to the moment BokehJS applies the new data to
the ColumnDataSource named ``waterfall``. That covers the slider's update,
the websocket round trip, the engine's recomputation and the patch.

Usage::

    .venv/bin/python bench/ui_latency.py [--changes 30] [--preset chatbot]

Prints median, min, max (and p90) in milliseconds. Target: median < 150 ms.
A benchmark, not a test: it exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser_util import launch_browser, serve_app, wait_for_app

INSTRUMENT = """() => {
  let cds = null;
  for (const d of window.Bokeh.documents) { cds = cds || d.get_model_by_name('waterfall'); }
  if (cds === null) { return false; }
  window.__lat = [];
  window.__t0 = null;
  cds.properties.data.change.connect(() => {
    if (window.__t0 !== null) { window.__lat.push(performance.now() - window.__t0); window.__t0 = null; }
  });
  document.addEventListener('keydown', () => { window.__t0 = performance.now(); }, true);
  return true;
}"""

SLIDERS = ("cache_hit_rate", "route_share")


def run(changes: int, preset: str) -> list[float]:
    with serve_app() as url, launch_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/main?preset={preset}")
        wait_for_app(page)
        page.wait_for_timeout(500)
        assert page.evaluate(INSTRUMENT)
        for i in range(changes):
            key = SLIDERS[i % len(SLIDERS)]
            handle = page.locator(f".ctl-{key} .noUi-handle").first
            handle.focus()
            n = page.evaluate("window.__lat.length")
            # down then up on alternate rounds: the value always moves, never at a bound
            page.keyboard.press("PageDown" if (i // len(SLIDERS)) % 2 == 0 else "PageUp")
            page.wait_for_function(f"window.__lat.length > {n}", timeout=10_000)
            page.wait_for_timeout(60)
        return page.evaluate("window.__lat")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=30, help="slider changes to time (default 30)")
    ap.add_argument("--preset", default="chatbot", help="scenario to start from (default chatbot)")
    args = ap.parse_args(argv)
    lat = run(max(args.changes, 20), args.preset)
    lat_sorted = sorted(lat)
    p90 = lat_sorted[round(0.9 * (len(lat_sorted) - 1))]
    print(f"slider change -> waterfall data in the browser, {len(lat)} changes (panel serve, Chromium)")
    print(f"median {statistics.median(lat):.1f} ms   min {min(lat):.1f} ms   max {max(lat):.1f} ms   "
          f"p90 {p90:.1f} ms   (target: median < 150 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
