"""Shapley attribution of the waterfall's total saving (levers.attribution)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levers
from levers import attribution as attr
from levers.scenario import LEVERS


@pytest.mark.parametrize("preset", levers.preset_names())
def test_shares_sum_exactly_to_the_log_of_the_total_saving(preset):
    s = levers.load_preset(preset)
    a = attr.attribution(s)
    w = levers.waterfall(s)
    total = math.log(w.baseline_cost_per_day / w.final_cost_per_day)
    assert sum(a["attribution"].values()) == pytest.approx(total, rel=1e-12, abs=1e-12)
    assert a["total"] == pytest.approx(total, rel=1e-12)
    # The interactions are the gap to the sequential bars, so they sum to zero.
    assert sum(a["interaction"].values()) == pytest.approx(0, abs=1e-12)
    assert sum(a["sequential"].values()) == pytest.approx(total, rel=1e-12)


def test_subset_costs_match_one_waterfall_per_subset():
    """The 2^(n-1) chained waterfalls give the same cost as switching each subset on alone."""
    s = levers.load_preset("chatbot")
    order, costs, runs = attr.subset_costs(s)
    assert order == list(LEVERS)
    assert len(costs) == 32 and runs == 16
    for k in range(6):
        for on in itertools.combinations(LEVERS, k):
            alone = levers.load_preset("chatbot", off=",".join(lv for lv in LEVERS if lv not in on))
            assert costs[frozenset(on)] == pytest.approx(levers.waterfall(alone).final_cost_per_day, rel=1e-12)


def test_illustrative_levers_do_not_interact():
    """Hand-set multipliers multiply independently: each share is ln(multiplier)."""
    s = levers.load_preset("lesson")
    a = attr.attribution(s)
    for lv in LEVERS:
        assert a["attribution"][lv] == pytest.approx(math.log(getattr(s, f"mult_{lv}")), rel=1e-12)
        assert a["interaction"][lv] == pytest.approx(0, abs=1e-12)


def test_a_lever_that_changes_nothing_gets_nothing():
    s = levers.load_preset("chatbot", hardware="h100", consolidate=False)  # lever 5 is a no-op
    a = attr.attribution(s)
    assert a["attribution"]["hardware"] == pytest.approx(0, abs=1e-12)


def test_switched_off_levers_get_zero_and_the_rest_still_sum():
    s = levers.load_preset("chatbot", off="routing")
    a = attr.attribution(s)
    assert a["attribution"]["routing"] == 0
    assert a["runs"] == 8 + 1  # 2^(4-1) chained waterfalls plus the sequential one
    assert sum(a["attribution"].values()) == pytest.approx(a["total"], rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(hit=st.floats(0, 0.95, allow_subnormal=False), share=st.floats(0, 0.9, allow_subnormal=False),
       rpd=st.floats(1e4, 5e7))
def test_sum_holds_across_workloads(hit, share, rpd):
    s = levers.load_preset("chatbot", cache_hit_rate=hit, route_share=share, requests_per_day=rpd)
    a = attr.attribution(s)
    assert sum(a["attribution"].values()) == pytest.approx(a["total"], rel=1e-9, abs=1e-12)


def test_cli_attribution_table(capsys):
    from levers.cli import main

    assert main(["attribution", "--preset", "chatbot"]) == 0
    out = capsys.readouterr().out
    a = attr.attribution(levers.load_preset("chatbot"))
    assert f"{a['total']:.3f}" in out
    for lv in LEVERS:
        assert f"{a['attribution'][lv]:.3f}" in out


# ---- lever order ------------------------------------------------------------
def test_reordering_keeps_the_final_bill_and_moves_the_credit():
    s = levers.load_preset("chatbot")
    r = levers.load_preset("chatbot", order="hardware,quantization")
    assert r.order == ["hardware", "quantization", "prefix_caching", "batching", "routing"]
    w, wr = levers.waterfall(s), levers.waterfall(r)
    assert [st.lever for st in wr.steps[1:]] == r.order
    assert wr.final_cost_per_day == pytest.approx(w.final_cost_per_day, rel=1e-12)
    assert math.prod(st.multiplier for st in wr.steps[1:]) == pytest.approx(w.total_multiplier, rel=1e-9)
    seq = {st.lever: st.multiplier for st in w.steps[1:]}
    seq_r = {st.lever: st.multiplier for st in wr.steps[1:]}
    assert seq != pytest.approx(seq_r)  # the sequential credit depends on the order...
    a, ar = attr.attribution(s), attr.attribution(r)
    for lv in LEVERS:  # ...the Shapley share does not
        assert ar["attribution"][lv] == pytest.approx(a["attribution"][lv], rel=1e-9, abs=1e-12)
    assert ar["order"] == r.order


@settings(max_examples=10, deadline=None)
@given(perm=st.permutations(LEVERS))
def test_shapley_shares_do_not_depend_on_the_order(perm):
    base = attr.attribution(levers.load_preset("code-completion"))["attribution"]
    got = attr.attribution(levers.load_preset("code-completion", order=",".join(perm)))["attribution"]
    for lv in LEVERS:
        assert got[lv] == pytest.approx(base[lv], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("text", "words"), [("routing,routing", "order of"), ("routing,gpu", "order of")])
def test_bad_order_names_the_field(text, words):
    with pytest.raises(levers.InputError) as info:
        levers.load_preset("chatbot", order=text)
    assert info.value.field == "order" and words in info.value.message
