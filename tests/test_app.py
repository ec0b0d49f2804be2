"""The calculator UI without a browser: drive the Viewer, read its data.

Expectations come from the engine (``levers``), never from numbers typed
here, except the lesson's golden figures.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
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
from levers import explain
from levers.params import allowed
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
    c.serving.on_w["routing"].value = False
    assert c.scenario.off == ["routing"]
    i = c.source.data["lever"].index("routing")
    assert c.source.data["multiplier"][i] == 1.0
    assert c.source.data["top"][i] == c.source.data["bottom"][i]
    assert "off=routing" in c.query
    c.scenario.off = []
    assert c.serving.on_w["routing"].value is True
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
    c.serving.yaxis_w.value = "usd_per_1m_tokens"
    w = levers.waterfall(Scenario())
    assert c.source.data["bottom"][1:6] == [st.usd_per_1m_tokens for st in w.steps[1:]]
    assert c.source.data["top"][0] == w.steps[0].usd_per_1m_tokens
    assert c.fig.yaxis[0].axis_label.startswith("Cost [$ per 1M")
    assert "yaxis=usd_per_1m_tokens" in c.query


def test_yaxis_toggle_uses_usd_per_task_and_task_controls_are_shown():
    c = fresh("?preset=agentic")
    c.serving.yaxis_w.value = "usd_per_task"
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
    assert c.state.error_notices and c.state.error_notices[0].key == "weights"
    assert "fp4" in c.notice.object and c.notice.visible
    c.scenario.hardware = "h100"  # the same refusal, from code instead of the widget
    assert c.scenario.values() == before and c.widgets["hardware"].value == before["hardware"]


def test_lever_cards_show_multiplier_and_engine_explanation():
    c = fresh()
    w = levers.waterfall(Scenario())
    for st in w.steps[1:]:
        html = c.serving.summaries[st.lever].object
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
    c.state.reset()
    assert c.scenario.values() == levers.load_preset("rag-agent").values()
    assert c.state.training.gpus == levers.training.TrainingInputs.param.gpus.default
    assert c.query == "?preset=rag-agent"


def test_view_keys_round_trip():
    st = parse_query("?embed=1&theme=dark&tab=hardware&yaxis=usd_per_1m_tokens")
    assert st.view == {"embed": True, "theme": "dark", "tab": "hardware", "yaxis": "usd_per_1m_tokens"}
    assert build_query("", Scenario(), view=st.view) == (
        "?embed=1&theme=dark&yaxis=usd_per_1m_tokens&tab=hardware")
    assert requested_theme("?theme=light") == "light"
    assert requested_theme(f"?theme={XSS}") == "auto"
    c = fresh("?embed=1&tab=hardware")
    assert c.state.embed and not c.title.visible and c.tabs.active == 1


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
        html = c.notice.object + c.serving.preset_desc.object
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
    data = c.training_tab.table_source.data
    assert c.training_tab.table_source.name == "training_table"
    assert set(fields) <= set(data)
    rows = levers.training_table()
    records = [{f: data[f][i] for f in fields} for i in range(len(rows))]
    assert records == [asdict(r) for r in rows]
    shown = [col.field for col in c.training_tab.table.object.columns]
    assert shown[:4] == ["name", "cost_usd", "days", "usd_per_gpu_hour"]  # the decision columns first


def test_editing_a_price_recomputes_that_row_via_the_engine():
    c = fresh()
    i = [r.hardware for r in c.rows].index("h100")
    before = c.rows[i].cost_usd
    c.state.set_price("h100", 4.0)
    row = c.rows[i]
    assert row.usd_per_gpu_hour == 4.0 and row.cost_usd != before
    assert row == next(r for r in levers.training_table(prices={"h100": 4.0}) if r.hardware == "h100")
    assert c.training_tab.table_source.data["cost_usd"][i] == row.cost_usd
    assert f"{PRICE_PREFIX}h100=4" in c.query
    # the browser may hand over text; the URL still gets the parsed number
    c.state.set_price("h100", "4.25")
    assert c.query == f"?{PRICE_PREFIX}h100=4.25"
    c.state.set_price("h100", 4.0)
    # a bad price is refused with the engine's message and the table keeps the old one
    c.state.set_price("h100", -1.0)
    assert c.rows[i].usd_per_gpu_hour == 4.0
    assert c.training_tab.table_source.data["usd_per_gpu_hour"][i] == 4.0
    assert c.state.error_notices and "allowed" in c.state.error_notices[0].message


def test_a_cell_edited_in_the_browser_goes_through_the_engine():
    """Edits arrive as patches to the table's source: a price recomputes its row, other cells revert."""
    c = fresh()
    i = [r.hardware for r in c.rows].index("h100")
    c.training_tab.table_source.patch({"usd_per_gpu_hour": [(i, 3.5)]})
    expected = next(r for r in levers.training_table(prices={"h100": 3.5}) if r.hardware == "h100")
    assert c.rows[i] == expected
    assert c.training_tab.table_source.data["cost_usd"][i] == expected.cost_usd
    c.training_tab.table_source.patch({"cost_usd": [(i, 1.0)]})
    assert c.training_tab.table_source.data["cost_usd"][i] == expected.cost_usd


