"""Lever 5: hardware, and consolidating both models on one pool.

A different accelerator changes peak FLOPs, bandwidth, memory, price and
power, and so the number of GPUs. Consolidation hosts the small and the big
model on shared GPUs, so the fleet rounds up once instead of twice.
"""

from __future__ import annotations

from dataclasses import replace

from . import specs
from .explain import gpus
from .perf import TP_CHOICES, Shape
from .quantization import BYTES_PER_PARAM
from .sizing import Targets, first_tp, limit, queue, replicas_needed, throughput_replicas

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


def pooled_fleets(fleets, model_of, hw, cfg, work, eng,
                  tg: Targets, opts: dict | None = None) -> tuple[tuple | None, str]:
    """Both models on one pool of replicas, each replica holding both; None and
    the reason when no pool holds them or one is not cheaper.

    Derivation
    ----------
    Memory: a pool replica of ``tp`` GPUs holds both models' weights; what is
    left, ``M - W_big - W_small``, is split between the two models' KV in
    proportion to the KV their requests keep in flight, ``lam_i x resident_i
    x kv_i``.

    Time-slicing: the two models cannot run in one kernel, so a replica
    alternates their decode steps. Each model's token then waits for the
    other's step: ``TPOT_i = step_i(B_i) + step_j(B_j)``. Each model's batch is
    therefore held to half the TPOT target, and its first token also waits
    for one step of the other model. Replica-seconds per request are as when
    alone, so ``n >= sum(lam_i / requests/s_i) / utilization``. When TTFT
    sets the replica count, both batches are halved while that lowers it, as
    for one model.

    ``opts`` gives each role's replica options (a speculative drafter, whose
    weights also take room, and time added to TTFT).
    """
    rates = [f.arrivals_per_s for f in fleets]
    demand = [f.arrivals_per_s * f.perf.resident_tokens * f.perf.kv_bytes_per_token
              for f in fleets]
    models_ = [model_of[f.role] for f in fleets]
    start = max(first_tp(m, hw, cfg.weights, eng) for m in models_)
    separate = sum(f.gpus for f in fleets)
    half = Targets(tg.ttft_s, tg.tpot_s / 2, tg.at_slo, tg.min_replicas, tg.utilization)
    best, why = None, ""
    for tp in TP_CHOICES:
        if tp < start:
            continue
        if tp * tg.min_replicas >= (best[0] if best else separate):
            break
        room = (hw.hbm_GB * 1e9 * tp * eng.memory_utilization
                - sum(m.params_total_B * 1e9 * BYTES_PER_PARAM[cfg.weights] for m in models_)
                - sum(o["spec"].draft_weight_bytes for o in (opts or {}).values() if o.get("spec")))
        if room <= 0:
            why = why or f"both models' weights do not fit on {tp} x {hw.id}"
            continue
        shapes = [Shape(m, hw, tp, cfg.weights, cfg.kv_cache, work, eng, kv_room=room * d / sum(demand),
                        **(opts or {}).get(f.role, {}))
                  for f, m, d in zip(fleets, models_, demand, strict=True)]
        if not all(sh.fits for sh in shapes):
            why = why or (f"both models' weights fit on {tp} x {hw.id} but not the KV "
                          f"of a sequence each")
            continue
        if tg.at_slo:
            batches = [sh.slo_batch(half.tpot_s, tg.ttft_s) for sh in shapes]
            if 0 in batches:
                why = why or (f"time-slicing two models on {tp} x {hw.id} cannot hold "
                              f"TPOT {tg.tpot_s * 1e3:,.0f} ms")
                continue
        else:
            batches = [sh.cap for sh in shapes]
        while True:  # as for one model: halve the batches while TTFT sets the count
            cores = [sh.core(b) for sh, b in zip(shapes, batches, strict=True)]
            if tp * throughput_replicas(cores, rates, tg) >= min(best[0] if best else separate,
                                                                 separate):
                break  # cannot beat what is found (smaller batches only need more)
            steps = [c.tpot_s for c in cores]
            extra = [sum(steps) - t for t in steps]  # the other model's step
            n_thr, n = replicas_needed(cores, rates, extra, tg)
            if best is None or tp * n < best[0]:
                best = (tp * n, tp, n_thr, n, shapes, batches, extra)
            if n <= n_thr or not tg.at_slo or max(batches) == 1:
                break
            batches = [max(1, b // 2) for b in batches]
    if best is None:
        return None, why or "no pool shape is cheaper than two fleets"
    gpus, tp, n_thr, n, shapes, batches, extra = best
    perfs = [sh.at(b, limit(sh, b, half)) for sh, b in zip(shapes, batches, strict=True)]
    w = queue(perfs, rates, n)
    if gpus >= separate:
        return None, (f"one pool would need {gpus} GPUs, two fleets {separate}: kept apart")
    out = tuple(
        replace(f, replicas=n, perf=p, replicas_for_throughput=n_thr, wait=w,
                ttft_p50_s=p.ttft_s + x + w.p50_s, ttft_p90_s=p.ttft_s + x + w.p90_s,
                tpot_s=p.tpot_s + x)
        for f, p, x in zip(fleets, perfs, extra, strict=True))
    return out, (f"one pool of {n} × {tp} {hw.id} holds both models' weights and KV; "
                 f"time-slicing them raises each model's TPOT by the other's step")
