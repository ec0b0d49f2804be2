"""Cost at the latency targets: batches, replicas, queueing, request classes, pools."""

from __future__ import annotations

import math

import pytest

import levers
from levers import queueing
from levers.fleet import SECONDS_PER_DAY

MODELED = [n for n in levers.preset_names() if levers.load_preset(n).mode == "modeled"]


# ---- queueing formulas against textbook values ----------------------------

def test_erlang_c_matches_closed_forms():
    # M/M/1: the chance of waiting is the utilization.
    assert queueing.erlang_c(1, 0.7) == pytest.approx(0.7, rel=1e-12)
    # M/M/2 at a = 1 Erlang: C = (a^2/2! x 2/(2-a)) / (1 + a + a^2/2! x 2/(2-a)) = 1/3.
    assert queueing.erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)
    # Kleinrock (1975) table value: c = 10, a = 8 gives C = 0.4092.
    assert queueing.erlang_c(10, 8.0) == pytest.approx(0.4092, abs=5e-4)
    assert queueing.erlang_c(3, 3.0) == 1.0 and queueing.erlang_c(3, 0.0) == 0.0


@pytest.mark.parametrize("rho", [0.8, 0.9, 0.95])
def test_halfin_whitt_agrees_with_the_exact_recursion_where_it_takes_over(rho):
    # Above EXACT_UP_TO servers the approximation is used; at the boundary it
    # must agree with the exact value within 10% (measured: 2.6% to 8.6%).
    c = queueing.EXACT_UP_TO
    exact = queueing.erlang_c(c, c * rho)
    beta = (c - c * rho) / math.sqrt(c * rho)
    phi = math.exp(-beta * beta / 2) / math.sqrt(2 * math.pi)
    hw = 1 / (1 + beta * 0.5 * (1 + math.erf(beta / math.sqrt(2))) / phi)
    assert hw == pytest.approx(exact, rel=0.4 if rho == 0.8 else 0.1)
    assert queueing.erlang_c(c + 1, (c + 1) * rho) == pytest.approx(exact, rel=0.5)


def test_md1_mean_wait_is_pollaczek_khinchine():
    # M/D/1: W = rho S / (2 (1 - rho)) exactly; Allen-Cunneen reproduces it.
    lam, svc = 3.0, 0.25
    rho = lam * svc
    w = queueing.wait(lam, svc, 1, cs2=0.0)
    assert w.mean_s == pytest.approx(rho * svc / (2 * (1 - rho)), rel=1e-12)
    assert w.p50_s <= w.p90_s
    assert queueing.wait(lam, 1.0, 1).p90_s == math.inf  # overloaded


# ---- every modeled preset meets its SLO or says why ------------------------

@pytest.mark.parametrize("name", MODELED)
def test_each_step_meets_its_targets_or_says_why(name):
    s = levers.load_preset(name)
    for step in levers.waterfall(s).steps:
        assert step.classes
        for c in step.classes:
            ok = c.ttft_p90_ms <= s.ttft_slo_high_ms * (1 + 1e-9) and \
                c.tpot_ms <= s.tpot_slo_high_ms * (1 + 1e-9)
            assert c.slo_met == ok
            assert c.ttft_p50_ms <= c.ttft_p90_ms
        assert step.slo_met == all(c.slo_met for c in step.classes) or not step.slo_met
        if not step.slo_met:
            assert step.slo_reason, step.lever
        for f in step.outcome.fleets:
            # each fleet holds its own targets unless it says it cannot
            if f.meets_slo:
                assert f.tpot_s * 1e3 <= s.tpot_slo_high_ms * (1 + 1e-9)
                assert f.ttft_p90_s * 1e3 <= s.ttft_slo_high_ms * (1 + 1e-9)
            else:
                assert f.reason
            assert f.replicas >= s.min_replicas


def test_the_chatbot_cascade_says_escalated_requests_miss_the_ttft_target():
    s = levers.load_preset("chatbot")
    step = next(st for st in levers.waterfall(s).steps if st.lever == "routing")
    classes = {c.name: c for c in step.classes}
    esc, small = classes["escalated"], classes["answered by small"]
    assert esc.share == pytest.approx(0.3) and small.share == pytest.approx(0.7)
    o = step.outcome
    big_f, small_f = o.fleet("big"), o.fleet("small")
    # escalated: the small model's whole reply, then the big model's first token
    rest = (s.output_tokens - 1) * small_f.tpot_s
    assert esc.ttft_p50_ms == pytest.approx((small_f.ttft_p50_s + rest + big_f.ttft_p50_s) * 1e3)
    assert esc.tpot_ms == pytest.approx(big_f.tpot_s * 1e3)
    assert not esc.slo_met and small.slo_met
    assert not step.slo_met and "escalated" in step.slo_reason
    # the headline shows the slowest class, never an average
    assert step.ttft_ms == pytest.approx(esc.ttft_p50_ms)


