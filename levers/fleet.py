"""From a configuration to a fleet: GPUs, $/day, energy, latency, $/1M tokens.

A *configuration* is the state of the five levers at one step of the
waterfall. :func:`evaluate` sizes the fleet that serves the scenario's
workload in that configuration and prices it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import models, specs
from .errors import InputError
from .hardware import pooled_fleets
from .perf import TP_CHOICES, Engine, ReplicaPerf, Shape, Workload, ceil_div
from .queueing import Wait
from .routing import RequestClass, request_classes, shares
from .sizing import Targets, first_tp, limit, queue, size_shape

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
               share: float, tg: Targets, memo: dict | None = None) -> Fleet:
    """The fleet of one model with the fewest GPUs.

    Every tensor-parallel size from the smallest that holds the weights up to
    64 is tried, so more memory or a cheaper format can only add shapes; a
    size ``tp`` is skipped once ``tp x min_replicas`` already reaches the best
    fleet found, since it cannot beat it. When no shape holds the SLO, the
    fleet is sized to the nearest targets some shape reaches (both scaled by
    the same factor) and says why. ``memo`` shares built shapes between the
    steps of one waterfall (a shape depends on the model, accelerator, size,
    formats, workload and engine only).

    Raises
    ------
    InputError
        When the model does not fit even on 64 accelerators.
    """
    first = first_tp(model, hw, cfg.weights, eng)
    built: dict[int, Shape] = {}

    def shape(tp: int) -> Shape:
        if tp not in built:
            key = (model.id, model.params_total_B, hw.id, tp, cfg.weights, cfg.kv_cache, work, eng)
            sh = memo.get(key) if memo is not None else None
            if sh is None:
                sh = Shape(model, hw, tp, cfg.weights, cfg.kv_cache, work, eng)
                if memo is not None:
                    memo[key] = sh
            built[tp] = sh
        return built[tp]

    def search(t: Targets):
        best = None
        for tp in TP_CHOICES:
            if tp < first:
                continue
            if best is not None and tp * t.min_replicas >= best[0].tp * best[2]:
                break
            sh = shape(tp)
            if not sh.fits:
                continue
            if best is not None and t.at_slo:
                # Lower bound: no batch under the SLO batch does more work per second.
                b = sh.slo_batch(t.tpot_s, t.ttft_s)
                if b and tp * max(t.min_replicas, ceil_div(
                        lam * sh.seconds_per_request(b) / t.utilization)) >= best[0].tp * best[2]:
                    continue
            got = size_shape(sh, lam, t)
            if got and (best is None or tp * got[2] < best[0].tp * best[2]):
                best = got
        return best

    found, reason, used = search(tg), "", tg
    shapes = [sh for sh in built.values() if sh.fits]
    if not shapes:
        raise InputError(
            f"{role}_model",
            f"{model.id} at {cfg.weights} with {work.prompt_tokens + work.output_tokens:.0f}-token "
            f"sequences does not fit on {TP_CHOICES[-1]} x {hw.id}",
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
    core, n_thr, n = found
    sh = built[core.tp]
    perf = sh.at(core.batch, limit(sh, core.batch, used))
    w = queue((perf,), (lam,), n)
    return Fleet(role, model.id, share, n, perf.tp * n, perf, lam, n_thr, w,
                 perf.ttft_s + w.p50_s, perf.ttft_s + w.p90_s, perf.tpot_s,
                 meets_slo=not reason, reason=reason)


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
    prompt = s.system_prompt_tokens + s.user_tokens
    work = Workload(prompt, cfg.cache_hit_rate * prompt, s.output_tokens)
    eng = engine_of(s, cfg.batching)
    tg = targets_of(s)
    peak_rps = s.requests_per_day / SECONDS_PER_DAY * s.peak_to_average

    share = shares(cfg.route_share, cfg.route_policy)
    fleets, model_of = [], {}
    for role in ("big", "small"):
        q = share[role]
        if q <= 0:
            continue
        model = models.get(getattr(s, f"{role}_model"), getattr(s, f"{role}_params_B"),
                           field=f"{role}_model")
        model_of[role] = model
        fleets.append(best_fleet(role, model, hw, cfg, work, eng, peak_rps * q, q, tg, memo))
    fleets = tuple(fleets)
    separate = sum(f.gpus for f in fleets)
    gpus, pooled, note = separate, False, ""
    if cfg.consolidate and len(fleets) > 1:
        shared, note = pooled_fleets(fleets, model_of, hw, cfg, work, eng, tg)
        if shared is not None:
            fleets, pooled = shared, True
            gpus = shared[0].perf.tp * shared[0].replicas
    cost = gpus * cfg.usd_per_gpu_hour * 24

    classes = request_classes(fleets, cfg, s, share["big"], tg)
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
    per_day = s.requests_per_day
    uncached_in = per_day * (prompt - work.cached_tokens)
    cached_in = per_day * work.cached_tokens
    out_tok = per_day * s.output_tokens

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
    )
