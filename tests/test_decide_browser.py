"""The Decide tab in Chromium: its four views carry the engine's numbers, no console errors."""

from __future__ import annotations

import pytest
from browser_util import chromium_available, launch_browser, serve_app, wait_until

import levers
from levers import api, attribution, compare, sensitivity

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium and playwright"),
]

SOURCE = """(name) => {
  for (const d of (window.Bokeh && window.Bokeh.documents) || []) {
    const m = d.get_model_by_name(name);
    if (m) { const out = {};
      for (const [k, v] of m.data instanceof Map ? m.data.entries() : Object.entries(m.data)) out[k] = Array.from(v);
      return out; }
  }
  return null; }"""


def test_decide_tab_views_and_b_link():
    query = "?preset=chatbot&b.hardware=mi355x&b.weights=fp4&tab=decide"
    with serve_app() as server, launch_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server + "/main" + query)  # opens on the Decide tab: the other tabs are not rendered

        def data(name):
            return page.evaluate(SOURCE, name)

        wait_until(lambda: (data("decide_fleet") or {}).get("y"), timeout=90)
        wait_until(lambda: (data("decide_compare") or {}).get("cost"), timeout=60)
        a = levers.load_preset("chatbot")
        assert data("decide_fleet")["y"] == pytest.approx(api.comparison(a)["curve"]["self_hosted"])
        b = compare.scenario_b(a, {"hardware": "mi355x", "weights": "fp4"})
        want = [st.cost_per_day for st in levers.waterfall(b).steps]
        got_b = [c for (_, tag), c in zip(data("decide_compare")["x"], data("decide_compare")["cost"],
                                          strict=True) if tag == "B"]
        assert got_b == pytest.approx(want)
        shares = attribution.attribution(a)["attribution"]
        got = dict(zip(map(tuple, data("decide_attribution")["y"]), data("decide_attribution")["value"],
                       strict=True))
        assert got[("Hardware", "Shapley")] == pytest.approx(shares["hardware"])
        t = sensitivity.sensitivity(a)
        assert data("decide_tornado")["y"][-1] == t["rows"][0]["label"]  # widest on top
        assert "b.hardware=mi355x" in page.url and "b.weights=fp4" in page.url
        assert errors == []
