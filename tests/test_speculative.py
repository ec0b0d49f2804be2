"""Speculative decoding and MTP against published measurements.

Sources are in :mod:`levers.speculative`'s docstring; each test names its
figure and the tolerance.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levers import models, perf, specs
from levers import speculative as sp
from levers.errors import InputError

# Fixed efficiency shares: the roofline with the calibrated mfu 0.40 / mbu 0.45
# (README, "Calibration"); the fitted per-family model is checked separately below.
ENGINE = perf.Engine(batching="continuous", mfu=0.40, mbu=0.45, memory_utilization=0.9,
                     max_batch=0, longest_over_mean=2.0)
FITTED = perf.Engine(batching="continuous", mfu=0.0, mbu=0.0, memory_utilization=0.9,
                     max_batch=0, longest_over_mean=2.0)


def _roofline(model_id, hw_id, batch, work, weights="bf16", tp=1):
    m, hw = models.get(model_id), specs.get(hw_id)
    r = perf.replica(m, hw, tp, weights, "bf16", work, ENGINE, concurrency=batch)
    assert r is not None and r.batch == batch
    share = sp.head_share(m.layers)
    eff_bw = hw.hbm_bandwidth_TBps * 1e12 * tp * ENGINE.mbu
    draft_mem = r.weights_read_GB * 1e9 * share / eff_bw
    return r, draft_mem, r.t_cmp_s * share


def test_accepted_tokens_matches_the_geometric_series():
    # Leviathan et al. 2023, eq. 1: (1 - a^(k+1)) / (1 - a).
    assert sp.accepted_tokens(0.8, 3) == pytest.approx(1 + 0.8 + 0.64 + 0.512)
    assert sp.accepted_tokens(0.0, 5) == 1.0
    assert sp.accepted_tokens(1.0, 4) == 5.0
    assert sp.accepted_tokens(0.9, 0) == 1.0


@pytest.mark.parametrize("acceptance", sp.DEEPSEEK_V3_ACCEPTANCE)
def test_deepseek_v3_mtp_speedup(acceptance):
    # DeepSeek-V3 report, 5.4.3: one MTP module, second-token acceptance 85-90%
    # -> "1.8 times TPS". Small-batch decode on 8 x H200 (bandwidth-bound).
    # Tolerance 6%: the report gives one rounded figure for the whole 85-90% range.
    work = perf.Workload(1000, 0, 500)
    r, dm, dc = _roofline("deepseek-v3", "h200", 8, work, weights="fp8", tp=8)
    s = sp.step(r.t_mem_s, r.t_cmp_s, r.t_comm_s, tokens_per_step=sp.accepted_tokens(acceptance, 1),
                verify_tokens=2, draft_passes=1, draft_mem=dm, draft_cmp=dc)
    assert s.bound == "bandwidth"
    assert s.speedup == pytest.approx(sp.DEEPSEEK_V3_SPEEDUP, rel=0.06)


def _eagle3(batch, tau):
    # MT-bench-like shape: short questions, a few hundred tokens of answer.
    work = perf.Workload(128, 0, 256)
    r, dm, dc = _roofline("llama-3.1-8b", "h100", batch, work)
    return sp.step(r.t_mem_s, r.t_cmp_s, r.t_comm_s, tokens_per_step=tau,
                   verify_tokens=sp.SGLANG_EAGLE_DRAFT_TOKENS, draft_passes=sp.SGLANG_EAGLE_STEPS,
                   draft_mem=dm, draft_cmp=dc)


def _calibrated_tau():
    """The acceptance length that reproduces EAGLE-3's batch-1 speedup (2.36x)."""
    target = sp.EAGLE3_SGLANG_BATCH1[1] / sp.EAGLE3_SGLANG_BATCH1[0]
    lo, hi = 1.0, 9.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _eagle3(1, mid).speedup < target else (lo, mid)
    return lo


def test_eagle3_falloff_from_batch_1_to_64():
    # EAGLE-3 in SGLang on one H100, LLaMA-Instruct 3.1 8B: 2.36x at batch 1,
    # 1.38x at batch 64. One point calibrates the acceptance length; the other
    # is predicted by the roofline. Tolerance 15%: the workload shape of the
    # paper's batch-64 run is not published (see the MT-bench-like shape above).
    tau = _calibrated_tau()
    assert 2.0 < tau < 4.0  # an EAGLE acceptance length, not a fitting artefact
    at64 = _eagle3(64, tau)
    assert at64.speedup == pytest.approx(sp.EAGLE3_SGLANG_BATCH64_SPEEDUP, rel=0.15)
    assert at64.bound == "compute"


def test_speedup_falls_as_the_batch_grows():
    tau = _calibrated_tau()
    batches = (1, 8, 16, 32, 64, 128, 256)
    speedups = dict(zip(batches, (_eagle3(b, tau).speedup for b in batches), strict=True))
    # While bandwidth-bound the gain holds (the draft head's share of a step
    # even shrinks as the KV reads grow); past the ridge it falls at every step.
    for b in (8, 16, 32):
        assert speedups[b] == pytest.approx(speedups[1], rel=0.05)
    falling = [speedups[b] for b in batches[4:]]
    assert speedups[64] < speedups[32]
    assert falling == sorted(falling, reverse=True)
    # Deep in the compute-bound regime, checking 8 tokens to keep ~2.7 loses.
    assert speedups[256] < 1.0