def test_latency_and_replicas_respond_to_traffic():
    lo = levers.waterfall(levers.load_preset("chatbot", requests_per_day=1_000_000))
    hi = levers.waterfall(levers.load_preset("chatbot", requests_per_day=30_000_000))
    for a, b in zip(lo.steps, hi.steps, strict=True):
        assert b.gpus > a.gpus
        assert (a.ttft_p90_ms, a.ttft_ms) != (b.ttft_p90_ms, b.ttft_ms)
    # at maximum throughput the queue is reported, not held: more traffic on
    # proportionally more replicas waits less (more servers share the queue)
    mt = dict(sizing="max_throughput")
    lo = levers.waterfall(levers.load_preset("chatbot", requests_per_day=1_000_000, **mt))
    hi = levers.waterfall(levers.load_preset("chatbot", requests_per_day=30_000_000, **mt))
    assert lo.steps[-1].ttft_p90_ms != hi.steps[-1].ttft_p90_ms


@pytest.mark.parametrize("name", MODELED)
def test_max_throughput_never_costs_more_than_the_slo(name):
    slo = levers.waterfall(levers.load_preset(name))
    mt = levers.waterfall(levers.load_preset(name, sizing="max_throughput"))
    for a, b in zip(slo.steps, mt.steps, strict=True):
        assert b.cost_per_day <= a.cost_per_day * (1 + 1e-12), a.lever


def test_an_unreachable_target_is_flagged_and_priced_at_the_fastest_fleet():
    # 1 ms TPOT: no batch of a 70B model on any H100 group gets there (its
    # all-reduces alone take 80 layers x 2 x 10 us).
    s = levers.load_preset("chatbot", tpot_slo_high_ms=1, tpot_slo_low_ms=1,
                           off="routing,hardware")
    w = levers.waterfall(s)
    for step in w.steps:
        assert not step.slo_met
        assert "even at batch 1" in step.slo_reason
        assert all(not f.meets_slo for f in step.outcome.fleets)
    # the fastest fleet costs at least what a reachable target costs
    easy = levers.waterfall(levers.load_preset("chatbot", off="routing,hardware"))
    for hard, ok in zip(w.steps, easy.steps, strict=True):
        assert hard.cost_per_day >= ok.cost_per_day
        # only the unreachable target is relaxed
        assert f"held to {s.ttft_slo_high_ms:,.4g} ms TTFT" in hard.slo_reason


# ---- redundancy and shared pools -----------------------------------------

def test_chatbot_final_fleet_has_redundancy_and_fits_in_memory():
    s = levers.load_preset("chatbot")
    final = levers.waterfall(s).steps[-1]
    o = final.outcome
    assert final.gpus >= 2
    for f in o.fleets:
        assert f.replicas >= 2
    if o.pooled:
        # one replica holds both models' weights and both models' KV
        p0 = o.fleets[0].perf
        used = 0.0
        for f in o.fleets:
            p = f.perf
            cached = s.cache_hit_rate * (s.system_prompt_tokens + s.user_tokens)
            used += p.weight_GB * 1e9 + (p.batch * p.resident_tokens + cached) * p.kv_bytes_per_token
        assert used <= p0.memory_GB * 1e9 * (1 + 1e-12)
        assert final.gpus < o.separate_gpus
        assert "holds both models" in o.pool_note


def test_min_replicas_one_allows_a_single_replica():
    one = levers.waterfall(levers.load_preset("chatbot", min_replicas=1))
    two = levers.waterfall(levers.load_preset("chatbot"))
    for a, b in zip(one.steps, two.steps, strict=True):
        assert a.cost_per_day <= b.cost_per_day
    assert any(f.replicas == 1 for st in one.steps for f in st.outcome.fleets)


def test_a_pool_that_cannot_hold_both_models_stays_apart_and_says_why():
    # 405B + 70B at FP8 need 475 GB of weights; 8 x H100 at 72% hold 461 GB,
    # and 16-GPU pool replicas (2 x 16) cost more than two fleets (2 x 8 + 2 x 2).
    s = levers.load_preset("rag-agent", hardware="h100", memory_utilization=0.72,
                           requests_per_day=1000)
    final = levers.waterfall(s).steps[-1]
    o = final.outcome
    assert not o.pooled and "do not fit on 8 x h100" in o.pool_note
    assert final.gpus == o.separate_gpus == sum(f.gpus for f in o.fleets)


