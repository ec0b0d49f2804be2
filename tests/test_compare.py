"""Two scenarios in one link: ``b.`` keys (levers.compare, app.urlstate)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levers
from app.urlstate import build_query, parse_query
from levers import compare
from levers.errors import InputError
from levers.scenario import Scenario


def test_split_and_scenario_b_on_top_of_a():
    a_vals, b_vals = compare.split({"cache_hit_rate": "0.5", "b.hardware": "mi355x", "b.weights": "fp4"})
    assert a_vals == {"cache_hit_rate": "0.5"} and b_vals == {"hardware": "mi355x", "weights": "fp4"}
    a = levers.load_preset("chatbot", **a_vals)
    b = compare.scenario_b(a, b_vals)
    assert b.hardware == "mi355x" and b.weights == "fp4" and b.cache_hit_rate == 0.5
    assert a.hardware == "b200"  # A untouched
    assert b.changed(a) == {"hardware": "mi355x", "weights": "fp4"}


def test_compare_differences_come_from_the_two_waterfalls():
    a = levers.load_preset("chatbot")
    b = compare.scenario_b(a, {"hardware": "mi355x", "weights": "fp4"})
    c = compare.compare(a, b)
    wa, wb = levers.waterfall(a), levers.waterfall(b)
    assert c["a"]["final_cost_per_day"] == wa.final_cost_per_day
    assert c["b"]["final_cost_per_day"] == wb.final_cost_per_day
    assert c["difference"]["gpus"] == wb.steps[-1].gpus - wa.steps[-1].gpus
    assert c["ratio"]["usd_per_1m_output"] == pytest.approx(
        wb.steps[-1].usd_per_1m_output / wa.steps[-1].usd_per_1m_output)
    assert c["b_changes"] == {"hardware": "mi355x", "weights": "fp4"}


@pytest.mark.parametrize(("raw", "field", "words"), [
    ({"hardware": "tpu-v9"}, "b.hardware", "one of"),
    ({"cache_hit_rate": "2"}, "b.cache_hit_rate", "from 0 to 1"),
    ({"colour": "red"}, "b.colour", "unknown key"),
    ({"hardware": "h100", "weights": "fp4"}, "b.weights", "FP4"),
])
def test_bad_b_values_name_the_prefixed_key(raw, field, words):
    a = levers.load_preset("chatbot")
    with pytest.raises(InputError) as info:
        compare.scenario_b(a, raw)
    assert info.value.field == field and words in info.value.message


def test_b_keys_round_trip_through_the_url():
    q = "?preset=chatbot&b.hardware=mi355x&b.weights=fp4"
    state = parse_query(q)
    assert state.notices == []
    assert state.b == {"hardware": "mi355x", "weights": "fp4"}
    # Written back in declaration order (weights before hardware), and that parses the same.
    canonical = "?preset=chatbot&b.weights=fp4&b.hardware=mi355x"
    assert build_query(state.preset, state.scenario, b=state.b) == canonical
    assert parse_query(canonical).b == state.b


def test_bad_b_keys_in_the_url_are_reported_and_dropped():
    state = parse_query("?preset=chatbot&b.hardware=mi355x&b.cache_hit_rate=7&b.nope=1")
    assert state.b == {"hardware": "mi355x"}
    keys = {n.key for n in state.notices}
    assert keys == {"b.cache_hit_rate", "b.nope"}
    msg = {n.key: n.message for n in state.notices}
    assert "0 to 1" in msg["b.cache_hit_rate"]


B_VALUES = st.fixed_dictionaries({}, optional={
    "hardware": st.sampled_from(["h100", "b200", "mi355x", "h200"]),
    "cache_hit_rate": st.floats(0, 1, allow_subnormal=False),
    "route_share": st.floats(0, 1, allow_subnormal=False),
    "batching": st.sampled_from(["static", "continuous"]),
    "requests_per_day": st.integers(10_000, 10**8).map(float),
    "output_tokens": st.integers(1, 2000),
})


@settings(max_examples=25, deadline=None)
@given(b=B_VALUES, preset=st.sampled_from(["chatbot", "code-completion", ""]))
def test_b_round_trip_property(b, preset):
    a = levers.load_preset(preset) if preset else Scenario()
    b = compare.parse_b(b)
    q = build_query(preset, a, b=b)
    state = parse_query(q)
    assert state.notices == []
    assert state.b == b
    assert build_query(state.preset, state.scenario, b=state.b) == q


def test_cli_compare_table_and_json(capsys):
    import json

    from levers.cli import main

    args = ["compare", "--preset", "chatbot", "--set", "b.hardware=mi355x", "--set", "b.weights=fp4"]
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    a = levers.load_preset("chatbot")
    want = compare.compare(a, compare.scenario_b(a, {"hardware": "mi355x", "weights": "fp4"}))
    assert data["difference"] == want["difference"] and data["b_changes"] == want["b_changes"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "B: A with " in out and "weights=fp4" in out and "hardware=mi355x" in out
    assert "final bill [$/day]" in out


def test_cli_compare_bad_b_key_is_one_line(capsys):
    from levers.cli import main

    assert main(["compare", "--set", "b.cache_hit_rate=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "b.cache_hit_rate" in err[0] and "0 to 1" in err[0]


# ---- the Decide tab renders what the engine returns -----------------------
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_decide_tab_shows_the_engine_results_and_keeps_b_in_the_url():
    from app.main import Calculator
    from levers import api, attribution, sensitivity

    c = Calculator("?preset=chatbot&b.hardware=mi355x&b.weights=fp4&tab=decide")
    d = c.decide
    assert d.active and d.b == {"hardware": "mi355x", "weights": "fp4"}
    a = levers.load_preset("chatbot")
    assert d.compare_result["difference"] == compare.compare(a, compare.scenario_b(a, d.b))["difference"]
    curve = api.comparison(a)["curve"]
    assert d.fleet_src.data["y"] == curve["self_hosted"]
    assert d.attr_src.data["value"][0] == attribution.attribution(a)["attribution"]["hardware"]
    assert d.base_span.location == sensitivity.sensitivity(a)["base"]
    # Editing B in the tab rewrites the link; a bad value is named and left out.
    d.b_input.value = "hardware=h200, cache_hit_rate=5"
    assert d.b == {"hardware": "h200"}
    assert "b.hardware=h200" in c.query and "cache_hit_rate" not in c.query
    assert "b.cache_hit_rate" in d.b_notice.object
    # Moving an input of A recomputes the tab.
    c.widgets["cache_hit_rate"].value = 0.5
    moved = levers.load_preset("chatbot", cache_hit_rate=0.5)
    assert d.tornado_result["base"] == sensitivity.sensitivity(moved)["base"]


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_decide_tab_computes_nothing_while_hidden():
    from app.main import Calculator

    c = Calculator("?preset=chatbot")
    assert not c.decide.active and c.decide.api_result is None
    c.tab = "decide"
    assert c.decide.api_result is not None


def test_lever_order_round_trips_through_the_url():
    state = parse_query("?preset=chatbot&order=routing,hardware")
    assert state.notices == []
    assert state.scenario.order == ["routing", "hardware", "prefix_caching", "batching", "quantization"]
    q = build_query(state.preset, state.scenario)
    assert q == "?preset=chatbot&order=routing,hardware,prefix_caching,batching,quantization"
    assert parse_query(q).scenario.order == state.scenario.order


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_order_selects_swap_levers_and_reorder_the_waterfall():
    from app.main import Calculator

    c = Calculator("?preset=chatbot&tab=decide")
    c.decide.order_w[0].value = "hardware"  # hardware first; prefix caching takes its old place
    want = ["hardware", "batching", "routing", "quantization", "prefix_caching"]
    assert c.scenario.order == want
    assert c.source.data["lever"][1:-1] == want
    assert list(c.fig.x_range.factors) == c.source.data["x"]
    assert "order=hardware,batching,routing,quantization,prefix_caching" in c.query
