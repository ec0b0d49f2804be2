"""The calculator UI without a browser: drive the Viewer, read its data.

Expectations come from the engine (``levers``), never from numbers typed
here, except the lesson's golden figures.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import param
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import levers
from app import render
from app.charts import waterfall_data
from app.main import Calculator
from app.urlstate import (
    PRICE_PREFIX,
    build_query,
    format_value,
    parse_query,
    requested_theme,
    with_embed,
    without_embed,
)
from levers.scenario import LEVERS, Scenario
from levers.training import TrainingRow

XSS = "<img src=x onerror=alert(1)>"


def engine_costs(s: Scenario) -> list[float]:
    w = levers.waterfall(s)
    return [st.cost_per_day for st in w.steps] + [w.final_cost_per_day]


@pytest.fixture(scope="module")
def calc():
    return Calculator("")


def fresh(query: str = "") -> Calculator:
    return Calculator(query)


# ---- the waterfall source ------------------------------------------------
def test_waterfall_source_holds_the_engine_steps():
    c = fresh()
    data = c.source.data
    assert c.source.name == "waterfall"
    assert data["lever"] == ["baseline", *LEVERS, "final"]
    assert data["cost_per_day"] == engine_costs(Scenario())
    w = levers.waterfall(Scenario())
    assert data["multiplier"] == [st.multiplier for st in w.steps] + [w.total_multiplier]


def test_setting_a_widget_recomputes_in_place():
    c = fresh()
    source, fig = c.source, c.fig
    before = list(source.data["cost_per_day"])
    c.widgets["cache_hit_rate"].value = 0.3
    assert c.scenario.cache_hit_rate == 0.3
    assert c.source is source and c.fig is fig  # updated, not rebuilt
    expected = engine_costs(Scenario.from_mapping({"cache_hit_rate": 0.3}))
    assert source.data["cost_per_day"] == expected
    assert source.data["cost_per_day"] != before
    assert c.query == "?cache_hit_rate=0.3"


def test_setting_the_scenario_param_updates_widget_and_data():
    c = fresh()
    c.scenario.route_share = 0.4
    assert c.widgets["route_share"].value == 0.4
    assert c.source.data["cost_per_day"] == engine_costs(Scenario.from_mapping({"route_share": 0.4}))


def test_lesson_preset_golden_numbers_and_illustrative_mode():
    c = fresh("?preset=lesson")
    data = c.source.data
    assert data["cost_per_day"][0] == pytest.approx(8400)
    assert 347 <= data["cost_per_day"][-1] <= 350
    assert c.scenario.mode == "illustrative"
    assert c.widgets["mult_prefix_caching"].visible
    assert c.preset_w.value == "lesson"
    assert c.query == "?preset=lesson"


@pytest.mark.parametrize("name", levers.preset_names())
def test_each_preset_opens_in_its_engine_mode(name):
    c = fresh(f"?preset={name}")
    s = levers.load_preset(name)
    assert c.scenario.values() == s.values()
    assert c.mode_w.value == s.mode
    assert all(c.widgets[f"mult_{lv}"].visible == (s.mode == "illustrative") for lv in LEVERS)
    assert c.source.data["cost_per_day"] == engine_costs(s)


def test_lever_off_has_multiplier_one_and_no_saving():
    c = fresh()
    c.on_w["routing"].value = False
    assert c.scenario.off == ["routing"]
    i = c.source.data["lever"].index("routing")
    assert c.source.data["multiplier"][i] == 1.0
    assert c.source.data["top"][i] == c.source.data["bottom"][i]
    assert "off=routing" in c.query
    c.scenario.off = []
    assert c.on_w["routing"].value is True
    assert "off" not in c.query


def test_illustrative_multiplier_slider_sets_the_bar():
    c = fresh("?preset=lesson")
    c.widgets["mult_routing"].value = 2.0
    i = c.source.data["lever"].index("routing")
    assert c.source.data["multiplier"][i] == 2.0
    assert c.source.data["cost_per_day"] == engine_costs(levers.load_preset("lesson", mult_routing=2.0))
    assert c.query == "?preset=lesson&mult_routing=2"


def test_yaxis_toggle_uses_usd_per_1m_tokens():
    c = fresh()
    c.yaxis_w.value = "usd_per_1m_tokens"
    w = levers.waterfall(Scenario())
    assert c.source.data["bottom"][1:6] == [st.usd_per_1m_tokens for st in w.steps[1:]]
    assert c.source.data["top"][0] == w.steps[0].usd_per_1m_tokens
    assert c.fig.yaxis[0].axis_label.startswith("Cost [$ per 1M")
    assert "yaxis=usd_per_1m_tokens" in c.query


def test_yaxis_toggle_uses_usd_per_task_and_task_controls_are_shown():
    c = fresh("?preset=agentic")
    c.yaxis_w.value = "usd_per_task"
    w = levers.waterfall(levers.load_preset("agentic"))
    assert c.source.data["bottom"][1:6] == [st.usd_per_task for st in w.steps[1:]]
    assert c.fig.yaxis[0].axis_label.startswith("Cost [$ per task")
    assert "yaxis=usd_per_task" in c.query
    c.widgets["agent_turns"].value = 20
    assert "agent_turns=20" in c.query


def test_change_the_engine_refuses_is_reverted_with_its_message():
    c = fresh("?preset=moe-chat")  # FP4 weights on B200
    before = c.scenario.values()
    c.widgets["hardware"].value = "h100"  # no FP4
    assert c.scenario.values() == before
    assert c.widgets["hardware"].value == before["hardware"]
    assert c.error_notices and c.error_notices[0].key == "weights"
    assert "fp4" in c.notice.object and c.notice.visible


def test_lever_cards_show_multiplier_and_engine_explanation():
    c = fresh()
    w = levers.waterfall(Scenario())
    for st in w.steps[1:]:
        html = c.summaries[st.lever].object
        assert render.esc(levers.explain.times(st.multiplier)) in html
        assert render.esc(st.explanation) in html


def test_headline_bands():
    w = levers.waterfall(Scenario())
    html = render.headline(w, Scenario())
    assert render.esc(levers.explain.money(w.final_cost_per_day)) in html
    last = w.steps[-1]
    cls = {"inside": "cl-good", "below": "cl-good", "above": "cl-warn"}
    assert cls[last.ttft_band] in html and cls[last.tpot_band] in html


# ---- URL state -------------------------------------------------------------
BAD = {
    "unknown key": ("?frobnicate=1", "frobnicate"),
    "out of range": ("?cache_hit_rate=1.5", "cache_hit_rate"),
    "non-number": ("?requests_per_day=lots", "requests_per_day"),
    "nan": ("?mfu=nan", "mfu"),
    "inf": ("?output_tokens=inf", "output_tokens"),
    "negative inf": ("?peak_to_average=-Infinity", "peak_to_average"),
    "unknown preset": ("?preset=nope", "preset"),
    "unknown hardware id": ("?hardware=tpu-v99", "hardware"),
    "unknown model id": ("?big_model=gpt-17", "big_model"),
    "bad choice": ("?batching=sometimes", "batching"),
    "bad view option": ("?yaxis=furlongs", "yaxis"),
    "bad training value": ("?train.gpus=0", "train.gpus"),
    "bad price": ("?train.price.h100=-3", "train.price.h100"),
    "price of unknown id": ("?train.price.zz9=3", "train.price.zz9"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_query_values_are_reported_and_ignored(kind):
    query, key = BAD[kind]
    st = parse_query(query)
    assert [n.key for n in st.notices] == [key]
    assert st.scenario.values() == Scenario().values()
    c = fresh(query)
    assert c.notice.visible and render.esc(key) in c.notice.object
    assert c.source.data["cost_per_day"] == engine_costs(Scenario())


def test_range_notice_uses_the_engines_message():
    st = parse_query("?cache_hit_rate=1.5")
    with pytest.raises(levers.InputError) as e:
        Scenario.from_mapping({"cache_hit_rate": "1.5"})
    assert st.notices[0].message == e.value.message
    assert "allowed" in st.notices[0].message


def test_good_keys_survive_next_to_bad_ones():
    st = parse_query("?cache_hit_rate=0.5&mfu=nan&route_share=0.2")
    assert st.scenario.cache_hit_rate == 0.5 and st.scenario.route_share == 0.2
    assert [n.key for n in st.notices] == ["mfu"]


def test_preset_first_then_overrides_whatever_the_order():
    st = parse_query("?cache_hit_rate=0.5&preset=code-completion")
    assert st.preset == "code-completion"
    assert st.scenario.values() == levers.load_preset("code-completion", cache_hit_rate=0.5).values()
    assert build_query(st.preset, st.scenario) == "?preset=code-completion&cache_hit_rate=0.5"


def test_conflicting_keys_apply_in_any_order():
    for q in ("?weights=fp4&hardware=b200&baseline_hardware=a100",
              "?hardware=b200&weights=fp4&baseline_hardware=a100"):
        st = parse_query(q)
        assert st.notices == []
        assert (st.scenario.weights, st.scenario.baseline_hardware) == ("fp4", "a100")


def test_conflict_with_the_preset_names_the_engine_rule():
    st = parse_query("?preset=moe-chat&hardware=h100")
    assert [n.key for n in st.notices] == ["hardware"]
    assert "fp4" in st.notices[0].message
    assert st.scenario.values() == levers.load_preset("moe-chat").values()


def test_only_non_default_keys_are_written():
    assert build_query("", Scenario()) == ""
    c = fresh()
    c.widgets["output_tokens"].value = 300
    c.widgets["output_tokens"].value = Scenario.param.output_tokens.default
    assert c.query == ""
    c.widgets["batching"].value = "static"
    assert c.query == "?batching=static"


def test_preset_keys_relative_to_the_preset():
    c = fresh("?preset=summarization")
    assert c.query == "?preset=summarization"
    c.widgets["cache_hit_rate"].value = levers.load_preset("summarization").cache_hit_rate
    assert c.query == "?preset=summarization"
    c.widgets["weights"].value = "fp8"
    assert c.query == "?preset=summarization&weights=fp8"


def test_choosing_a_preset_and_reset():
    c = fresh("?cache_hit_rate=0.1")
    c.preset_w.value = "rag-agent"
    assert c.scenario.values() == levers.load_preset("rag-agent").values()
    assert c.query == "?preset=rag-agent"
    c.widgets["route_share"].value = 0.9
    c.train_w["gpus"].value = 64
    c.reset()
    assert c.scenario.values() == levers.load_preset("rag-agent").values()
    assert c.training.gpus == levers.training.TrainingInputs.param.gpus.default
    assert c.query == "?preset=rag-agent"


def test_view_keys_round_trip():
    st = parse_query("?embed=1&theme=dark&tab=hardware&yaxis=usd_per_1m_tokens")
    assert st.view == {"embed": True, "theme": "dark", "tab": "hardware", "yaxis": "usd_per_1m_tokens"}
    assert build_query("", Scenario(), view=st.view) == (
        "?embed=1&theme=dark&yaxis=usd_per_1m_tokens&tab=hardware")
    assert requested_theme("?theme=light") == "light"
    assert requested_theme(f"?theme={XSS}") == "auto"
    c = fresh("?embed=1&tab=hardware")
    assert c.embed and not c.title.visible and c.tabs.active == 1


def test_training_keys_round_trip():
    q = "?train.mfu=0.5&train.gpus=2048&train.price.h100=3.1"
    st = parse_query(q)
    assert st.training == {"mfu": 0.5, "gpus": 2048} and st.prices == {"h100": 3.1}
    c = fresh(q)
    assert c.query == q
    row = next(r for r in c.rows if r.hardware == "h100")
    expected = next(r for r in levers.training_table(mfu=0.5, gpus=2048, prices={"h100": 3.1})
                    if r.hardware == "h100")
    assert row == expected


KEYS = ["cache_hit_rate", "route_share", "requests_per_day", "output_tokens", "batching",
        "weights", "hardware", "consolidate", "off", "mode", "mult_routing", "peak_to_average"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.data())
def test_query_round_trip(data):
    preset = data.draw(hs.sampled_from(["", *levers.preset_names()]))
    base = levers.load_preset(preset) if preset else Scenario()
    values = {}
    for key in data.draw(hs.lists(hs.sampled_from(KEYS), unique=True, max_size=5)):
        p = Scenario.param[key]
        if isinstance(p, param.ListSelector):
            values[key] = data.draw(hs.lists(hs.sampled_from(list(p.objects)), unique=True))
        elif hasattr(p, "catalog") and p.catalog:
            values[key] = data.draw(hs.sampled_from(p.catalog()))
        elif isinstance(p, param.Selector):
            values[key] = data.draw(hs.sampled_from(list(p.objects)))
        elif isinstance(p, param.Boolean):
            values[key] = data.draw(hs.booleans())
        elif isinstance(p, param.Integer):
            values[key] = data.draw(hs.integers(*p.bounds))
        else:
            values[key] = data.draw(hs.floats(*p.bounds, allow_nan=False))
    try:
        s = Scenario.from_mapping(values, base=base)
        levers.waterfall(s)
    except levers.InputError:
        return
    q = build_query(preset, s)
    back = parse_query(q)
    assert back.notices == []
    assert back.preset == preset
    assert back.scenario.values() == s.values()
    assert build_query(back.preset, back.scenario) == q


def test_format_value_parses_back():
    for v in (0.1, 1e-7, 123456789.0, 2.0, 1 / 3, 1e15):
        assert float(format_value(v)) == v


def test_location_is_written_and_read():
    class FakeLocation(param.Parameterized):
        search = param.String("?preset=lesson")
        href = param.String("http://example.test/app?preset=lesson")

    loc = FakeLocation()
    c = Calculator(location=loc)
    assert c.scenario.mode == "illustrative"
    c.widgets["mult_hardware"].value = 2.5
    assert loc.search == "?preset=lesson&mult_hardware=2.5"
    loc.search = "?preset=chatbot&cache_hit_rate=0.25"  # e.g. Pyodide's late sync, or navigation
    assert c.scenario.values() == levers.load_preset("chatbot", cache_hit_rate=0.25).values()
    c._show_share(snippet=True)
    html = c.share_box.object
    assert "http://example.test/app?preset=chatbot&amp;cache_hit_rate=0.25" in html
    assert "embed=1" in html and "&lt;iframe" in html and 'loading=&quot;lazy&quot;' in html


def test_embed_and_share_queries():
    assert with_embed("?a=1&embed=0") == "?a=1&embed=1"
    assert without_embed("?a=1&embed=1") == "?a=1"
    assert without_embed("?embed=1") == ""


# ---- safety -------------------------------------------------------------------
def test_xss_in_the_url_is_escaped_in_the_notice():
    from urllib.parse import quote

    for q in (f"?preset={quote(XSS)}", f"?{quote(XSS)}=1", f"?cache_hit_rate={quote(XSS)}",
              f"?hardware={quote(XSS)}", f"?train.price.{quote(XSS)}=1"):
        c = fresh(q)
        html = c.notice.object + c.preset_desc.object
        assert "<img" not in html and "onerror=alert(1)>" not in html
        assert "&lt;img" in html


def test_linkify_links_only_http_urls_and_escapes():
    html = render.linkify('see https://a.example/x?y=1&z=2 (and) javascript:alert(1) <b>x</b>')
    assert '<a href="https://a.example/x?y=1&amp;z=2"' in html
    assert "javascript:alert" in html and 'href="javascript' not in html
    assert "<b>" not in html and "&lt;b&gt;" in html


def test_specs_render_every_accelerator_with_sources():
    html = render.specs_html(levers.specs.load_all())
    for acc in levers.specs.load_all().values():
        assert render.esc(acc.name) in html
    assert html.count("<a href=") >= 1
    assert 'href="http' in html and "href=\"javascript" not in html


# ---- hardware tab -----------------------------------------------------------
def test_training_table_keeps_the_engine_fields():
    c = fresh()
    fields = list(TrainingRow.__dataclass_fields__)
    data = c.table_source.data
    assert c.table_source.name == "training_table"
    assert set(fields) <= set(data)
    rows = levers.training_table()
    records = [{f: data[f][i] for f in fields} for i in range(len(rows))]
    assert records == [asdict(r) for r in rows]
    shown = [col.field for col in c.table.object.columns]
    assert shown[:4] == ["name", "cost_usd", "days", "usd_per_gpu_hour"]  # the decision columns first


def test_editing_a_price_recomputes_that_row_via_the_engine():
    c = fresh()
    i = [r.hardware for r in c.rows].index("h100")
    before = c.rows[i].cost_usd
    c._price_edited(i, 4.0)
    row = c.rows[i]
    assert row.usd_per_gpu_hour == 4.0 and row.cost_usd != before
    assert row == next(r for r in levers.training_table(prices={"h100": 4.0}) if r.hardware == "h100")
    assert c.table_source.data["cost_usd"][i] == row.cost_usd
    assert f"{PRICE_PREFIX}h100=4" in c.query
    # the browser may hand over text; the URL still gets the parsed number
    c._price_edited(i, "4.25")
    assert c.query == f"?{PRICE_PREFIX}h100=4.25"
    c._price_edited(i, 4.0)
    # a bad price is refused with the engine's message and the table keeps the old one
    c._price_edited(i, -1.0)
    assert c.rows[i].usd_per_gpu_hour == 4.0
    assert c.table_source.data["usd_per_gpu_hour"][i] == 4.0
    assert c.error_notices and "allowed" in c.error_notices[0].message


def test_a_cell_edited_in_the_browser_goes_through_the_engine():
    """Edits arrive as patches to the table's source: a price recomputes its row, other cells revert."""
    c = fresh()
    i = [r.hardware for r in c.rows].index("h100")
    c.table_source.patch({"usd_per_gpu_hour": [(i, 3.5)]})
    expected = next(r for r in levers.training_table(prices={"h100": 3.5}) if r.hardware == "h100")
    assert c.rows[i] == expected
    assert c.table_source.data["cost_usd"][i] == expected.cost_usd
    c.table_source.patch({"cost_usd": [(i, 1.0)]})
    assert c.table_source.data["cost_usd"][i] == expected.cost_usd