def test_training_sliders_recompute():
    c = fresh()
    c.train_w["mfu"].value = 0.5
    assert c.rows == levers.training_table(mfu=0.5)
    assert c.training_tab.train_source.data["cost_usd"] == [r.cost_usd for r in c.rows]
    assert c.query == "?train.mfu=0.5"


def test_formulas_show_the_engine_derivation():
    c = fresh()
    html = c.formulas_tab.formulas.object
    step = levers.waterfall(Scenario()).steps[-1]
    for line in levers.derivation.cost_lines(step):
        assert render.esc(line.result) in html
    c.formulas_tab.step_w.value = "baseline"
    base = levers.waterfall(Scenario()).steps[0]
    assert render.esc(levers.derivation.cost_lines(base)[1].result) in c.formulas_tab.formulas.object


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


# ---- latency, capacity, honesty -------------------------------------------
def test_waterfall_source_carries_each_steps_latency_as_the_engine_gives_it():
    w = levers.waterfall(levers.load_preset("chatbot", route_policy="cascade"))
    data = waterfall_data(w)
    for i, st in enumerate(w.steps):
        assert data["ttft_p90_ms"][i] == st.ttft_p90_ms
        assert data["tpot_ms"][i] == st.tpot_ms
        assert data["slo_met"][i] == st.slo_met
        assert data["slo_reason"][i] == st.slo_reason
        assert data["ttft_text"][i] == explain.ms(st.ttft_p90_ms)
        assert data["slo_text"][i] == ("✓" if st.slo_met else "✗")
    assert data["tpot_ms"][-1] == w.steps[-1].tpot_ms  # the final bar repeats the last step


def test_lever_cards_show_latency_and_the_slo_reason():
    c = fresh("?preset=chatbot&route_policy=cascade")
    missed = [st for st in c.state.wf.steps[1:] if not st.slo_met]
    assert missed, "the cascade preset should have a step missing its SLO"
    st = missed[0]
    html = c.serving.summaries[st.lever].object
    assert render.esc(explain.ms(st.ttft_p90_ms)) in html
    assert "misses the SLO" in html and render.esc(st.slo_reason) in html


def test_cascade_shows_latency_per_request_class():
    c = fresh("?preset=chatbot&route_policy=cascade")
    step = next(st for st in c.state.wf.steps if st.lever == c.state.formula_step)
    names = [cl.name for cl in step.classes]
    assert "escalated" in names
    html = c.serving.classes.object
    for cl in step.classes:
        assert render.esc(cl.name) in html
        assert render.esc(explain.ms(cl.ttft_p90_ms)) in html


