"""From a configuration to a fleet: GPUs, $/day, energy, latency, $/1M tokens.

A *configuration* is the state of the five levers at one step of the
waterfall. :func:`evaluate` sizes the fleet that serves the scenario's
workload in that configuration and prices it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from . import models, specs
from .perf import Engine, ReplicaPerf, Workload, candidates, ceil_div

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
        Replicas needed at the busiest hour (fractional) [replicas].
    gpus
        Accelerators if this model has a fleet of its own [GPUs].
    perf
        One replica's performance.
    """

    role: str
    model: str
    request_share: float
    replicas: float
    gpus: int
    perf: ReplicaPerf


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
    ttft_ms, tpot_ms
        Mean time to first token (over requests) and per output token (over
        delivered tokens) [ms].
    usd_per_1m_input, usd_per_1m_cached_input, usd_per_1m_output
        Prices per million tokens [$/1M], from each token class's share of
        accelerator time.
    usd_per_1m_tokens
        All-in: ``cost_per_day / all tokens per day x 1e6`` [$/1M].
    fleets
        Per-model detail.
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


def evaluate(cfg: Config, s) -> Outcome:
    """Size and price the fleet for configuration ``cfg`` of scenario ``s``.

    Derivation
    ----------
    Requests reach each model at ``requests_per_day / 86,400 x
    peak_to_average x share`` per second at the busiest hour. A model needs
    ``rate / (replica requests/s x utilization)`` replicas. Apart, each fleet
    rounds up to whole replicas: ``tp x ceil(replicas)`` GPUs. Consolidated,
    both share one pool: ``ceil(sum of tp x replicas)`` GPUs, and at least
    one replica's worth. The replica shape (tensor-parallel size) of each
    model is the one that needs the fewest GPUs; latency is then reported
    against the SLO bands, not optimised for (so cost falls monotonically as
    any lever is pushed further).

    Routing shares: with a *split*, the small model gets ``route_share`` of
    requests and the big one the rest. With a *cascade*, the small model sees
    every request and the big one the ``1 - route_share`` that escalate; an
    escalated request's first token waits for the small model's whole reply.
    """
    hw = specs.get(cfg.hardware)
    prompt = s.system_prompt_tokens + s.user_tokens
    work = Workload(prompt, cfg.cache_hit_rate * prompt, s.output_tokens)
    eng = engine_of(s, cfg.batching)
    peak_rps = s.requests_per_day / SECONDS_PER_DAY * s.peak_to_average

    shares = {"big": 1.0 - cfg.route_share, "small": cfg.route_share}
    if cfg.route_policy == "cascade" and cfg.route_share > 0:
        shares["small"] = 1.0
    options = {}
    for role in ("big", "small"):
        q = shares[role]
        if q <= 0:
            continue
        model = models.get(getattr(s, f"{role}_model"), getattr(s, f"{role}_params_B"),
                           field=f"{role}_model")
        options[role] = [
            Fleet(role, model.id, q, (x := peak_rps * q / (r.requests_per_s * s.utilization)),
                  r.tp * ceil_div(x), r)
            for r in candidates(model, hw, cfg.weights, cfg.kv_cache, work, eng,
                                field=f"{role}_model")
        ]
    pooled = cfg.consolidate and len(options) > 1

    def size(combo) -> tuple:
        """GPUs for one choice of replica shape per model, then tie-breakers."""
        frac = sum(f.perf.tp * f.replicas for f in combo)
        apart = sum(f.gpus for f in combo)
        gpus = max(ceil_div(frac), max(f.perf.tp for f in combo)) if pooled else apart
        return gpus, frac, max(f.perf.tpot_s for f in combo)

    # The cheapest shape: fewest GPUs, then least fractional load, then lowest TPOT.
    fleets = min(itertools.product(*options.values()), key=size)
    gpus = size(fleets)[0]
    separate = sum(f.gpus for f in fleets)
    cost = gpus * cfg.usd_per_gpu_hour * 24

    # Latency, as users see it.
    by_role = {f.role: f for f in fleets}
    big, small = by_role.get("big"), by_role.get("small")
    esc = shares["big"]
    if small is None:
        ttft, tpot = big.perf.ttft_s, big.perf.tpot_s
    elif big is None:
        ttft, tpot = small.perf.ttft_s, small.perf.tpot_s
    elif cfg.route_policy == "cascade":
        small_full = small.perf.ttft_s + s.output_tokens * small.perf.tpot_s
        ttft = small.perf.ttft_s + esc * (small_full - small.perf.ttft_s + big.perf.ttft_s)
        tpot = cfg.route_share * small.perf.tpot_s + esc * big.perf.tpot_s
    else:
        ttft = cfg.route_share * small.perf.ttft_s + esc * big.perf.ttft_s
        tpot = cfg.route_share * small.perf.tpot_s + esc * big.perf.tpot_s

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
        ttft_ms=ttft * 1e3,
        tpot_ms=tpot * 1e3,
        usd_per_1m_input=per_m(spend["input"], uncached_in),
        usd_per_1m_cached_input=per_m(spend["cached"], cached_in),
        usd_per_1m_output=per_m(spend["output"], out_tok),
        usd_per_1m_tokens=per_m(cost, uncached_in + cached_in + out_tok),
        fleets=fleets,
        separate_gpus=separate,
        tdp_W=hw.tdp_W,
        tdp_is_estimate=hw.tdp_is_estimate,
    )
