"""From a configuration to a fleet: GPUs, $/day, energy, latency, $/1M tokens.

A *configuration* is the state of the five levers at one step of the
waterfall. :func:`evaluate` sizes the fleet that serves the scenario's
workload in that configuration and prices it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from . import disaggregation, kv_offload, models, specs, speculative, tasks
from .errors import InputError
from .hardware import pooled_fleets
from .perf import BYTES_PER_KV, TP_CHOICES, Engine, ReplicaPerf, Shape, Workload, ceil_div
from .quantization import BYTES_PER_PARAM
from .queueing import Wait, erlang_c, quantile, wait
from .routing import RequestClass, request_classes, shares
from .sizing import MAX_REPLICA_GPUS, Targets, first_tp, layouts, limit, queue, size_shape, smallest

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Config:
    """The lever settings at one step.

    Attributes
    ----------
    cache_hit_rate
        Share of prompt tokens served from the prefix cache.
    batching
        ``"static"`` or ``"continuous"``.
    route_share, route_policy
        Share of requests the small model answers; ``"cascade"`` or ``"split"``.
    weights, kv_cache
        Precisions.
    hardware, usd_per_gpu_hour
        Accelerator id and its price [$/GPU-hour].
    consolidate
        Whether both models share one pool of GPUs.
    kv_offload
        Prefix caching's setting: the cache spans HBM, host memory and SSD,
        and the hit rate is what they hold (:mod:`levers.kv_offload`).
    speculative, spec_acceptance, spec_draft_tokens
        Batching's setting: speculative decoding (:mod:`levers.speculative`).
    disaggregated
        Batching's setting: prefill and decode on separate pools
        (:mod:`levers.disaggregation`).
    """

    cache_hit_rate: float
    batching: str
    route_share: float
    route_policy: str
    weights: str
    kv_cache: str
    hardware: str
    usd_per_gpu_hour: float
    consolidate: bool
    kv_offload: bool = False
    speculative: str = "off"
    spec_acceptance: float = 0.0
    spec_draft_tokens: int = 0
    disaggregated: bool = False


@dataclass(frozen=True)
class Fleet:
    """The replicas of one model.

    Attributes
    ----------
    role
        ``"big"`` or ``"small"``.
    model
        Model id.
    request_share
        Share of all requests this model processes (cascade: the small model
        sees every request).
    replicas
        Replicas of this model's own fleet [replicas] (in a shared pool, the
        pool's replicas, each holding both models).
    gpus
        Accelerators if this model has a fleet of its own [GPUs].
    perf
        One replica's performance at the chosen batch.
    arrivals_per_s
        Requests reaching this model at the busiest hour [1/s].
    replicas_for_throughput
        ``ceil(arrivals x gpu time per request / (tp x utilization))`` [replicas].
    wait
        Queueing before prefill starts, at ``replicas``.
    ttft_p50_s, ttft_p90_s, tpot_s
        Latency of this model's requests, queueing included [s].
    meets_slo
        Whether a shape on this hardware holds both targets.
    reason
        Why not, when it does not.
    prefill_replicas, prefill_tp, transfer_s
        Disaggregated serving: the prefill pool's replicas and their width,
        and the KV transfer each request waits for [replicas, GPUs, s]; then
        ``replicas`` and ``perf`` are the decode pool's, ``wait`` the prefill
        queue's, and ``gpus`` counts both pools.
    """

    role: str
    model: str
    request_share: float
    replicas: float
    gpus: int
    perf: ReplicaPerf
    arrivals_per_s: float = 0.0
    replicas_for_throughput: int = 0
    wait: Wait | None = None
    ttft_p50_s: float = 0.0
    ttft_p90_s: float = 0.0
    tpot_s: float = 0.0
    meets_slo: bool = True
    reason: str = ""
    prefill_replicas: int = 0
    prefill_tp: int = 0
    transfer_s: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """A configuration, sized and priced.

    Attributes
    ----------
    cost_per_day
        ``gpus x $/GPU-hour x 24`` [$/day].
    gpus
        Accelerators in the fleet [GPUs].
    energy_kwh_per_day
        ``gpus x TDP x 24 h`` [kWh/day] (an upper bound: power at TDP).
    ttft_ms, ttft_p90_ms, tpot_ms
        The slowest request class's median and 90th-percentile TTFT and its
        TPOT [ms]: no class is hidden in an average.
    usd_per_1m_input, usd_per_1m_cached_input, usd_per_1m_output
        Prices per million tokens [$/1M], from each token class's share of
        accelerator time.
    usd_per_1m_tokens
        All-in: ``cost_per_day / all tokens per day x 1e6`` [$/1M].
    fleets
        Per-model detail.
    classes
        Latency per request class.
    slo_met, slo_reason
        Whether every class meets both targets, and if not, why.
    pooled
        Both models share one pool of GPUs.
    pool_note
        Why consolidation was or was not used (empty when not asked for).
    tasks_per_day, usd_per_task
        Tasks served per day (a task is ``agent_turns`` requests, or one) and
        ``cost_per_day / tasks_per_day`` [tasks/day, $/task].
    shape
        The mean request of the task shape (:class:`levers.tasks.RequestShape`).
    offload
        Where the prefixes live when KV offload is on (:class:`levers.kv_offload.Tiers`).
    """

    config: Config
    cost_per_day: float
    gpus: int
    energy_kwh_per_day: float
    ttft_ms: float
    tpot_ms: float
    usd_per_1m_input: float
    usd_per_1m_cached_input: float
    usd_per_1m_output: float
    usd_per_1m_tokens: float
    fleets: tuple[Fleet, ...] = field(default_factory=tuple)
    separate_gpus: int = 0
    tdp_W: float = 0.0
    tdp_is_estimate: bool = False
    ttft_p90_ms: float = 0.0
    classes: tuple[RequestClass, ...] = field(default_factory=tuple)
    slo_met: bool = True
    slo_reason: str = ""
    pooled: bool = False
    pool_note: str = ""
    tasks_per_day: float = 0.0
    usd_per_task: float = 0.0
    shape: tasks.RequestShape | None = None
    offload: kv_offload.Tiers | None = None

    def fleet(self, role: str) -> Fleet | None:
        """The fleet of the ``"big"`` or ``"small"`` model, if it serves anything."""
        return next((f for f in self.fleets if f.role == role), None)


def engine_of(s, batching: str) -> Engine:
    """Engine settings from a scenario, with the step's batching mode."""
    return Engine(
        batching=batching,
        mfu=s.mfu,
        mbu=s.mbu,
        memory_utilization=s.memory_utilization,
        max_batch=s.max_batch,
        longest_over_mean=s.static_longest_over_mean,
    )