def test_time_slicing_two_models_adds_the_other_models_step():
    s = levers.load_preset("chatbot")
    o = levers.waterfall(s).steps[-1].outcome
    if not o.pooled:
        pytest.skip("chatbot is not pooled")
    big, small = o.fleet("big"), o.fleet("small")
    assert big.tpot_s == pytest.approx(big.perf.tpot_s + small.perf.tpot_s)
    assert small.tpot_s == pytest.approx(big.perf.tpot_s + small.perf.tpot_s)
    # each model's batch is held to half the TPOT target, so the sum holds it
    assert big.tpot_s * 1e3 <= s.tpot_slo_high_ms * (1 + 1e-9)


# ---- throughput agrees with a waterfall replica --------------------------

@pytest.mark.parametrize("lever", ["batching", "quantization", "hardware"])
def test_throughput_matches_a_waterfall_replica(lever):
    s = levers.load_preset("chatbot", consolidate=False)
    step = next(st for st in levers.waterfall(s).steps if st.lever == lever)
    f = step.outcome.fleet("big")
    cfg = step.outcome.config
    prompt = s.system_prompt_tokens + s.user_tokens
    r = levers.throughput(f.model, cfg.hardware, f.perf.tp, weights=cfg.weights,
                          kv_cache=cfg.kv_cache, input_tokens=prompt,
                          cached_tokens=round(cfg.cache_hit_rate * prompt),
                          output_tokens=s.output_tokens, batching=cfg.batching, slo=True,
                          tpot_slo_ms=s.tpot_slo_high_ms, ttft_slo_ms=s.ttft_slo_high_ms)
    assert f.perf.batch_limit != "ttft"  # the batch was not halved for queueing
    assert r["batch"] == f.perf.batch
    assert r["requests_per_s"] == pytest.approx(f.perf.requests_per_s, rel=1e-9)
    assert r["tpot_ms"] == pytest.approx(f.perf.tpot_s * 1e3, rel=1e-9)
    assert r["ttft_ms"] == pytest.approx(f.perf.ttft_s * 1e3, rel=1e-9)
    assert r["slo_met"] is True


def test_throughput_caps_the_batch_at_the_waterfalls_max_batch():
    r = levers.throughput("llama-3.1-405b", "h100", 16, input_tokens=128, output_tokens=128)
    assert r["batch"] == levers.Scenario.param["max_batch"].default
    assert r["batch_limit"] == "max_batch"
    slo = levers.throughput("llama-3.1-405b", "h100", 16, input_tokens=128, output_tokens=128,
                            slo=True, tpot_slo_ms=50)
    assert slo["tpot_ms"] <= 50 and slo["batch"] < r["batch"]


def test_peak_rate_sets_the_arrivals():
    s = levers.load_preset("chatbot")
    f = levers.waterfall(s).steps[0].outcome.fleet("big")
    assert f.arrivals_per_s == pytest.approx(s.requests_per_day / SECONDS_PER_DAY * s.peak_to_average)


@pytest.mark.parametrize(("hw_id", "tp"), [("h100", 2), ("h100", 8), ("h100", 16), ("h100", 64),
                                           ("b200", 32), ("mi300x", 16)])
def test_replica_communication_is_t_comm(hw_id, tp):
    # A shape's decode all-reduces must be t_comm's (scale-out beyond the
    # scale-up domain included), not a second copy of its formula.
    from levers import models, perf, specs

    m, hw = models.get("llama-3.1-405b"), specs.get(hw_id)
    eng = perf.Engine("continuous", 0.4, 0.45, 0.9, 256, 2.0)
    sh = perf.Shape(m, hw, tp, "fp8", "fp8", perf.Workload(2000, 0, 200), eng)
    for batch in (1, 37, 256):
        assert sh.parts(batch)[2] == pytest.approx(perf.t_comm(m, hw, tp, batch), rel=1e-12)


@pytest.mark.parametrize("batching", ["static", "continuous"])
def test_a_vanishing_route_share_is_sized_without_error(batching):
    # Found by the property tests: a share of 5e-324 made the batch arrival rate 0.
    # Text input refuses such a share; the engine must still cope when it is set directly.
    s = levers.Scenario.from_mapping(dict(
        requests_per_day=1, system_prompt_tokens=0, user_tokens=0, output_tokens=1,
        batching=batching, route_policy="split", big_model="llama-3.1-8b",
        small_model="llama-3.1-8b", hardware="h100", consolidate=True, min_replicas=1,
        ttft_slo_low_ms=1, tpot_slo_low_ms=1, ttft_slo_high_ms=1, tpot_slo_high_ms=1))
    s.route_share = 5e-324
    for step in levers.waterfall(s).steps:
        assert math.isfinite(step.cost_per_day) and math.isfinite(step.ttft_p90_ms)
