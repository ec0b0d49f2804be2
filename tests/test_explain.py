"""One number formatter: shares and multipliers read the same everywhere."""

from __future__ import annotations

import pytest

import levers
from levers.explain import pct, times


@pytest.mark.parametrize(("x", "text"), [(0.8, "80%"), (0.005, "0.5%"), (0.0, "0%"), (-0.0, "0%"),
                                         (0.0999, "10%"), (1.0, "100%")])
def test_pct(x, text):
    assert pct(x) == text


@pytest.mark.parametrize(("m", "text"), [(2.4, "÷2.4"), (12.3, "÷12"), (1.0, "÷1"),
                                         (0.8, "×1.2, costs more"), (0.99, "×1.01, costs more"),
                                         (1.004, "÷1.004")])
def test_times(m, text):
    assert times(m) == text


@pytest.mark.parametrize("m", [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0001, 1.001, 1.01, 1.5])
def test_a_change_never_reads_as_one(m):
    assert times(m) not in ("÷1", "×1") and ("costs more" in times(m)) == (m < 1)


def test_the_app_uses_the_same_formatters():
    from app import render

    assert render.pct is pct and render.times is times


def test_routing_at_tiny_traffic_says_it_costs_more():
    # 100 requests a day: a second model needs its own replicas, so routing
    # raises the bill, and the step says so instead of rounding to ×1.
    s = levers.load_preset("chatbot", requests_per_day=100, consolidate=False)
    step = next(st for st in levers.waterfall(s).steps if st.lever == "routing")
    assert step.multiplier < 1
    assert times(step.multiplier).endswith("costs more")


@pytest.mark.parametrize("x, want", [(8.14, "8.1ms"), (16.2, "16ms"), (99.4, "99ms"), (99.6, "0.1s"),
                                     (747, "0.7s"), (8746, "8.7s"), (9_949, "9.9s"), (9_951, "10s"),
                                     (69_611, "70s")])
def test_short_latency_fits_a_narrow_column(x, want):
    from levers.explain import ms_short

    assert ms_short(x) == want
    assert len(want) <= 5
