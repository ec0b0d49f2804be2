"""Lever 5: hardware, and consolidating both models on one pool.

A different accelerator changes peak FLOPs, bandwidth, memory, price and
power, and so the number of GPUs. Consolidation hosts the small and the big
model on shared GPUs, so the fleet rounds up once instead of twice.
"""

from __future__ import annotations

from dataclasses import replace

from . import specs
from .explain import gpus

ID = "hardware"
TITLE = "Hardware"
#: Label on the waterfall's bars.
SHORT = "Hardware"
#: The scenario inputs this lever's card shows.
INPUTS = ('hardware', 'consolidate', 'usd_per_gpu_hour')
#: Illustrative multiplier, the lesson's worked example [x].
ILLUSTRATIVE = 1.5


def price(s, hw_id: str, override: float) -> float:
    """``override`` when positive, else the accelerator's spec price [$/GPU-hour]."""
    return override if override > 0 else specs.get(hw_id).usd_per_hour


def apply(cfg, s):
    """Move to ``hardware`` at its price, consolidating if asked."""
    return replace(
        cfg,
        hardware=s.hardware,
        usd_per_gpu_hour=price(s, s.hardware, s.usd_per_gpu_hour),
        consolidate=s.consolidate,
    )


def explain(before, after, s) -> str:
    """Peak, bandwidth and price ratios, and what consolidation saved."""
    a, b = specs.get(before.config.hardware), specs.get(after.config.hardware)
    fmt = after.fleets[0].perf.compute_format
    peak0, peak1 = a.peak_TFLOPS(before.fleets[0].perf.compute_format), b.peak_TFLOPS(fmt)
    usd0, usd1 = before.config.usd_per_gpu_hour, after.config.usd_per_gpu_hour
    parts = [
        f"{a.id} → {b.id}: {peak1 / peak0:.1f}× the peak FLOPs, "
        f"{b.hbm_bandwidth_TBps / a.hbm_bandwidth_TBps:.1f}× the bandwidth, "
        f"{b.hbm_GB / a.hbm_GB:.1f}× the memory at {usd1 / usd0:.1f}× "
        f"the price (${usd0:.2f} → ${usd1:.2f}/GPU-hour)"
    ]
    if b.price_is_estimate and not s.usd_per_gpu_hour:
        parts.append(f"{b.id}'s price is a placeholder (no public quote): set usd_per_gpu_hour")
    if s.consolidate and after.pooled:
        parts.append(f"one shared pool: {after.separate_gpus} → {gpus(after.gpus)} "
                     f"({after.pool_note})")
    elif s.consolidate and after.pool_note:
        parts.append(f"no shared pool: {after.pool_note}")
    return "; ".join(parts)