def test_verify_is_free_only_below_the_ridge():
    s = sp.step(10e-3, 1e-3, 0, tokens_per_step=3, verify_tokens=4, draft_passes=0, draft_mem=0, draft_cmp=0)
    assert s.speedup == pytest.approx(3.0) and s.bound == "bandwidth"
    s = sp.step(10e-3, 5e-3, 0, tokens_per_step=3, verify_tokens=4, draft_passes=0, draft_mem=0, draft_cmp=0)
    assert s.speedup == pytest.approx(3 * 10 / 20) and s.bound == "compute"
    assert sp.breakeven_verify_tokens(10e-3, 5e-3) == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_bad_acceptance_names_the_field(bad):
    with pytest.raises(InputError, match="spec_acceptance"):
        sp.accepted_tokens(bad, 3)


@given(
    t_mem=st.floats(1e-6, 1.0), t_cmp=st.floats(0, 1.0), t_comm=st.floats(0, 0.1),
    a=st.floats(0, 1), k=st.integers(0, 16), draft=st.floats(0, 0.1),
)
def test_speedup_is_finite_and_positive(t_mem, t_cmp, t_comm, a, k, draft):
    s = sp.step(t_mem, t_cmp, t_comm, tokens_per_step=sp.accepted_tokens(a, k), verify_tokens=k + 1,
                draft_passes=k, draft_mem=draft, draft_cmp=draft)
    assert math.isfinite(s.speedup) and s.speedup > 0
    assert math.isfinite(s.time_per_token_s)
    # Never better than the tokens gained per step.
    assert s.speedup <= s.tokens_per_step * (1 + 1e-12)


def test_setting_per_token_matches_step():
    m = models.get("llama-3.1-70b")
    st_ = sp.setting("mtp", 0.8, 3, m)
    mem, cmp_, comm = st_.per_token(8e-3, 2e-3, 1e-3, 0.5e-3)
    s = sp.step(10e-3, 1e-3, 0.5e-3, tokens_per_step=st_.tokens_per_step, verify_tokens=4, draft_passes=3,
                draft_mem=8e-3 / m.layers, draft_cmp=1e-3 / m.layers)
    assert max(mem, cmp_) + comm == pytest.approx(s.time_per_token_s)
    assert sp.setting("off", 0.8, 3, m) is None


def test_a_draft_model_must_be_smaller():
    with pytest.raises(InputError, match="spec_draft_model"):
        sp.setting("draft_model", 0.7, 4, models.get("llama-3.1-8b"), models.get("llama-3.1-70b"))
    d = sp.setting("draft_model", 0.7, 4, models.get("llama-3.1-70b"), models.get("llama-3.1-8b"))
    assert 0.1 < d.weight_share < 0.12 and d.draft_weight_bytes == pytest.approx(8.03e9, rel=0.01)


def test_eagle3_falloff_with_the_fitted_efficiency_model():
    # The same check with mfu = mbu = 0 (levers/efficiency.py: bytes then FLOPs,
    # in series, instead of the roofline's max). Calibrated to 2.36x at batch 1,
    # it predicts 1.05x at batch 64 against the measured 1.38x: 24% low, where
    # the fixed-share roofline is 6% high. Tolerance 30%: the two engine modes
    # bracket the measurement, and this test pins the fitted one's side.
    m, hw = models.get("llama-3.1-8b"), specs.get("h100")
    work = perf.Workload(128, 0, 256)

    def speedup(tau, batch):
        sh = perf.Shape(m, hw, 1, "bf16", "bf16", work, FITTED)
        t_w = m.weight_bytes_read(batch, sh.bpp) / sh.eff_bw
        t_kv = batch * sh.ctx * sh.kv / sh.eff_bw
        flops = batch * (2 * sh.active + sh.attn)
        t_cmp, t_fm, comm = flops / sh.eff_peak, flops / sh.eff_dec, sh.comm0 + sh.comm1 * batch
        plain = max(t_w + t_kv + t_fm, t_cmp) + comm
        v, share = sp.SGLANG_EAGLE_DRAFT_TOKENS, sp.head_share(m.layers)
        draft = sp.SGLANG_EAGLE_STEPS * max(share * (t_w + t_fm), share * t_cmp)
        return tau * plain / (max(t_w + t_kv + v * t_fm, v * t_cmp) + comm + draft)

    target = sp.EAGLE3_SGLANG_BATCH1[1] / sp.EAGLE3_SGLANG_BATCH1[0]
    lo, hi = 1.0, 9.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if speedup(mid, 1) < target else (lo, mid)
    assert 2.0 < lo < 4.0
    assert speedup(lo, 64) == pytest.approx(sp.EAGLE3_SGLANG_BATCH64_SPEEDUP, rel=0.30)
    assert speedup(lo, 256) < speedup(lo, 64) < speedup(lo, 8) < speedup(lo, 1)