def test_training_sliders_recompute():
    c = fresh()
    c.train_w["mfu"].value = 0.5
    assert c.rows == levers.training_table(mfu=0.5)
    assert c.train_source.data["cost_usd"] == [r.cost_usd for r in c.rows]
    assert c.query == "?train.mfu=0.5"


def test_formulas_show_the_engine_derivation():
    c = fresh()
    html = c.formulas.object
    step = levers.waterfall(Scenario()).steps[-1]
    for line in levers.derivation.cost_lines(step):
        assert render.esc(line.result) in html
    c.step_w.value = "baseline"
    base = levers.waterfall(Scenario()).steps[0]
    assert render.esc(levers.derivation.cost_lines(base)[1].result) in c.formulas.object


def test_waterfall_data_has_no_arithmetic_of_its_own():
    w = levers.waterfall(levers.load_preset("lesson"))
    data = waterfall_data(w)
    steps = list(w.steps)
    for i in range(1, len(steps)):
        assert data["top"][i] == steps[i - 1].cost_per_day
        assert data["bottom"][i] == steps[i].cost_per_day
    assert math.isclose(data["multiplier"][-1], w.total_multiplier)


def test_module_import_serves_nothing():
    import app.main as m

    assert callable(m.create_app)
    assert not m.pn.state.served
