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
INPUTS = ('cache_hit_rate',)
#: Illustrative multiplier, the lesson's worked example [x].
ILLUSTRATIVE = 2.4


def apply(cfg, s):
    """Serve ``cache_hit_rate`` of prompt tokens from the prefix cache."""
    return replace(cfg, cache_hit_rate=s.cache_hit_rate)


def explain(before, after, s) -> str:
    """E.g. "80% of 3,500 prompt tokens cached: prefill work down 80%, which was 73% of GPU time"."""
    prompt = s.system_prompt_tokens + s.user_tokens
    big = before.fleets[0].perf
    was = big.share_prefill
    return (
        f"{pct(s.cache_hit_rate)} of {tokens(prompt)} prompt tokens cached: prefill work per "
        f"request down {pct(s.cache_hit_rate)}, and prefill was {pct(was)} of accelerator time"
    )