def test_capacity_chain_shows_the_engines_replica_figures_for_the_chosen_step():
    c = fresh("?preset=chatbot")
    for lever in ("baseline", "hardware"):
        c.state.formula_step = lever
        st = next(x for x in c.state.wf.steps if x.lever == lever)
        html = c.serving.capacity.object
        assert render.esc(st.title) in html
        for f in st.outcome.fleets:
            assert f"<b>{render.num(f.perf.batch)}</b> sequences" in html
            assert f"weights {render.num(f.perf.weight_GB, 1)} GB" in html
        assert f"${st.usd_per_1m_output:,.2f}" in html
    assert c.formulas_tab.step_w.value == "hardware"  # one parameter behind both step selectors


def test_illustrative_mode_says_which_numbers_are_set_by_hand():
    c = fresh("?preset=lesson")
    html = c.serving.headline.object
    assert "Final cost (set by hand)" in html and "GPUs (modeled)" in html
    assert "2,330" in html and "2,333" in html  # the lesson's rounding is named
    modeled = fresh("?preset=chatbot").serving.headline.object
    assert "set by hand" not in modeled and "Price per 1M output tokens" in modeled


# ---- fields refuse bad values next to the field ---------------------------
@pytest.mark.parametrize("key,bad", [("requests_per_day", 0), ("requests_per_day", -5),
                                     ("peak_to_average", 50.0), ("output_tokens", None)])
def test_a_refused_value_is_explained_next_to_its_field(key, bad):
    c = fresh()
    before = getattr(c.scenario, key)
    w = c.widgets[key]
    w.value = bad  # as typed in the browser
    assert getattr(c.scenario, key) == before
    err = c.serving.field_errors[key]
    assert err.visible
    assert render.esc(allowed(Scenario.param[key])) in err.object
    assert w.value == before and c.query == ""
    w.value = before * 2
    assert not err.visible and getattr(c.scenario, key) == before * 2


def test_training_field_refuses_out_of_range_next_to_it():
    c = fresh()
    w, err = c.train_w["gpus"], c.training_tab.train_errors["gpus"]
    w.value = 0
    assert err.visible and "from 1 to 1,000,000" in err.object
    assert c.state.training.gpus == w.value == levers.training.TrainingInputs.param.gpus.default


def test_numeric_inputs_leave_range_checks_to_the_engine():
    c = fresh()
    w = c.widgets["requests_per_day"]
    assert w.start is None and w.end is None  # the browser would clamp silently


def test_lever_switch_label_says_its_state():
    c = fresh()
    c.serving.on_w["batching"].value = False
    assert "batching" in c.scenario.off and c.serving.on_w["batching"].label.startswith("Lever off")
    c.serving.on_w["batching"].value = True
    assert c.serving.on_w["batching"].label == "✓ Lever on"


def test_the_defaults_preset_is_listed_once():
    c = fresh()
    assert Scenario().values() == levers.load_preset("chatbot").values()
    assert "Engine defaults" not in c.preset_w.options and c.preset_w.value == "chatbot"
    c.preset_w.value = "chatbot"
    assert c.state.preset == "" and c.query == ""  # picking the same scenario changes nothing


def test_embed_snippet_sizes_itself():
    snippet = render.iframe_snippet("https://x.example/?embed=1")
    assert 'height="1400"' not in snippet and "data-cost-levers" in snippet
    assert "cost-levers:height" in snippet and "<script>" in snippet


# ---- exports ----------------------------------------------------------------
def test_waterfall_downloads_are_the_engines_shapes():
    c = fresh("?preset=chatbot&route_policy=cascade")
    data = json.loads(c.serving.downloads["waterfall.json"].callback().read())
    assert data == json.loads(json.dumps(c.state.wf.to_dict(), default=str))
    rows = list(csv.DictReader(io.StringIO(c.serving.downloads["waterfall.csv"].callback().read())))
    assert [r["lever"] for r in rows] == [st.lever for st in c.state.wf.steps]
    assert set(rows[0]) <= {f.name for f in dataclasses.fields(levers.Step)}
    for r, st in zip(rows, c.state.wf.steps, strict=True):
        assert float(r["cost_per_day"]) == st.cost_per_day
        assert r["slo_met"] == str(st.slo_met)


