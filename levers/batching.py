"""Lever 2: continuous batching with chunked prefill.

Static batching admits a batch, prefills it, and decodes until its longest
reply ends: short replies leave their slots idle, every slot reserves KV for
the longest reply, and new requests wait for the batch to drain. Continuous
batching schedules per step: finished sequences leave, new ones join, and
prompt chunks ride along in decode steps, using compute that bandwidth-bound
decode leaves idle.
"""

from __future__ import annotations

from dataclasses import replace

ID = "batching"
TITLE = "Continuous batching"
#: Label on the waterfall's bars.
SHORT = "Batching"
#: The scenario inputs this lever's card shows.
INPUTS = ('batching',)
#: Illustrative multiplier, the lesson's worked example [x].
ILLUSTRATIVE = 1.5


def apply(cfg, s):
    """Switch the serving engine to the scenario's batching mode."""
    return replace(cfg, batching=s.batching)


def explain(before, after, s) -> str:
    """Batch sizes and slot waste before and after."""
    if s.batching == "static":
        return "batching stays static: no change"
    b0, b1 = before.fleets[0].perf, after.fleets[0].perf
    return (
        f"static batches kept each slot until the longest reply ({s.static_longest_over_mean:g}× "
        f"the mean) and reserved KV for it: batch {b0.batch}; continuous batching with chunked "
        f"prefill runs batch {b1.batch} and overlaps prefill with decode"
    )
