"""KV offload: hit rate from cache capacity, load time charged to TTFT."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levers import kv_offload as ko
from levers import models, perf
from levers.errors import InputError

L70 = models.get("llama-3.1-70b")
KV_FP8 = L70.kv_bytes_per_token(perf.BYTES_PER_KV["fp8"])


def test_long_prefix_size_matches_mooncake():
    # Mooncake README: 128k tokens of LLaMA3-70B KV is 40 GB (BF16). 10%
    # tolerance for the two round figures.
    t = ko.tiers(reusable=1, prefix_tokens=128_000, distinct_prefixes=1,
                 kv_bytes_per_token=L70.kv_bytes_per_token(2.0), hbm_GB=0, dram_GB=1e6, ssd_GB=0)
    assert t.prefix_GB == pytest.approx(40, rel=0.10)


def test_link_rates_from_pcie_arithmetic():
    # 32 GT/s x 16 lanes x 128/130 / 8 = 63.0 GB/s; 16 GT/s x 4 x 128/130 / 8 = 7.88 GB/s.
    host, ssd = ko.PCIE5_X16_GBPS, ko.PCIE4_X4_GBPS
    assert host == pytest.approx(63.0, abs=0.05)
    assert ssd == pytest.approx(7.88, abs=0.01)
    # DGX H100/H200: 2 TB DDR5 and 8 x 3.84 TB NVMe over 8 GPUs.
    assert ko.DGX_DRAM_GB_PER_GPU == 250 and ko.DGX_SSD_GB_PER_GPU == 3840


def test_an_80_percent_hit_rate_needs_the_room_to_hold_it():
    # 1,000 distinct 3,000-token prefixes at FP8 KV (160 KiB/token): 491 GB.
    kw = dict(reusable=0.8, prefix_tokens=3000, distinct_prefixes=1000, kv_bytes_per_token=KV_FP8)
    hbm_only = ko.tiers(hbm_GB=20, dram_GB=0, ssd_GB=0, **kw)
    assert hbm_only.working_set_GB == pytest.approx(1000 * 3000 * KV_FP8 / 1e9)
    assert hbm_only.hit_rate == pytest.approx(0.8 * 20 / hbm_only.working_set_GB)
    assert hbm_only.load_s == 0
    tiered = ko.tiers(hbm_GB=20, dram_GB=ko.DGX_DRAM_GB_PER_GPU * 8, ssd_GB=0, **kw)
    assert tiered.hit_rate == pytest.approx(0.8)  # 2 TB of DRAM holds them all
    # A DRAM hit pays the copy: one prefix over PCIe 5.0 x16.
    assert tiered.load_s_by_tier["dram"] == pytest.approx(3000 * KV_FP8 / 1e9 / ko.PCIE5_X16_GBPS)
    assert 0 < tiered.load_s < tiered.load_s_by_tier["dram"]


def test_skewed_popularity_puts_most_hits_in_the_fastest_tier():
    kw = dict(reusable=1, prefix_tokens=2000, distinct_prefixes=10_000, kv_bytes_per_token=KV_FP8,
              hbm_GB=30, dram_GB=500, ssd_GB=10_000)
    uniform, skewed = ko.tiers(**kw), ko.tiers(popularity_skew=1.0, **kw)
    assert uniform.held_share == pytest.approx(skewed.held_share) == pytest.approx(1.0)
    assert skewed.served["hbm"] > 2 * uniform.served["hbm"]
    assert skewed.load_s < uniform.load_s


def test_a_tier_slower_than_recompute_is_skipped():
    kw = dict(reusable=1, prefix_tokens=2000, distinct_prefixes=100, kv_bytes_per_token=KV_FP8,
              hbm_GB=0, dram_GB=0, ssd_GB=1e5)
    ssd = ko.tiers(**kw)
    assert ssd.hit_rate == pytest.approx(1.0)
    slow = ko.tiers(recompute_s=ssd.load_s_by_tier["ssd"] / 2, **kw)
    assert slow.recomputed == ("ssd",) and slow.hit_rate == 0 and slow.load_s == 0


def test_harmonic_numbers():
    assert ko.harmonic(4, 1.0) == pytest.approx(1 + 1 / 2 + 1 / 3 + 1 / 4)
    assert ko.harmonic(1e6, 1.0) == pytest.approx(math.log(1e6) + 0.5772156649, rel=1e-6)
    assert ko.harmonic(7, 0.0) == 7


@pytest.mark.parametrize("field,kw", [
    ("distinct_prefixes", {"distinct_prefixes": 0}),
    ("kv_dram_GBps", {"dram_GBps": -1}),
    ("reusable", {"reusable": 1.5}),
])
def test_bad_input_names_the_field(field, kw):
    base = dict(reusable=0.5, prefix_tokens=100, distinct_prefixes=10, kv_bytes_per_token=1e5,
                hbm_GB=1, dram_GB=1, ssd_GB=1)
    with pytest.raises(InputError, match=field):
        ko.tiers(**{**base, **kw})


@given(reusable=st.floats(0, 1), tokens=st.floats(0, 2e5), n=st.floats(1, 1e7),
       caps=st.tuples(st.floats(0, 1e4), st.floats(0, 1e5), st.floats(0, 1e6)), skew=st.floats(0, 2))
def test_hit_rate_is_a_share_and_load_is_finite(reusable, tokens, n, caps, skew):
    t = ko.tiers(reusable=reusable, prefix_tokens=tokens, distinct_prefixes=n, kv_bytes_per_token=KV_FP8,
                 hbm_GB=caps[0], dram_GB=caps[1], ssd_GB=caps[2], popularity_skew=skew)
    assert 0 <= t.hit_rate <= reusable * (1 + 1e-9)
    assert 0 <= t.held_share <= 1 + 1e-9
    assert math.isfinite(t.load_s) and t.load_s >= 0
