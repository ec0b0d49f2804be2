"""The calculator in a real browser: Debian's Chromium, Playwright, ``panel serve``.

One server and one browser for the module; each test opens its own context.
Expectations come from the engine, except the lesson's golden figures.
Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from browser_util import edge_colours, layout, wait_for_idle, waterfall
from conftest import Page

import levers

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1;alert(1)">'


def costs(s) -> list[float]:
    w = levers.waterfall(s)
    return [st.cost_per_day for st in w.steps] + [w.final_cost_per_day]


#: Text of the first element matching a selector, shadow roots included.
DEEP_TEXT = """(sel) => {
  const find = (root) => { const el = root.querySelector(sel); if (el) return el;
    for (const e of root.querySelectorAll('*')) { if (e.shadowRoot) { const f = find(e.shadowRoot); if (f) return f; } }
    return null; };
  const text = (n) => { let s = n.nodeType === 3 ? n.textContent : '';
    if (n.shadowRoot) for (const c of n.shadowRoot.childNodes) s += text(c);
    for (const c of n.childNodes || []) s += text(c);
    if (n.tagName === 'STYLE' || n.tagName === 'SCRIPT') return '';
    return s; };
  const el = find(document); return el ? text(el) : null; }"""


def deep_text(page, selector: str) -> str:
    return page.evaluate(DEEP_TEXT, selector) or ""


def notice_text(page) -> str:
    return deep_text(page, ".cl-notices")


def test_recorders_see_errors_failures_and_dialogs(page, server):
    """The checks below are only as good as these recorders: prove they record."""
    page.open(server + "/main")
    page.page.evaluate("console.error('canary error')")
    page.page.evaluate("fetch('/no-such-file').catch(() => null)")
    page.page.evaluate("window.alert('canary dialog')")
    page.page.wait_for_timeout(300)
    assert "canary error" in page.errors()
    assert any(u.endswith("/no-such-file") for u in page.real_failures())
    assert page.dialogs == ["canary dialog"]


def test_default_page_renders_the_waterfall_without_errors(page, server):
    data = page.open(server + "/main")
    assert data["lever"] == ["baseline", *levers.LEVERS, "final"]
    assert data["cost_per_day"] == pytest.approx(costs(levers.Scenario()))
    assert page.page.locator("canvas").count() >= 1
    page.page.wait_for_timeout(500)
    sw, cw = page.page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sw <= cw
    page.shot("default")
    assert page.errors() == []
    assert page.real_failures() == []


def test_lesson_preset_shows_the_lessons_numbers(page, server):
    data = page.open(server + "/main?preset=lesson")
    assert data["cost_per_day"][0] == pytest.approx(8400)
    assert 347 <= data["cost_per_day"][-1] <= 350
    head = deep_text(page.page, ".cl-headline")
    assert "$8,400/day" in head and re.search(r"\$34[7-9]/day|\$350/day", head)
    page.page.wait_for_timeout(300)
    page.shot("lesson")
    assert page.errors() == []


def test_cache_hit_slider_changes_the_bar_url_and_link_reproduces_it(browser, server):
    p = Page(browser)
    try:
        before = p.open(server + "/main?preset=chatbot")
        i = before["lever"].index("prefix_caching")
        handle = p.page.locator(".ctl-cache_hit_rate .noUi-handle")
        handle.focus()
        p.page.keyboard.press("Home")  # keyboard: hit rate to its minimum
        p.page.wait_for_function(
            "([i, c]) => { const d = (" + _js() + ")(); return d && d.cost_per_day[i] !== c; }",
            arg=[i, before["cost_per_day"][i]], timeout=10_000)
        p.page.wait_for_function("() => window.location.search.includes('cache_hit_rate=')",
                                 timeout=10_000)
        after = waterfall(p.page)
        assert after["cost_per_day"][i] != before["cost_per_day"][i]
        assert after["cost_per_day"][-1] != before["cost_per_day"][-1]
        query = dict(parse_qsl(urlsplit(p.page.url).query))
        assert query["preset"] == "chatbot"
        s = levers.load_preset("chatbot", **{k: v for k, v in query.items() if k != "preset"})
        assert s.cache_hit_rate == levers.Scenario.param.cache_hit_rate.bounds[0]
        assert after["cost_per_day"] == pytest.approx(costs(s))
        link = p.page.url
        assert p.errors() == []
    finally:
        p.close()
    q = Page(browser)
    try:
        again = q.open(link)
        assert again["cost_per_day"] == after["cost_per_day"]
        assert again["multiplier"] == after["multiplier"]
        assert q.page.locator(".cl-notices").is_hidden()
    finally:
        q.close()


BAD = [
    ("unknown key", "frobnicate=1", "frobnicate"),
    ("out of range", "cache_hit_rate=7", "cache_hit_rate"),
    ("non-number", "requests_per_day=lots", "requests_per_day"),
    ("NaN", "mfu=NaN", "mfu"),
    ("inf", "output_tokens=inf", "output_tokens"),
    ("unknown preset", "preset=nope", "preset"),
    ("unknown hardware id", "hardware=tpu-v99", "hardware"),
    ("xss preset", "preset=" + quote(XSS), "preset"),
    ("xss key", quote(XSS) + "=1", "<img"),
    ("xss value", "hardware=" + quote(XSS), "hardware"),
]


def test_bad_query_values_render_with_a_notice_and_run_no_script(page, server):
    default = costs(levers.Scenario())
    for kind, query, key in BAD:
        data = page.open(f"{server}/main?{query}")
        assert data["cost_per_day"] == pytest.approx(default), kind
        page.page.locator(".cl-notices").wait_for(state="visible", timeout=5000)
        text = notice_text(page.page)
        assert key in text, (kind, text)
        if "allowed" not in text and kind not in ("unknown key", "xss key"):
            pytest.fail(f"{kind}: notice lacks the allowed range: {text}")
        assert page.page.evaluate("() => window.__xss === undefined"), kind
        if kind.startswith("xss"):
            assert "<img src=x" in text  # shown as text
            injected = page.page.evaluate("""() => {
              let n = 0;
              const walk = (root) => { for (const el of root.querySelectorAll('*')) {
                if (el.tagName === 'IMG' && el.getAttribute('src') === 'x') n++;
                if (el.shadowRoot) walk(el.shadowRoot); } };
              walk(document); return n; }""")
            assert injected == 0, kind
    page.page.wait_for_timeout(500)
    assert page.dialogs == []
    assert page.errors() == []


def test_editing_the_h100_price_changes_its_cost(page, server):
    page.page.goto(server + "/main?tab=hardware")
    row = page.page.locator(".cl-training-table .slick-row").filter(has_text="H100")
    row.first.wait_for(timeout=30_000)
    fields = page.page.evaluate("""() => { for (const d of Bokeh.documents) {
        const t = d.get_model_by_name('training_table_view'); if (t) return t.columns.map(c => c.field); } }""")
    cost = row.locator(f".slick-cell.l{fields.index('cost_usd')}")
    before = cost.inner_text()
    page.page.wait_for_timeout(300)
    page.shot("hardware-tab")
    cell = row.locator(f".slick-cell.l{fields.index('usd_per_gpu_hour')}")
    cell.dblclick()
    editor = cell.locator("input")
    editor.fill("4.25")
    editor.press("Enter")
    for _ in range(100):
        if cost.inner_text() != before:
            break
        page.page.wait_for_timeout(100)
    else:
        page.shot("hardware-edit-failed")
        pytest.fail(f"the H100 cost stayed {before}")
    shown = int(re.sub(r"[^0-9]", "", cost.inner_text()))
    h100 = next(r for r in levers.training_table(prices={"h100": 4.25}) if r.hardware == "h100")
    assert abs(shown - h100.cost_usd) <= 1
    page.page.wait_for_function("() => window.location.search.includes('train.price.h100=4.25')",
                                timeout=10_000)
    assert page.errors() == []


@pytest.mark.parametrize("width", [360, 768, 1280])
def test_embed_has_no_horizontal_overflow(browser, server, width):
    p = Page(browser, width=width, height=800)
    try:
        p.open(server + "/main?embed=1")
        p.page.wait_for_timeout(400)
        sw, cw = p.page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert sw <= cw
        assert p.page.locator(".cl-title").is_hidden()
        if width == 360:
            p.shot("embed")
        assert p.errors() == []
    finally:
        p.close()


def test_dark_system_theme_is_followed(browser, server):
    p = Page(browser, color_scheme="dark")
    try:
        p.open(server + "/main")
        p.page.wait_for_timeout(300)
        bg = p.page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(33, 37, 41)"
        color = p.page.evaluate("""() => Bokeh.documents[0].get_model_by_name('waterfall_figure')
                                   .below[0].major_label_text_color""")
        assert color == "#e9ecef"
        p.shot("dark")
    finally:
        p.close()


def test_a_change_the_engine_refuses_is_reverted_with_a_notice(page, server):
    before = page.open(server + "/main?preset=moe-chat")  # FP4 weights need FP4 hardware
    page.page.locator(".ctl-hardware select").select_option("h100")
    page.page.locator(".cl-notices").wait_for(state="visible", timeout=10_000)
    assert "fp4" in notice_text(page.page)
    for _ in range(50):
        if page.page.locator(".ctl-hardware select").input_value() == "b200":
            break
        page.page.wait_for_timeout(100)
    assert page.page.locator(".ctl-hardware select").input_value() == "b200"
    assert waterfall(page.page)["cost_per_day"] == before["cost_per_day"]
    assert "hardware=" not in page.page.url
    assert page.errors() == []


def test_sliders_have_visible_labels(page, server):
    page.open(server + "/main")
    for key, label in (("cache_hit_rate", "Cache hit rate"), ("route_share", "Share to the small"),
                       ("system_prompt_tokens", "System prompt")):
        assert label in deep_text(page.page, f".ctl-{key}"), key
        assert page.page.locator(f".ctl-{key}").first.is_visible()


def _js() -> str:
    from browser_util import JS_WATERFALL

    return JS_WATERFALL


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("query", ["", "?preset=chatbot&tab=hardware", "?tab=formulas"])
def test_layout_invariants(make_page, server, width, scheme, query):
    """At phone and desktop width, light and dark, on every tab: no sideways page scroll,
    the chart in the first screen, no text under 12 px, one background colour top to bottom."""
    p = make_page(width=width, height=740 if width == 360 else 900, color_scheme=scheme)
    p.page.goto(server + "/main" + query)
    wait_for_idle(p.page)
    p.page.wait_for_timeout(700)
    facts = layout(p.page)
    tag = f"{width}-{scheme}-{query.strip('?').replace('&', '-').replace('=', '_') or 'serving'}"
    path = p.shot(f"layout-{tag}")
    assert facts["scrollWidth"] <= facts["clientWidth"], facts
    assert facts["small"] == [], facts["small"][:10]
    assert [c for c in facts["canvasText"] if c["px"] < 12] == []
    if not query:
        assert facts["chartTop"] is not None
        assert facts["chartTop"] < facts["innerHeight"] - 120, facts["chartTop"]
    top, bottom = edge_colours(path)
    assert top == bottom, (top, bottom)
    assert p.errors() == []
