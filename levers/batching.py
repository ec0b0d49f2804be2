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

from .explain import gpus, pct

ID = "batching"
TITLE = "Continuous batching"
#: Label on the waterfall's bars.
SHORT = "Batching"
#: The scenario inputs this lever's card shows.
INPUTS = ('batching', 'speculative', 'spec_acceptance', 'spec_draft_tokens', 'disaggregated',
          'disagg_network_GBps')
#: Illustrative multiplier, the lesson's worked example [x].
ILLUSTRATIVE = 1.5


def apply(cfg, s):
    """Switch the serving engine to the scenario's batching mode."""
    cfg = replace(cfg, batching=s.batching, disaggregated=s.disaggregated)
    if s.speculative != "off":
        cfg = replace(cfg, speculative=s.speculative, spec_acceptance=s.spec_acceptance,
                      spec_draft_tokens=s.spec_draft_tokens)
    return cfg


def explain(before, after, s) -> str:
    """Batch sizes and slot waste before and after."""
    if s.batching == "static":
        return "batching stays static: no change"
    b0, b1 = before.fleets[0].perf, after.fleets[0].perf
    text = (
        f"static batches kept each slot until the longest reply ({s.static_longest_over_mean:g}× "
        f"the mean) and reserved KV for it: batch {b0.batch}; continuous batching with chunked "
        f"prefill runs batch {b1.batch} and overlaps prefill with decode"
    )
    return text + techniques(after, s)


def techniques(after, s) -> str:
    """The batching lever's optional settings, as they came out."""
    text, big = "", after.fleets[0]
    if s.speculative != "off" and big.perf.spec_tokens_per_step > 1:
        text += (f"; speculative decoding ({s.speculative}, {s.spec_draft_tokens} drafted at "
                 f"{pct(s.spec_acceptance)} acceptance) yields {big.perf.spec_tokens_per_step:.2f} tokens "
                 f"per verify step")
    if s.disaggregated and big.prefill_replicas:
        from .fleet import evaluate  # the fleet imports the levers; only this line needs it back

        together = evaluate(replace(after.config, disaggregated=False), s)
        verdict = ("saves" if together.gpus > after.gpus else
                   "costs" if together.gpus < after.gpus else "neither saves nor costs")
        text += (f"; disaggregated: {big.prefill_replicas} × {big.prefill_tp}-GPU prefill replicas and "
                 f"{big.replicas:g} × {big.perf.tp}-GPU decode replicas for {big.model}, KV sent in "
                 f"{big.transfer_s * 1e3:,.1f} ms; aggregated serving would need {gpus(together.gpus)}, "
                 f"so splitting {verdict}"
                 + (f" {abs(together.gpus - after.gpus)}" if together.gpus != after.gpus else ""))
    return text
