"""Lever 1: prefix caching.

Prompt tokens whose KV is already cached (a shared system prompt, an earlier
turn) skip prefill. Their KV is held once per replica instead of once per
sequence, which also leaves room for a larger decode batch.
"""

from __future__ import annotations

from dataclasses import replace

from .explain import pct, tokens

ID = "prefix_caching"
TITLE = "Prefix caching"
#: Label on the waterfall's bars.
SHORT = "Prefix cache"
#: The scenario inputs this lever's card shows.
INPUTS = ('cache_hit_rate', 'kv_offload', 'distinct_prefixes', 'kv_dram_GB', 'kv_ssd_GB', 'kv_dram_GBps',
          'kv_ssd_GBps', 'prefix_popularity_skew')
#: Illustrative multiplier, the lesson's worked example [x].
ILLUSTRATIVE = 2.4


def apply(cfg, s):
    """Serve ``cache_hit_rate`` of prompt tokens from the prefix cache."""
    return replace(cfg, cache_hit_rate=s.cache_hit_rate, kv_offload=s.kv_offload)


def explain(before, after, s) -> str:
    """E.g. "80% of 3,500 prompt tokens cached: prefill work down 80%, which was 73% of GPU time"."""
    prompt = s.system_prompt_tokens + s.user_tokens
    big = before.fleets[0].perf
    was = big.share_prefill
    text = (
        f"{pct(s.cache_hit_rate)} of {tokens(prompt)} prompt tokens cached: prefill work per "
        f"request down {pct(s.cache_hit_rate)}, and prefill was {pct(was)} of accelerator time"
    )
    shape = after.shape
    if shape is not None and shape.turns > 1:
        text += (f"; each of the {shape.turns} agent turns reuses its history too: "
                 f"{pct(shape.cached_tokens / shape.prompt_tokens)} of the mean "
                 f"{tokens(shape.prompt_tokens)}-token prompt")
    held = after.offload
    if held is not None:
        where = ", ".join(f"{pct(held.served[t])} from {t}" for t in ("hbm", "dram", "ssd") if held.served[t] > 0)
        text += (f"; with KV offload, {s.distinct_prefixes:,.0f} prefixes of {held.prefix_GB:,.2f} GB need "
                 f"{held.working_set_GB:,.0f} GB and {pct(held.held_share)} of requests find theirs "
                 f"({where or 'none held'}), adding {held.load_s * 1e3:,.1f} ms to TTFT")
    return text
