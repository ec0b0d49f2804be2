"""The tornado: each input moved over its stated range (levers.sensitivity)."""

from __future__ import annotations

import pytest

import levers
from levers import sensitivity as sens
from levers import specs


@pytest.fixture(scope="module")
def chatbot():
    s = levers.load_preset("chatbot")
    return s, sens.sensitivity(s)


def test_rows_are_sorted_by_swing_and_cover_every_sweep(chatbot):
    _, t = chatbot
    swings = [r["swing"] for r in t["rows"]]
    assert swings == sorted(swings, reverse=True)
    assert {r["key"] for r in t["rows"]} == {sw.key for sw in sens.SWEEPS}
    assert {"cache_hit_rate", "route_share", "usd_per_gpu_hour", "mfu", "mbu", "output_tokens",
            "peak_to_average"} <= {r["key"] for r in t["rows"]}


def test_each_end_is_the_waterfall_with_that_one_input_moved(chatbot):
    s, t = chatbot
    assert t["base"] == levers.waterfall(s).steps[-1].usd_per_1m_output
    for r in t["rows"]:
        for end in ("low", "high"):
            moved = levers.load_preset("chatbot", **{r["key"]: r[f"{end}_value"]})
            assert r[end] == levers.waterfall(moved).steps[-1].usd_per_1m_output
        assert r["swing"] == max(r["low"], r["high"], t["base"]) - min(r["low"], r["high"], t["base"])


def test_ends_follow_the_stated_range_within_the_declared_bounds():
    s = levers.load_preset("chatbot", cache_hit_rate=0.95, output_tokens=150)
    t = {r["key"]: r for r in sens.sensitivity(s)["rows"]}
    assert t["cache_hit_rate"]["low_value"] == pytest.approx(0.80)
    assert t["cache_hit_rate"]["high_value"] == 1.0  # 0.95 + 0.15 clipped to the bound
    assert (t["output_tokens"]["low_value"], t["output_tokens"]["high_value"]) == (75, 300)
    assert t["cache_hit_rate"]["range"] == "-0.15 to +0.15"
    assert t["output_tokens"]["range"] == "×0.5 to ×2"


def test_gpu_price_scales_the_token_price_exactly(chatbot):
    """Cost is linear in the GPU price, so ×0.7 and ×1.3 on the price do the same to $/1M."""
    s, t = chatbot
    row = next(r for r in t["rows"] if r["key"] == "usd_per_gpu_hour")
    assert row["value"] == specs.get(s.hardware).usd_per_hour  # 0 means the spec price
    assert row["low"] == pytest.approx(0.7 * t["base"], rel=1e-12)
    assert row["high"] == pytest.approx(1.3 * t["base"], rel=1e-12)


def test_illustrative_mode_moves_the_hand_set_figures():
    t = sens.sensitivity(levers.load_preset("lesson"))
    assert {r["key"] for r in t["rows"]} == {sw.key for sw in sens.ILLUSTRATIVE_SWEEPS}
    base_row = next(r for r in t["rows"] if r["key"] == "baseline_cost_per_day")
    assert base_row["high"] == pytest.approx(2 * t["base"], rel=1e-12)


def test_cli_sensitivity_lists_widest_first(capsys):
    from levers.cli import main

    assert main(["sensitivity", "--preset", "chatbot"]) == 0
    out = capsys.readouterr().out.splitlines()
    t = sens.sensitivity(levers.load_preset("chatbot"))
    labels = [r["label"] for r in t["rows"]]
    body = [ln for ln in out if any(ln.startswith(lb) for lb in labels)]
    assert [next(lb for lb in labels if ln.startswith(lb)) for ln in body] == labels
