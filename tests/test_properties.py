"""Property tests of the waterfall over the declared input bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import levers
from levers import InputError, Scenario

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b", "mixtral-8x7b", "llama-2-70b"]
HARDWARE = ["h100", "b200", "mi300x", "mi355x", "h200", "a100", "tpu-v6e", "l40s"]

scenarios = st.fixed_dictionaries({
    "requests_per_day": st.floats(1, 1e8, allow_subnormal=False),
    "system_prompt_tokens": st.integers(0, 20_000),
    "user_tokens": st.integers(0, 20_000),
    "output_tokens": st.integers(1, 4000),
    "peak_to_average": st.floats(1, 20, allow_subnormal=False),
    "utilization": st.floats(0.05, 1, allow_subnormal=False),
    "cache_hit_rate": st.floats(0, 1, allow_subnormal=False),
    "batching": st.sampled_from(["static", "continuous"]),
    "route_share": st.floats(0, 1, allow_subnormal=False),
    "route_policy": st.sampled_from(["cascade", "split"]),
    "weights": st.sampled_from(["bf16", "fp8", "int4"]),
    "kv_cache": st.sampled_from(["bf16", "fp8"]),
    "big_model": st.sampled_from(MODELS),
    "small_model": st.sampled_from(MODELS),
    "baseline_hardware": st.sampled_from(HARDWARE),
    "hardware": st.sampled_from(HARDWARE),
    "consolidate": st.booleans(),
    "mfu": st.floats(0.01, 1, allow_subnormal=False),
    "mbu": st.floats(0.01, 1, allow_subnormal=False),
    "max_batch": st.integers(1, 8192),
    "static_longest_over_mean": st.floats(1, 10, allow_subnormal=False),
    "memory_utilization": st.floats(0.1, 1, allow_subnormal=False),
    "min_replicas": st.integers(1, 4),
    "sizing": st.sampled_from(["slo", "max_throughput"]),
    "ttft_slo_high_ms": st.floats(1, 60_000, allow_subnormal=False),
    "tpot_slo_high_ms": st.floats(1, 10_000, allow_subnormal=False),
    "ttft_slo_low_ms": st.just(1),
    "tpot_slo_low_ms": st.just(1),
})

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much])


def build(values) -> Scenario | None:
    """A scenario, or None when the models do not fit the hardware at all.

    Also None for the values the scenario refuses: a small model larger than
    the big one, a request longer than a model's context window, or a share
    too close to 0 to compute with (a subnormal float).
    """
    try:
        s = Scenario.from_mapping(values)
    except InputError as exc:
        assert exc.field in ("small_model", "context") or "too close to 0" in exc.message, exc
        return None
    try:
        levers.waterfall(s)
    except InputError as exc:
        assert "does not fit" in exc.message
        return None
    return s


@SETTINGS
@given(scenarios)
def test_product_of_multipliers_is_baseline_over_final(values):
    s = build(values)
    if s is None:
        return
    w = levers.waterfall(s)
    product = math.prod(step.multiplier for step in w.steps)
    assert product == pytest.approx(w.baseline_cost_per_day / w.final_cost_per_day, rel=1e-9)
    assert w.total_multiplier == pytest.approx(product, rel=1e-9)


@SETTINGS
@given(scenarios, st.floats(0, 1, allow_subnormal=False), st.floats(0, 1, allow_subnormal=False))
def test_cost_never_rises_with_cache_hit_rate(values, a, b):
    lo, hi = sorted((a, b))
    s_lo = build({**values, "cache_hit_rate": lo})
    s_hi = build({**values, "cache_hit_rate": hi})
    if s_lo is None or s_hi is None:
        return
    w_lo, w_hi = levers.waterfall(s_lo), levers.waterfall(s_hi)
    for step_lo, step_hi in zip(w_lo.steps, w_hi.steps, strict=True):
        # A step whose targets are out of reach is priced at the nearest reachable
        # targets, and those move with the hit rate: only priced-at-target steps compare.
        if not (step_lo.slo_met and step_hi.slo_met):
            continue
        assert step_hi.cost_per_day <= step_lo.cost_per_day * (1 + 1e-12), step_lo.lever


def _never_dearer(values, worse: dict, better: dict, what: str) -> None:
    """Cost per step with ``better`` settings is at most that with ``worse``."""
    s_worse = build({**values, **worse})
    s_better = build({**values, **better})
    if s_worse is None or s_better is None:
        return
    w_worse, w_better = levers.waterfall(s_worse), levers.waterfall(s_better)
    for a, b in zip(w_worse.steps, w_better.steps, strict=True):
        assert b.cost_per_day <= a.cost_per_day * (1 + 1e-12), (what, a.lever, a.cost_per_day,
                                                                b.cost_per_day)


@SETTINGS
@given(scenarios, st.floats(0.1, 1, allow_subnormal=False), st.floats(0.1, 1, allow_subnormal=False))
def test_cost_never_rises_with_more_memory(values, a, b):
    lo, hi = sorted((a, b))
    _never_dearer(values, {"memory_utilization": lo}, {"memory_utilization": hi}, "memory")


@SETTINGS
@given(scenarios, st.sampled_from(["fp8", "int4"]), st.sampled_from(["bf16", "fp8"]))
def test_cost_never_rises_with_fewer_bytes(values, weights, kv):
    # Fewer bytes per weight or KV element, at the same or a faster compute
    # format: FP8 and INT4 weights against BF16, FP8 KV against BF16 KV.
    _never_dearer(values, {"weights": "bf16", "kv_cache": kv}, {"weights": weights, "kv_cache": kv},
                  "weights")
    _never_dearer(values, {"weights": weights, "kv_cache": "bf16"},
                  {"weights": weights, "kv_cache": "fp8"}, "kv")


def test_more_memory_keeps_the_larger_cheaper_shapes():
    # Regression: the tensor-parallel window once started at the smallest size
    # that holds the weights and ended at 4x that, so more memory dropped the
    # larger, cheaper shapes ($35,520 at 0.85, $39,840 at 0.9).
    cost = {m: levers.waterfall(levers.load_preset("chatbot", output_tokens=4000,
                                                   memory_utilization=m)).baseline_cost_per_day
            for m in (0.85, 0.9)}
    assert cost[0.9] <= cost[0.85]


def test_more_memory_keeps_the_shared_pool():
    # Regression (found by a random search): with more memory the pool's
    # batches grew, TTFT then set its replica count, and the pool lost to two
    # fleets ($149 at 30% memory, $298 at 97.5%) until its batches were halved
    # like a single model's.
    values = {'requests_per_day': 3.9789, 'system_prompt_tokens': 13997, 'user_tokens': 203,
              'output_tokens': 1767, 'peak_to_average': 2.0116, 'utilization': 0.4591,
              'cache_hit_rate': 0.9529, 'batching': 'static', 'route_share': 0.1751,
              'route_policy': 'split', 'weights': 'int4', 'kv_cache': 'bf16',
              'big_model': 'qwen2.5-7b', 'small_model': 'qwen2.5-7b',
              'baseline_hardware': 'mi355x', 'hardware': 'l40s', 'consolidate': True,
              'mfu': 0.5325, 'mbu': 0.862, 'max_batch': 1203, 'min_replicas': 4, 'sizing': 'slo',
              'ttft_slo_low_ms': 1, 'tpot_slo_low_ms': 1, 'ttft_slo_high_ms': 1193.4847,
              'tpot_slo_high_ms': 511.1133}
    cost = {m: levers.waterfall(Scenario.from_mapping({**values, "memory_utilization": m}))
            .final_cost_per_day for m in (0.2967, 0.975)}
    assert cost[0.975] <= cost[0.2967]


@SETTINGS
@given(scenarios)
def test_every_lever_off_gives_multiplier_one(values):
    s = build({**values, "off": ",".join(levers.LEVERS)})
    if s is None:
        return
    w = levers.waterfall(s)
    assert [step.multiplier for step in w.steps] == [1.0] * 6
    assert len({step.cost_per_day for step in w.steps}) == 1


@SETTINGS
@given(scenarios)
def test_levers_at_their_off_values_give_multiplier_one(values):
    s = build({**values, "cache_hit_rate": 0, "batching": "static", "route_share": 0,
               "weights": "bf16", "kv_cache": "bf16", "hardware": values["baseline_hardware"],
               "consolidate": False})
    if s is None:
        return
    assert [step.multiplier for step in levers.waterfall(s).steps] == [1.0] * 6


def _finite(x):
    return isinstance(x, bool) or not isinstance(x, float) or math.isfinite(x)


@SETTINGS
@given(scenarios, st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0]))
def test_outputs_are_finite_including_share_edges(values, hit, share):
    s = build({**values, "cache_hit_rate": hit, "route_share": share})
    if s is None:
        return
    for step in levers.waterfall(s).steps:
        for key, value in vars(step).items():
            if key != "details":
                assert _finite(value), (key, value)
        assert step.cost_per_day > 0 and step.gpus >= 1
        assert step.usd_per_1m_input >= 0 and step.usd_per_1m_output >= 0
        assert step.usd_per_1m_cached_input >= 0


@pytest.mark.parametrize("name", levers.preset_names())
def test_every_preset_computes(name):
    w = levers.waterfall(levers.load_preset(name))
    assert w.final_cost_per_day > 0
    assert all(step.explanation for step in w.steps)


@SETTINGS
@given(scenarios)
def test_every_fleet_holds_its_targets_or_says_why(values):
    s = build({**values, "sizing": "slo"})
    if s is None:
        return
    for step in levers.waterfall(s).steps:
        for f in step.outcome.fleets:
            assert f.replicas >= s.min_replicas
            if f.meets_slo:
                assert f.tpot_s * 1e3 <= s.tpot_slo_high_ms * (1 + 1e-9), step.lever
                assert f.ttft_p90_s * 1e3 <= s.ttft_slo_high_ms * (1 + 1e-9), step.lever
            else:
                assert "even at batch 1" in f.reason
        assert step.slo_met == (not step.slo_reason)
        assert step.slo_met == (all(c.slo_met for c in step.classes)
                                and all(f.meets_slo for f in step.outcome.fleets))


@SETTINGS
@given(scenarios)
def test_pricing_at_the_slo_never_costs_less_than_at_maximum_throughput(values):
    slo = build({**values, "sizing": "slo"})
    mt = build({**values, "sizing": "max_throughput"})
    if slo is None or mt is None:
        return
    for a, b in zip(levers.waterfall(mt).steps, levers.waterfall(slo).steps, strict=True):
        assert a.cost_per_day <= b.cost_per_day * (1 + 1e-12), a.lever
