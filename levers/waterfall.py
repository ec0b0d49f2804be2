"""The waterfall: baseline cost, then each lever in order, then the final cost.

Each lever is applied on top of the ones before it, so each multiplier is
measured against what the earlier levers already saved, and the product of
the multipliers is ``baseline / final``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property

from . import hardware
from .explain import gpus, money, times
from .fleet import Config, Outcome, evaluate
from .registry import BY_ID, REGISTRY
from .scenario import LEVER_TITLES, Scenario, check_consistency


@dataclass(frozen=True)
class Step:
    """One bar of the waterfall.

    Attributes
    ----------
    lever
        ``"baseline"`` or a lever id.
    title
        Human name.
    on
        False when the lever is switched off (multiplier 1).
    multiplier
        ``cost before / cost after`` (the lesson's "÷2.4" is 2.4).
    cost_per_day
        Cost after this step [$/day].
    gpus
        Accelerators after this step [GPUs].
    ttft_ms, tpot_ms
        The slowest request class's median TTFT and its TPOT after this
        step [ms], queueing included.
    ttft_band, tpot_band
        ``"below"``, ``"inside"`` or ``"above"`` the SLO band (TTFT judged at
        its 90th percentile).
    energy_kwh_per_day
        At TDP [kWh/day].
    usd_per_1m_input, usd_per_1m_cached_input, usd_per_1m_output, usd_per_1m_tokens
        Token prices [$/1M tokens].
    explanation
        One line with the numbers that produced the multiplier.
    ttft_p90_ms
        The slowest class's 90th-percentile TTFT [ms].
    slo_met, slo_reason
        Whether every request class meets both targets; if not, why.
    classes
        :class:`levers.fleet.RequestClass` per class of request.
    usd_per_task, tasks_per_day
        What one task costs after this step, and tasks served per day; a task
        is one request unless the scenario's ``task_shape`` says otherwise
        [$/task, tasks/day].
    uncertainty
        Factor by which modeled throughput may be off, from the residuals of
        the efficiency fit of this step's accelerator family (the widest of
        its fleets'; 1 with fixed ``mfu``/``mbu`` or in illustrative mode).
    cost_per_day_low, cost_per_day_high
        ``cost_per_day`` divided and multiplied by ``uncertainty`` [$/day]:
        a fleet sized for throughput scales with its inverse.
    outcome
        The typed :class:`levers.fleet.Outcome` the step was computed from
        (fleets, replicas, queues), for the derivation and the app; ``details``
        is its JSON-ready copy.
    """

    lever: str
    title: str
    on: bool
    multiplier: float
    cost_per_day: float
    gpus: int
    ttft_ms: float
    tpot_ms: float
    ttft_band: str
    tpot_band: str
    energy_kwh_per_day: float
    usd_per_1m_input: float
    usd_per_1m_cached_input: float
    usd_per_1m_output: float
    usd_per_1m_tokens: float
    explanation: str
    hardware: str = ""
    ttft_p90_ms: float = 0.0
    slo_met: bool = True
    slo_reason: str = ""
    classes: tuple = ()
    usd_per_task: float = 0.0
    tasks_per_day: float = 0.0
    uncertainty: float = 1.0
    cost_per_day_low: float = 0.0
    cost_per_day_high: float = 0.0
    outcome: Outcome | None = field(default=None, repr=False, compare=False)

    @cached_property
    def details(self) -> dict:
        """The outcome's figures as a JSON-ready dict (built on first use)."""
        return _details(self.outcome) if self.outcome is not None else {}


@dataclass(frozen=True)
class Waterfall:
    """All steps plus the totals.

    Attributes
    ----------
    mode
        ``"modeled"`` or ``"illustrative"``.
    steps
        Baseline first, then the five levers in order.
    baseline_cost_per_day, final_cost_per_day
        [$/day].
    total_multiplier
        ``baseline / final``, the product of the step multipliers.
    """

    mode: str
    steps: tuple[Step, ...]
    baseline_cost_per_day: float
    final_cost_per_day: float
    total_multiplier: float

    def to_dict(self) -> dict:
        """JSON-ready: ``{"steps": [...], "baseline_cost_per_day", ...}``."""
        return {
            "mode": self.mode,
            "steps": [{**{f.name: getattr(st, f.name) for f in fields(st) if f.name != "outcome"},
                       "classes": [dict(vars(c)) for c in st.classes], "details": st.details}
                      for st in self.steps],
            "baseline_cost_per_day": self.baseline_cost_per_day,
            "final_cost_per_day": self.final_cost_per_day,
            "total_multiplier": self.total_multiplier,
        }


def band(value: float, low: float, high: float) -> str:
    """Where ``value`` sits against the band ``[low, high]``."""
    if value < low:
        return "below"
    return "inside" if value <= high else "above"


def baseline_config(s: Scenario) -> Config:
    """The naive starting point: no cache, static batches, one model, BF16,
    the baseline accelerator at its price, separate fleets."""
    return Config(
        cache_hit_rate=0.0,
        batching="static",
        route_share=0.0,
        route_policy=s.route_policy,
        weights="bf16",
        kv_cache="bf16",
        hardware=s.baseline_hardware,
        usd_per_gpu_hour=hardware.price(s, s.baseline_hardware, s.baseline_usd_per_gpu_hour),
        consolidate=False,
    )


def _details(o: Outcome) -> dict:
    return {
        "hardware": o.config.hardware,
        "usd_per_gpu_hour": o.config.usd_per_gpu_hour,
        "tdp_W": o.tdp_W,
        "tdp_is_estimate": o.tdp_is_estimate,
        "separate_gpus": o.separate_gpus,
        "pooled": o.pooled,
        "pool_note": o.pool_note,
        "config": dict(vars(o.config)),
        "fleets": [
            {"role": f.role, "model": f.model, "request_share": f.request_share,
             "replicas": f.replicas, "gpus_alone": f.gpus, **_perf(f.perf),
             "arrivals_per_s": f.arrivals_per_s,
             "replicas_for_throughput": f.replicas_for_throughput,
             "queue": _queue(f.wait), "ttft_p50_ms": f.ttft_p50_s * 1e3,
             "ttft_p90_ms": f.ttft_p90_s * 1e3, "tpot_served_ms": f.tpot_s * 1e3,
             "meets_slo": f.meets_slo, "reason": f.reason}
            for f in o.fleets
        ],
    }


def _queue(w) -> dict:
    """The queueing terms, times in milliseconds."""
    return {"servers": w.servers, "load": w.load, "service_ms": w.service_s * 1e3,
            "p_wait": w.p_wait, "factor": w.factor, "mean_ms": w.mean_s * 1e3,
            "p50_ms": w.p50_s * 1e3, "p90_ms": w.p90_s * 1e3}


def _perf(p) -> dict:
    """A replica's figures, times in milliseconds (``step_s`` -> ``step_ms``)."""
    out = {}
    for key, value in vars(p).items():
        if key.endswith("_s") and not key.endswith("per_s"):
            key, value = key[:-2] + "_ms", value * 1e3
        out[key] = value
    return out


def _step(lever, on, mult, cost, o: Outcome, s: Scenario, text: str) -> Step:
    scale = cost / o.cost_per_day  # 1 when modeled; rescales token prices when illustrative
    unc = 1.0 if s.mode == "illustrative" else max((f.perf.band for f in o.fleets), default=1.0)
    return Step(
        lever=lever,
        title="Baseline" if lever == "baseline" else LEVER_TITLES[lever],
        on=on,
        multiplier=mult,
        cost_per_day=cost,
        gpus=o.gpus,
        ttft_ms=o.ttft_ms,
        tpot_ms=o.tpot_ms,
        ttft_band=band(o.ttft_p90_ms, s.ttft_slo_low_ms, s.ttft_slo_high_ms),
        tpot_band=band(o.tpot_ms, s.tpot_slo_low_ms, s.tpot_slo_high_ms),
        energy_kwh_per_day=o.energy_kwh_per_day,
        usd_per_1m_input=o.usd_per_1m_input * scale,
        usd_per_1m_cached_input=o.usd_per_1m_cached_input * scale,
        usd_per_1m_output=o.usd_per_1m_output * scale,
        usd_per_1m_tokens=o.usd_per_1m_tokens * scale,
        explanation=text,
        hardware=o.config.hardware,
        ttft_p90_ms=o.ttft_p90_ms,
        slo_met=o.slo_met,
        slo_reason=o.slo_reason,
        classes=o.classes,
        usd_per_task=cost / o.tasks_per_day,
        tasks_per_day=o.tasks_per_day,
        uncertainty=unc,
        cost_per_day_low=cost / unc,
        cost_per_day_high=cost * unc,
        outcome=o,
    )


def waterfall(s: Scenario, *, outcomes: dict | None = None) -> Waterfall:
    """Compute the waterfall for scenario ``s``.

    Modeled mode: each step's cost is :func:`levers.fleet.evaluate` of the
    configuration after that lever, and its multiplier is the previous cost
    over this one. Illustrative mode: the baseline is ``baseline_cost_per_day``
    and each lever divides it by its hand-set ``mult_<lever>``; GPUs, latency
    and energy are still modeled for each step's settings, and token prices
    are the modeled ones rescaled to the illustrative cost.

    A lever in ``off`` leaves the configuration as it was: multiplier 1.

    ``outcomes`` is an optional cache of evaluated configurations, shared by
    callers that run several waterfalls of one scenario differing only in
    ``off`` and ``order`` (which do not change how a configuration is sized).
    """
    s = s.snapshot()  # plain attributes: param's descriptors are slow in the hot loop
    check_consistency(s)
    illustrative = s.mode == "illustrative"
    cfg = baseline_config(s)
    cache: dict[Config, Outcome] = {} if outcomes is None else outcomes
    shapes: dict = {}  # replica shapes shared by the steps

    def outcome(c: Config) -> Outcome:
        if c not in cache:
            cache[c] = evaluate(c, s, shapes)
        return cache[c]

    prev = outcome(cfg)
    cost = s.baseline_cost_per_day if illustrative else prev.cost_per_day
    base_text = (
        f"illustrative baseline bill {money(cost)}/day; GPUs and latency modeled: "
        if illustrative else ""
    ) + (
        f"{prev.gpus} × {cfg.hardware} at ${cfg.usd_per_gpu_hour:.2f}/GPU-hour × 24 h, "
        f"static batching, BF16, no prefix cache, every request on {s.big_model}"
    )
    if not prev.slo_met:
        base_text += f"; misses the SLO: {prev.slo_reason}"
    steps = [_step("baseline", True, 1.0, cost, prev, s, base_text)]
    for lever in [*s.order, *(m.ID for m in REGISTRY if m.ID not in s.order)]:  # the scenario's order
        mod = BY_ID[lever]
        on = lever not in s.off
        if on:
            cfg = mod.apply(cfg, s)
        cur = outcome(cfg)
        fleet = f"{prev.gpus} → {gpus(cur.gpus)}"
        if not on:
            mult, text = 1.0, "switched off: no change"
        elif illustrative:
            mult = getattr(s, f"mult_{lever}")
            text = (f"illustrative: {times(mult)} set by hand. Modeled for these settings: "
                    f"{mod.explain(prev, cur, s)}; {fleet}")
        else:
            mult = prev.cost_per_day / cur.cost_per_day
            text = (f"{mod.explain(prev, cur, s)}; {fleet}, {money(prev.cost_per_day)} → "
                    f"{money(cur.cost_per_day)}/day")
        if not cur.slo_met:
            text += f"; misses the SLO: {cur.slo_reason}"
        cost = cost / mult
        steps.append(_step(lever, on, mult, cost, cur, s, text))
        prev = cur
    base, final = steps[0].cost_per_day, steps[-1].cost_per_day
    return Waterfall(
        mode=s.mode,
        steps=tuple(steps),
        baseline_cost_per_day=base,
        final_cost_per_day=final,
        total_multiplier=base / final,
    )