def targets_of(s) -> Targets:
    """Sizing targets from a scenario."""
    return Targets(ttft_s=s.ttft_slo_high_ms / 1e3, tpot_s=s.tpot_slo_high_ms / 1e3,
                   at_slo=s.sizing == "slo", min_replicas=s.min_replicas,
                   utilization=s.utilization)


def best_fleet(role: str, model, hw, cfg: Config, work: Workload, eng: Engine, lam: float,
               share: float, tg: Targets, memo: dict | None = None, *, spec=None,
               ttft_extra: float = 0.0,
               disagg_network_GBps: float = disaggregation.MOONCAKE_GBPS_PER_GPU) -> Fleet:
    """The fleet of one model with the fewest GPUs.

    Every replica layout whose GPUs hold the weights is tried
    (:func:`levers.sizing.layouts`: tensor parallel from 1 to 64 GPUs,
    pipeline stages across nodes, experts spread over GPUs), fewest GPUs
    first, so more memory or a cheaper format can only add shapes; the search
    stops once ``GPUs per replica x min_replicas`` already reaches the best
    fleet found, since no wider layout can beat it. When no shape holds the SLO, the
    fleet is sized to the nearest targets some shape reaches (both scaled by
    the same factor) and says why. ``memo`` shares built shapes between the
    steps of one waterfall (a shape depends on the model, accelerator, size,
    formats, workload and engine only).

    Raises
    ------
    InputError
        When the model does not fit even on 64 accelerators.
    """
    if cfg.disaggregated and eng.batching != "static":
        return split_fleet(role, model, hw, cfg, work, eng, lam, share, tg, spec=spec, ttft_extra=ttft_extra,
                           network_GBps=disagg_network_GBps)
    built: dict = {}
    tried = layouts(model, hw, cfg.weights, eng)
    # the memo holds, per model, accelerator, formats, workload and engine, the shapes by layout
    key = (model.id, model.params_total_B, hw.id, cfg.weights, cfg.kv_cache, work, eng, spec, ttft_extra)
    kept = memo.setdefault(key, {}) if memo is not None else {}

    def shape(lay) -> Shape:
        sh = built.get(lay)
        if sh is None:
            sh = kept.get(lay)
            if sh is None:
                sh = kept[lay] = Shape(model, hw, lay.tp, cfg.weights, cfg.kv_cache, work, eng, spec=spec,
                                       ttft_extra=ttft_extra, pp=lay.pp, ep=lay.ep,
                                       like=next(iter(kept.values()), None))
            built[lay] = sh
        return sh

    def search(t: Targets):
        best = None
        for lay in tried:
            tp = lay.gpus
            if best is not None and tp * t.min_replicas >= best[0].tp * best[2]:
                break
            sh = shape(lay)
            if not sh.fits:
                continue
            if best is not None and tp * max(t.min_replicas, ceil_div(
                    lam * sh.seconds_per_request(sh.cap) / t.utilization)) >= best[0].tp * best[2]:
                continue  # not even memory's largest batch, the most work per second, beats it
            if best is not None and t.at_slo:
                # Lower bound: no batch under the SLO batch does more work per second.
                b = sh.slo_batch(t.tpot_s, t.ttft_s)
                if b and tp * max(t.min_replicas, ceil_div(
                        lam * sh.seconds_per_request(b) / t.utilization)) >= best[0].tp * best[2]:
                    continue
            got = size_shape(sh, lam, t)
            if got and (best is None or tp * got[2] < best[0].tp * best[2]):
                best = (*got, sh)
        return best

    found, reason, used = search(tg), "", tg
    shapes = [sh for sh in built.values() if sh.fits]
    if not shapes:
        raise InputError(
            f"{role}_model",
            f"{model.id} at {cfg.weights} with {work.prompt_tokens + work.output_tokens:.0f}-token "
            f"sequences does not fit on {MAX_REPLICA_GPUS} x {hw.id}",
        )
    if found is None:
        # The nearest the hardware gets: each unreachable target raised to the
        # best any shape reaches at batch 1; if no shape reaches both, both
        # scaled by the smallest factor one shape reaches. Harder inputs can
        # then only cost more, never fall back to a cheaper, slower fleet.
        t1 = min(sh.tpot(1) for sh in shapes)
        f1 = min(sh.ttft(1) for sh in shapes)
        eps = 1 + 1e-9
        near = Targets(max(tg.ttft_s, f1 * eps), max(tg.tpot_s, t1 * eps), True,
                       tg.min_replicas, tg.utilization)
        found, used = search(near), near
        if found is None:
            scale = min(max(sh.tpot(1) / tg.tpot_s, sh.ttft(1) / tg.ttft_s) for sh in shapes)
            near = Targets(tg.ttft_s * scale * eps, tg.tpot_s * scale * eps, True,
                           tg.min_replicas, tg.utilization)
            found = search(near)
        why = []
        if t1 > tg.tpot_s:
            why.append(f"TPOT is at least {t1 * 1e3:,.3g} ms even at batch 1 "
                       f"(target {tg.tpot_s * 1e3:,.3g} ms)")
        if f1 > tg.ttft_s:
            why.append(f"TTFT is at least {f1 * 1e3:,.4g} ms even at batch 1 "
                       f"(target {tg.ttft_s * 1e3:,.4g} ms)")
        reason = (f"{model.id} on {hw.id}: " + " and ".join(why or ["no shape holds both targets"])
                  + f"; priced at the fastest fleet, held to {near.ttft_s * 1e3:,.4g} ms TTFT "
                  f"and {near.tpot_s * 1e3:,.3g} ms TPOT")
        if found is None:
            used = Targets(tg.ttft_s, tg.tpot_s, False, tg.min_replicas, tg.utilization)
            found = search(used)
            reason = reason.split(";")[0] + "; priced at maximum throughput"
    core, n_thr, n, sh = found
    perf = sh.at(core.batch, limit(sh, core.batch, used))
    w = queue((perf,), (lam,), n)
    return Fleet(role, model.id, share, n, perf.tp * n, perf, lam, n_thr, w,
                 perf.ttft_s + w.p50_s, perf.ttft_s + w.p90_s, perf.tpot_s,
                 meets_slo=not reason, reason=reason)


