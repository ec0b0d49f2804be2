""""How this is computed": the substituted formulas reproduce the shown results."""

from __future__ import annotations

import math

import pytest

import levers
from levers import derivation, models, specs
from levers.perf import BYTES_PER_KV, BYTES_PER_PARAM


@pytest.mark.parametrize("name", levers.preset_names())
def test_each_step_has_lines_for_every_fleet(name):
    s = levers.load_preset(name)
    for step in levers.waterfall(s).steps:
        for fleet in step.details["fleets"]:
            lines = derivation.fleet_lines(step, s, fleet["role"])
            assert len(lines) >= 10
            assert all(line.formula and line.result for line in lines)
        lines = derivation.cost_lines(step)
        assert [line.what for line in lines][:3] == ["GPUs", "cost per day", "energy per day"]
        # one latency line per request class, flagged when over target
        latency = [line for line in lines if line.what.startswith("latency: ")]
        assert len(latency) == len(step.classes)
        for line, c in zip(latency, step.classes, strict=True):
            assert ("over target" in line.result) == (not c.slo_met)


def test_shown_inputs_reproduce_shown_results():
    s = levers.load_preset("chatbot")
    step = levers.waterfall(s).steps[-1]
    f = step.details["fleets"][0]
    cfg = step.details["config"]
    hw, m = specs.get(cfg["hardware"]), models.get(f["model"])
    # weights = params × bytes/param
    assert f["weight_GB"] == pytest.approx(m.params_total_B * BYTES_PER_PARAM[cfg["weights"]])
    # memory = tp × HBM × utilization
    assert f["memory_GB"] == pytest.approx(f["tp"] * hw.hbm_GB * s.memory_utilization)
    # KV/token = layers × 2 × kv_heads × head_dim × bytes
    assert f["kv_bytes_per_token"] == m.layers * 2 * m.kv_heads * m.head_dim * BYTES_PER_KV[cfg["kv_cache"]]
    # bandwidth step = (weights read + batch × context × KV) / (tp × BW × mbu), mbu as achieved
    t_mem = (f["weights_read_GB"] * 1e9 + f["batch"] * f["context_tokens"] * f["kv_bytes_per_token"]) / (
        f["tp"] * hw.hbm_bandwidth_TBps * 1e12 * f["mbu"])
    assert f["t_mem_ms"] == pytest.approx(t_mem * 1e3)
    assert f["step_ms"] == pytest.approx(max(f["t_mem_ms"], f["t_cmp_ms"]) + f["t_comm_ms"])
    # cost = GPUs × $/h × 24; energy = GPUs × TDP × 24 h
    assert step.cost_per_day == pytest.approx(step.gpus * step.details["usd_per_gpu_hour"] * 24)
    assert step.energy_kwh_per_day == pytest.approx(step.gpus * hw.tdp_W * 24 / 1e3)
    cost = derivation.cost_lines(step)[1]
    assert f"{step.gpus} × ${step.details['usd_per_gpu_hour']:.2f} × 24" == cost.numbers


def test_training_lines_reproduce_the_row():
    row = next(r for r in levers.training_table(70e9, 2e12, 0.36, 1024) if r.hardware == "h100")
    lines = derivation.training_lines(row, 70e9, 2e12, 0.36, 1024)
    assert lines[0].result == "8.4e+23 FLOP"
    days = 8.4e23 / (1024 * 989.4e12 * 0.36) / 86_400
    assert math.isclose(row.days, days, rel_tol=1e-12)
    assert lines[1].result == f"{days:.1f} days"
    assert lines[3].result == f"${row.cost_usd / 1e6:.2f}M"


def test_queueing_terms_reproduce_the_p90_wait():
    """The formulas tab's queue lines: substituted numbers give the shown wait."""
    from levers.queueing import erlang_c

    s = levers.load_preset("chatbot")
    for step in levers.waterfall(s).steps:
        for fleet in step.outcome.fleets:
            w = fleet.wait
            lines = {line.what: line for line in derivation.fleet_lines(step, s, fleet.role)}
            assert lines["chance of waiting (Erlang C)"].numbers == f"C({w.servers}, {derivation._g(w.load)})"
            assert erlang_c(w.servers, w.load) == pytest.approx(w.p_wait, rel=1e-12)
            p90 = (w.factor * w.service_s / (w.servers - w.load) * math.log(w.p_wait / 0.1)
                   if w.p_wait > 0.1 else 0.0)
            assert w.p90_s == pytest.approx(p90, rel=1e-12, abs=1e-15)
            # TTFT p90 = TTFT once admitted (+ the other model's step in a pool) + p90 wait
            extra = fleet.tpot_s - fleet.perf.tpot_s
            assert fleet.ttft_p90_s == pytest.approx(fleet.perf.ttft_s + extra + w.p90_s, rel=1e-12)
            assert lines["replicas"].result == f"{fleet.replicas} replicas"


def test_sustained_clock_term_shows_for_parts_that_publish_one():
    # levers/measurements/sustained_clocks.toml: MI325X 1,464 of 2,100 MHz (AMD's measured FP8 GEMM clock).
    from levers import derivation, efficiency

    def clock_lines(hw):
        sc = levers.load_preset("chatbot", hardware=hw)
        step = levers.waterfall(sc).steps[-1]
        return [line for line in derivation.fleet_lines(step, sc) if line.what.startswith("sustained clock")]

    (line,) = clock_lines("mi325x")
    share = efficiency.clocks()["mi325x"].share
    assert share == pytest.approx(1464 / 2100)
    assert "1,464 MHz / 2,100 MHz" in line.numbers and f"× {share:.3f}" in line.result
    fit = efficiency.for_hardware("mi325x")
    assert f"decode {fit.decode_flops:.3g}" in line.result
    assert clock_lines("h100") == []