def test_training_downloads_are_the_engines_rows():
    c = fresh()
    assert json.loads(c.serving.downloads["training.json"].callback().read()) == [asdict(r) for r in c.rows]
    rows = list(csv.DictReader(io.StringIO(c.serving.downloads["training.csv"].callback().read())))
    assert [r["hardware"] for r in rows] == [r.hardware for r in c.rows]
    assert [float(r["cost_usd"]) for r in rows] == [r.cost_usd for r in c.rows]


def test_scenario_json_loads_back():
    c = fresh("?preset=code-completion&cache_hit_rate=0.3")
    text = c.serving.downloads["scenario.json"].callback().read()
    d = fresh()
    d.serving.load_w.value = text.encode()  # as the file field hands it over
    assert d.state.preset == "code-completion"
    assert d.scenario.values() == c.scenario.values()
    assert d.query == c.query
    assert [st.cost_per_day for st in d.state.wf.steps] == [st.cost_per_day for st in c.state.wf.steps]


@pytest.mark.parametrize("text,field", [(b"not json", "file"), (b"[1]", "file"),
                                        (b'{"inputs": {"cache_hit_rate": 7}}', "cache_hit_rate"),
                                        (b'{"preset": "nope", "inputs": {}}', "preset"),
                                        (b"\xff\xfe", "file")])
def test_a_bad_scenario_file_is_refused_with_a_notice(text, field):
    c = fresh()
    before = c.scenario.values()
    c.serving.load_w.value = text
    assert c.scenario.values() == before
    assert c.state.error_notices and c.state.error_notices[0].key == field


def test_compact_numbers_as_people_write_them():
    assert [explain.count(x) for x in (70e9, 2e12, 1.5e6, 405e9, 950)] == ["70B", "2T", "1.5M", "405B", "950"]
    assert [explain.money_short(x) for x in (2.0e6, 16_320, 950, 0.58)] == ["$2.0M", "$16.3k", "$950", "$0.58"]
    assert [explain.ms(x) for x in (69_600, 2_200, 672, 8.05)] == ["70 s", "2.2 s", "672 ms", "8.1 ms"]


# ---- one Viewer per tab over one shared state ------------------------------
class FakeLocation(param.Parameterized):
    search = param.String("")
    href = param.String("http://example.test/app")


def test_each_tab_builds_alone_over_a_shared_state():
    from app.formulas import Formulas
    from app.serving import Serving
    from app.state import AppState
    from app.training import Training

    loc = FakeLocation()
    state = AppState(location=loc)
    serving, training, formulas = Serving(state), Training(state), Formulas(state)
    before = formulas.formulas.object
    serving.widgets["hardware"].value = "h200"  # a widget of one tab ...
    assert state.scenario.hardware == "h200"  # ... edits the shared scenario,
    assert loc.search == state.query == "?hardware=h200"  # the address bar,
    want = levers.waterfall(Scenario.from_mapping({"hardware": "h200"}))
    assert state.wf.final_cost_per_day == want.final_cost_per_day
    assert serving.source.data["cost_per_day"][-1] == want.final_cost_per_day
    assert formulas.formulas.object != before  # and what the other tabs show
    training.train_w["gpus"].value = 64
    assert state.rows == levers.training_table(gpus=64)
    assert "train.gpus=64" in loc.search


def test_a_url_change_updates_every_tabs_widgets():
    loc = FakeLocation(search="?preset=chatbot")
    c = Calculator(location=loc)
    loc.search = "?preset=lesson&cache_hit_rate=0.25&train.mfu=0.5&yaxis=usd_per_1m_tokens&tab=formulas"
    assert c.widgets["cache_hit_rate"].value == 0.25
    assert c.mode_w.value == "illustrative" and c.preset_w.value == "lesson"
    assert c.train_w["mfu"].value == 0.5
    assert c.serving.yaxis_w.value == "usd_per_1m_tokens"
    assert c.tabs.active == 2 and c.state.tab == "formulas"