def split_fleet(role: str, model, hw, cfg: Config, work: Workload, eng: Engine, lam: float, share: float,
                tg: Targets, *, spec=None, ttft_extra: float = 0.0,
                network_GBps: float = disaggregation.MOONCAKE_GBPS_PER_GPU) -> Fleet:
    """One model served disaggregated: a prefill pool and a decode pool (:mod:`levers.disaggregation`).

    Derivation
    ----------
    Decode pool: for each tensor-parallel size, the largest batch whose pure
    decode step (no prompt chunks in it) meets the TPOT target, and
    ``n_d = max(min_replicas, ceil(lam x o x step / B / utilization))``
    replicas; the size with the fewest GPUs wins.

    Prefill pool: each replica prefills one prompt at a time at the compute
    roofline, ``t_pre``: an M/D/c queue (:mod:`levers.queueing`). Its
    replicas are the fewest, at least ``min_replicas`` and enough for the
    load at ``utilization``, whose p90 wait keeps ``t_pre + wait + KV
    transfer + one decode step`` under the TTFT target; the size with the
    fewest GPUs wins. The KV transfer (:func:`levers.disaggregation.kv_transfer_s`)
    moves the whole prompt's KV at the decode replicas' NIC bandwidth.

    Cost: both pools' GPUs. The request's accelerator-seconds are the two
    pools' shares, so prefill's part of the bill is the prefill pool's.
    """
    first = first_tp(model, hw, cfg.weights, eng)
    lam_u = lam / tg.utilization
    best_d, best_p, slo_ok = None, None, True
    for tp in TP_CHOICES:
        if tp < first:
            continue
        sh = Shape(model, hw, tp, cfg.weights, cfg.kv_cache, work, eng, spec=spec, ttft_extra=ttft_extra,
                   split=True)
        if not sh.fits:
            continue
        b = sh.slo_batch(tg.tpot_s, math.inf) if tg.at_slo else sh.cap
        if b == 0:
            continue
        n = max(tg.min_replicas, ceil_div(lam_u * sh.seconds_per_request(b)))
        if best_d is None or tp * n < best_d[0].tp * best_d[2]:
            best_d = (sh, b, n)
    if best_d is None:  # no size holds the TPOT target: price the widest that fits at its memory's batch
        slo_ok = False
        fits = [sh for tp in TP_CHOICES if tp >= first
                and (sh := Shape(model, hw, tp, cfg.weights, cfg.kv_cache, work, eng, spec=spec,
                                 ttft_extra=ttft_extra, split=True)).fits]
        if not fits:
            raise InputError(f"{role}_model", f"{model.id} at {cfg.weights} with "
                             f"{work.prompt_tokens + work.output_tokens:.0f}-token sequences does not fit "
                             f"on {TP_CHOICES[-1]} x {hw.id}")
        sh = fits[-1]
        best_d = (sh, sh.cap, max(tg.min_replicas, ceil_div(lam_u * sh.seconds_per_request(sh.cap))))
    sh_d, b_d, n_d = best_d
    perf_d = sh_d.at(b_d, "tpot" if b_d < sh_d.cap else "memory")
    transfer = disaggregation.kv_transfer_s(work.prompt_tokens, sh_d.kv, sh_d.tp, network_GBps)
    after = transfer + perf_d.tpot_s + ttft_extra
    for tp in TP_CHOICES:
        if tp < first or (best_p is not None and tp * tg.min_replicas >= best_p[0] * best_p[1]):
            continue
        pre = Shape(model, hw, tp, cfg.weights, cfg.kv_cache, work, eng).t_pre
        n0 = max(tg.min_replicas, ceil_div(lam_u * pre))
        if tg.at_slo:
            n = smallest(lambda k, pre=pre: pre + p90_wait_md(lam, pre, k) + after <= tg.ttft_s, n0, 1 << 20)
        else:
            n = n0
        if best_p is None or tp * n < best_p[0] * best_p[1]:
            best_p = (tp, n, pre)
    tp_p, n_p, t_pre = best_p
    w = wait(lam, t_pre, n_p)
    if w.p90_s + t_pre + after > tg.ttft_s:
        slo_ok = False
    gpu_d = perf_d.gpu_seconds_per_request
    gpu_p = tp_p * t_pre
    perf = replace(perf_d, gpu_seconds_per_request=gpu_d + gpu_p, prefill_s=t_pre,
                   ttft_s=t_pre + after, share_prefill=gpu_p / (gpu_d + gpu_p), share_cached=0.0,
                   share_decode=gpu_d / (gpu_d + gpu_p))
    reason = "" if slo_ok else (f"{model.id} on {hw.id}, disaggregated: no pool shape holds both targets; "
                                "priced at the widest decode replica")
    return Fleet(role, model.id, share, n_d, perf_d.tp * n_d + tp_p * n_p, perf, lam,
                 max(tg.min_replicas, ceil_div(lam_u * perf_d.gpu_seconds_per_request / perf_d.tp)), w,
                 t_pre + w.p50_s + after, t_pre + w.p90_s + after, perf.tpot_s,
                 meets_slo=slo_ok, reason=reason, prefill_replicas=n_p, prefill_tp=tp_p, transfer_s=transfer)


