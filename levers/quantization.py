"""Lever 4: quantization of weights and KV cache.

Fewer bytes per weight shrink what every decode step streams and free memory
for KV cache; fewer bytes per KV element double the tokens that fit. Where the
accelerator has the format natively (FP8 on Hopper, FP4 on Blackwell and
MI355X), matmuls also run at its higher peak.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .specs import Accelerator

#: Bytes per weight [B/param]. INT4 carries one FP16 scale per 128 weights
#: (AWQ/GPTQ group size), FP4 one FP8 scale per 16 weights (NVFP4 blocks).
BYTES_PER_PARAM = {"bf16": 2.0, "fp8": 1.0, "int4": 0.5 + 2 / 128, "fp4": 0.5 + 1 / 16}

#: Bytes per cached KV element [B].
BYTES_PER_KV = {"bf16": 2.0, "fp8": 1.0}


def compute_format(weights: str, hw: Accelerator) -> str:
    """The tensor-core format the matmuls run in for a weight precision.

    FP8 and FP4 weights run natively where the accelerator has that format
    (W8A8, W4A4). Elsewhere, and always for INT4 (AWQ/GPTQ are weight-only),
    weights are widened to BF16 before the matmul, so the peak is BF16's.
    """
    if weights in ("fp8", "fp4") and hw.supports(weights):
        return weights
    return "bf16"


ID = "quantization"
TITLE = "Quantization"
#: Label on the waterfall's bars.
SHORT = "Quantize"
#: The scenario inputs this lever's card shows.
INPUTS = ('weights', 'kv_cache')
#: Illustrative multiplier, the lesson's worked example [x].
ILLUSTRATIVE = 1.6


def apply(cfg, s):
    """Store weights and KV cache at the scenario's precisions."""
    return replace(cfg, weights=s.weights, kv_cache=s.kv_cache)


def explain(before, after, s) -> str:
    """Weight GB, KV bytes per token and batch, before and after."""
    if s.weights == "bf16" and s.kv_cache == "bf16":
        return "weights and KV stay BF16: no change"
    b0, b1 = before.fleets[0].perf, after.fleets[0].perf
    name = before.fleets[0].model
    ratio = BYTES_PER_PARAM["bf16"] / BYTES_PER_PARAM[s.weights]
    return (
        f"{name}: {s.weights.upper()} weights ({b0.weight_GB:.0f} → {b1.weight_GB:.0f} GB, "
        f"{ratio:.1f}× fewer bytes per decode step), {s.kv_cache.upper()} KV "
        f"({b0.kv_bytes_per_token / 1024:.0f} → {b1.kv_bytes_per_token / 1024:.0f} KiB/token), "
        f"matmuls in {b1.compute_format.upper()}; batch {b0.batch} → {b1.batch}"
    )