def test_a_new_query_redraws_each_view_once():
    c = fresh()
    drawn, written = [], []
    c.formulas_tab.formulas.param.watch(lambda e: drawn.append(1), "object")
    c.source.on_change("data", lambda attr, old, new: written.append(1))
    c.state.apply_query("?preset=lesson&cache_hit_rate=0.3&mult_routing=2&train.gpus=64&yaxis=usd_per_task")
    assert (len(drawn), len(written)) == (1, 1)  # not once per changed input
    assert c.source.data["cost_per_day"] == engine_costs(
        levers.load_preset("lesson", cache_hit_rate=0.3, mult_routing=2.0))
    assert c.query == "?preset=lesson&cache_hit_rate=0.3&mult_routing=2&train.gpus=64&yaxis=usd_per_task"


def test_view_selectors_are_two_way():
    c = fresh()
    st = c.state
    c.tabs.active = 3  # a tab clicked
    assert st.tab == "decide" and c.decide.active and "tab=decide" in c.query
    st.tab = "hardware"
    assert c.tabs.active == 1 and not c.decide.active
    c.theme_w.value = "dark"
    assert st.theme == "dark" and "theme=dark" in c.query
    st.theme = "light"
    assert c.theme_w.value == "light"
    c.formulas_tab.step_w.value = "routing"  # both step selectors show one state parameter
    assert st.formula_step == "routing" and c.serving.capacity_step_w.value == "routing"
    assert render.esc(next(s for s in st.wf.steps if s.lever == "routing").title) in c.serving.capacity.object
    c.scenario.hardware = "h200"  # from_param: the scenario moves the widget too
    assert c.widgets["hardware"].value == "h200"


def test_capacity_bar_draws_the_engines_memory_shares():
    c = fresh("?preset=chatbot")
    html = c.serving.capacity.object
    step = next(x for x in c.state.wf.steps if x.lever == c.state.formula_step)
    for f in step.outcome.fleets:
        p = f.perf
        w, used, free = p.memory_shares
        assert w == pytest.approx(p.weight_GB / p.memory_GB)
        assert used + free == pytest.approx(p.kv_budget_GB / p.memory_GB)
        assert 0 <= used <= used + free and w + used + free <= 1 + 1e-9
        assert f'style="width:{100 * w:.1f}%"' in html and f'style="width:{100 * used:.1f}%"' in html
    p = step.outcome.fleets[0].perf
    assert dataclasses.replace(p, batch=p.batch_by_memory).memory_shares[2] == pytest.approx(0.0)  # KV full
    assert dataclasses.replace(p, batch=1).memory_shares[1] == pytest.approx(
        p.kv_budget_GB / p.memory_GB / p.batch_by_memory)
    assert dataclasses.replace(p, memory_GB=0.0).memory_shares == (0.0, 0.0, 0.0)


def test_fields_that_apply_only_under_a_switch_show_with_it():
    c = fresh()
    views = c.serving.views
    assert not views["kv_dram_GB"].visible and not views["spec_acceptance"].visible
    assert not views["agent_turns"].visible and not views["disagg_network_GBps"].visible
    c.widgets["kv_offload"].value = True
    c.widgets["speculative"].value = "mtp"
    c.widgets["task_shape"].value = "agentic"
    assert views["kv_dram_GB"].visible and views["spec_acceptance"].visible and views["agent_turns"].visible
    assert not views["thinking_multiple"].visible  # reasoning only
    assert sorted(c.query.lstrip("?").split("&")) == ["kv_offload=true", "speculative=mtp", "task_shape=agentic"]
    assert c.widgets["kv_dram_GB"].label == "Host memory for the cache [GB/GPU]"
    assert c.widgets["distinct_prefixes"].label == "Distinct prefixes"  # the unit is in the words already