def p90_wait_md(lam: float, service_s: float, servers: int) -> float:
    """90th-percentile wait of an M/D/c queue [s] (:func:`levers.queueing.quantile`)."""
    a = lam * service_s
    if a >= servers:
        return math.inf
    return quantile(erlang_c(servers, a), servers, a, service_s, 0.5, 0.9)


def request_shape(cfg: Config, s) -> tasks.RequestShape:
    """The mean request of the scenario's task shape (:func:`levers.tasks.per_request`).

    An agent's later turns reuse their history only when the prefix cache is
    on (a hit rate above 0).
    """
    return tasks.per_request(
        s.task_shape, system_prompt_tokens=s.system_prompt_tokens, user_tokens=s.user_tokens,
        output_tokens=s.output_tokens, cache_hit_rate=cfg.cache_hit_rate,
        thinking_multiple=s.thinking_multiple, turns=s.agent_turns,
        observation_tokens=s.observation_tokens, reuse_history=cfg.cache_hit_rate > 0)


def offload_tiers(cfg: Config, s, hw, eng: Engine, cached_tokens: float) -> kv_offload.Tiers:
    """Where the big model's replicas hold the scenario's distinct prefixes.

    Per replica of the smallest tensor-parallel size that holds the big
    model's weights (``tp0``): HBM keeps the one prefix the replica model
    reserves room for, host memory and SSD ``tp0 x`` their per-GPU capacity,
    each copying at ``tp0 x`` its per-GPU bandwidth. A tier slower to load
    from than recomputing the prefix (its prefill on ``tp0`` GPUs) is not
    used.
    """
    model = models.get(s.big_model, s.big_params_B, field="big_model")
    tp0 = first_tp(model, hw, cfg.weights, eng)
    kv = model.kv_bytes_per_token(BYTES_PER_KV[cfg.kv_cache])
    # Recomputing the prefix: its prefill on a tp0 replica, as the engine models prefill.
    recompute = Shape(model, hw, tp0, cfg.weights, cfg.kv_cache, Workload(cached_tokens, 0.0, 1), eng).t_pre
    return kv_offload.tiers(
        reusable=1.0, prefix_tokens=cached_tokens, distinct_prefixes=s.distinct_prefixes,
        kv_bytes_per_token=kv, hbm_GB=cached_tokens * kv / 1e9, dram_GB=s.kv_dram_GB * tp0,
        ssd_GB=s.kv_ssd_GB * tp0, dram_GBps=s.kv_dram_GBps * tp0, ssd_GBps=s.kv_ssd_GBps * tp0,
        popularity_skew=s.prefix_popularity_skew,
        recompute_s=recompute)


def spec_for(role: str, model, cfg: Config, s) -> speculative.Setting | None:
    """The speculative setting of one model: MTP heads on every model, or the
    small model drafting for the big one."""
    if cfg.speculative == "off" or (cfg.speculative == "draft_model" and role != "big"):
        return None
    draft = (models.get(s.small_model, s.small_params_B, field="small_model")
             if cfg.speculative == "draft_model" else None)
    return speculative.setting(cfg.speculative, cfg.spec_acceptance, cfg.spec_draft_tokens, model, draft,
                               BYTES_PER_PARAM[cfg.weights], BYTES_PER_KV[cfg.kv_cache])


def evaluate(cfg: Config, s, memo: dict | None = None) -> Outcome:
    """Size and price the fleet for configuration ``cfg`` of scenario ``s``.

    Derivation
    ----------
    Requests reach each model at ``lam = requests_per_day / 86,400 x
    peak_to_average x share`` per second at the busiest hour. Each model's
    fleet is sized by :func:`best_fleet`: at the SLO, the batch keeps TPOT
    under its target and the replica count holds the 90th-percentile TTFT,
    queueing included (:func:`queue`); at least ``min_replicas`` replicas
    either way. Apart, the fleets add up. Consolidated, both models share one
    pool when it fits in memory and needs fewer GPUs (:func:`pooled_fleets`).

    ``memo`` (a dict kept for one waterfall) lets steps reuse each other's
    replica shapes.

    Routing shares: with a *split*, the small model gets ``route_share`` of
    requests and the big one the rest. With a *cascade*, the small model sees
    every request and the big one the ``1 - route_share`` that escalate; an
    escalated request's first token waits for the small model's whole reply,
    and its reply streams at the big model's pace.
    """
    hw = specs.get(cfg.hardware)
    shape = request_shape(cfg, s)
    eng = engine_of(s, cfg.batching)
    prompt, cached, offload = shape.prompt_tokens, shape.cached_tokens, None
    if cfg.kv_offload and cached > 0:
        offload = offload_tiers(cfg, s, hw, eng, cached)
        cached *= offload.held_share
    work = Workload(prompt, cached, shape.output_tokens)
    tg = targets_of(s)
    requests_per_day = s.requests_per_day * shape.turns if shape.turns > 1 else s.requests_per_day
    peak_rps = requests_per_day / SECONDS_PER_DAY * s.peak_to_average

    share = shares(cfg.route_share, cfg.route_policy)
    fleets, model_of, opts = [], {}, {}
    for role in ("big", "small"):
        q = share[role]
        if q <= 0:
            continue
        model = models.get(getattr(s, f"{role}_model"), getattr(s, f"{role}_params_B"),
                           field=f"{role}_model")
        model_of[role] = model
        opts[role] = dict(spec=spec_for(role, model, cfg, s),
                          ttft_extra=offload.load_s if offload is not None else 0.0)
        fleets.append(best_fleet(role, model, hw, cfg, work, eng, peak_rps * q, q, tg, memo, **opts[role],
                                 disagg_network_GBps=s.disagg_network_GBps))
    fleets = tuple(fleets)
    separate = sum(f.gpus for f in fleets)
    gpus, pooled, note = separate, False, ""
    if cfg.consolidate and len(fleets) > 1 and cfg.disaggregated:
        note = "disaggregated fleets are not pooled: each model keeps its own prefill and decode pools"
    elif cfg.consolidate and len(fleets) > 1:
        shared, note = pooled_fleets(fleets, model_of, hw, cfg, work, eng, tg, opts)
        if shared is not None:
            fleets, pooled = shared, True
            gpus = shared[0].perf.tp * shared[0].replicas
    cost = gpus * cfg.usd_per_gpu_hour * 24

    classes = request_classes(fleets, cfg, s, share["big"], tg, work.output_tokens)
    worst = max(classes, key=lambda c: (c.ttft_p90_ms, c.tpot_ms))
    reasons = [f.reason for f in fleets if f.reason]
    for c in classes:
        if not c.slo_met:
            over = []
            if c.ttft_p90_ms > s.ttft_slo_high_ms:
                over.append(f"p90 TTFT {c.ttft_p90_ms:,.0f} ms")
            if c.tpot_ms > s.tpot_slo_high_ms:
                over.append(f"TPOT {c.tpot_ms:,.0f} ms")
            reasons.append(f"{c.name} requests ({c.share * 100:.0f}%): {' and '.join(over)} over target"
                           + ("; they wait for the small model's whole reply"
                              if c.name == "escalated" else ""))

    # $/1M tokens: split the bill by accelerator-seconds, then by token class.
    gpu_s = {f.role: f.request_share * f.perf.gpu_seconds_per_request for f in fleets}
    total_gpu_s = sum(gpu_s.values())
    spend = {"input": 0.0, "cached": 0.0, "output": 0.0}
    for f in fleets:
        part = cost * gpu_s[f.role] / total_gpu_s
        spend["input"] += part * f.perf.share_prefill
        spend["cached"] += part * f.perf.share_cached
        spend["output"] += part * f.perf.share_decode
    per_day = requests_per_day
    uncached_in = per_day * (prompt - work.cached_tokens)
    cached_in = per_day * work.cached_tokens
    out_tok = per_day * work.output_tokens

    def per_m(usd, tokens):
        return usd / tokens * 1e6 if tokens > 0 else 0.0

    return Outcome(
        config=cfg,
        cost_per_day=cost,
        gpus=gpus,
        energy_kwh_per_day=gpus * hw.tdp_W * 24 / 1e3,
        ttft_ms=max(c.ttft_p50_ms for c in classes),
        tpot_ms=max(c.tpot_ms for c in classes),
        usd_per_1m_input=per_m(spend["input"], uncached_in),
        usd_per_1m_cached_input=per_m(spend["cached"], cached_in),
        usd_per_1m_output=per_m(spend["output"], out_tok),
        usd_per_1m_tokens=per_m(cost, uncached_in + cached_in + out_tok),
        fleets=fleets,
        separate_gpus=separate,
        tdp_W=hw.tdp_W,
        tdp_is_estimate=hw.tdp_is_estimate,
        ttft_p90_ms=worst.ttft_p90_ms,
        classes=classes,
        slo_met=not reasons,
        slo_reason="; ".join(reasons),
        pooled=pooled,
        pool_note=note,
        tasks_per_day=s.requests_per_day,
        usd_per_task=cost / s.requests_per_day,
        shape=shape,
        offload=offload,
    )
