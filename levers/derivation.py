""""How this is computed": each formula with the current inputs substituted.

The numbers come from the engine's own results (``Step.details``), so what is
shown is what was computed; this module only lays them out next to their
symbols. Each line is ``(what, formula, with numbers, result)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import efficiency, models, specs
from .explain import gpus
from .explain import sig as _g  # significant figures, shared with the app
from .perf import ALLREDUCE_LATENCY_S, BYTES_PER_ACTIVATION, BYTES_PER_KV, BYTES_PER_PARAM
from .training import TrainingRow
from .waterfall import Step


@dataclass(frozen=True)
class Line:
    """One formula.

    Attributes
    ----------
    what
        What the line computes.
    formula
        In symbols.
    numbers
        The same with the current values.
    result
        The value, with its unit.
    """

    what: str
    formula: str
    numbers: str
    result: str


def fleet_lines(step: Step, s, role: str = "big") -> list[Line]:
    """The derivation of one model's fleet at ``step`` (``role``: big or small).

    Parameters
    ----------
    step
        A waterfall step (its ``outcome`` holds the typed intermediate figures).
    s
        The scenario the waterfall was computed for.
    """
    o = step.outcome
    fleet = o.fleet(role) if o is not None else None
    if fleet is None:
        return []
    cfg = o.config
    p = fleet.perf
    hw = specs.get(cfg.hardware)
    m = models.get(fleet.model, getattr(s, f"{role}_params_B"))
    tp = p.tp
    bpp, bkv = BYTES_PER_PARAM[cfg.weights], BYTES_PER_KV[cfg.kv_cache]
    # The mean request of the task shape; with KV offload, only held prefixes are hits.
    shape = o.shape
    prompt = shape.prompt_tokens if shape is not None else s.system_prompt_tokens + s.user_tokens
    cached = shape.cached_tokens if shape is not None else cfg.cache_hit_rate * prompt
    if o.offload is not None:
        cached *= o.offload.held_share
    out = shape.output_tokens if shape is not None else s.output_tokens
    turns = shape.turns if shape is not None else 1
    kv_per_layer = m.kv_elements_per_token // m.layers
    peak = hw.peak_TFLOPS(p.compute_format)
    static = cfg.batching == "static"
    ms = 1e3
    at_slo = s.sizing == "slo"
    copies = f" (+ {p.attention_dp - 1} more copies of the shared part)" if p.attention_dp > 1 else ""
    lines = [
        Line("weights", "params × bytes/param" + (" + (attention DP − 1) × shared × bytes/param" if copies else ""),
             f"{m.params_total_B:g}e9 × {bpp:.4g} B ({cfg.weights}){copies}", f"{p.weight_GB:.1f} GB"),
        Line("memory per replica", "tp × HBM × memory_utilization",
             f"{tp} × {hw.hbm_GB:g} GB × {s.memory_utilization:g}", f"{p.memory_GB:.1f} GB"),
        Line("KV per token", "layers × KV elements per layer × bytes",
             f"{m.layers} × {kv_per_layer} × {bkv:g} B ({cfg.kv_cache})",
             f"{p.kv_bytes_per_token:,.0f} B"),
        Line("resident tokens per sequence",
             "(prompt − cached) + " + ("reply × longest/mean" if static else "reply / 2"),
             f"({prompt:,.0f} − {cached:,.0f}) + "
             + (f"{out:,.0f} × {s.static_longest_over_mean:g}" if static
                else f"{out:,.0f} / 2"),
             f"{p.resident_tokens:,.0f} tokens"),
        Line("batch",
             ("largest B ≤ min(memory's batch, max_batch) with TPOT(B) ≤ "
              f"{s.tpot_slo_high_ms:g} ms and TTFT before queueing ≤ {s.ttft_slo_high_ms:g} ms"
              if at_slo else "min(⌊(memory − weights − cached × KV) / (resident × KV)⌋, max_batch)"),
             f"min({p.batch_by_memory:,}, {s.max_batch})" + (" → SLO" if at_slo else ""),
             f"{p.batch} sequences (limit: {p.batch_limit})"),
        *_decode_lines(p, m, hw, tp, peak),
        *comm_lines(p, m, hw, bpp),
        Line("decode step", "max(bandwidth, compute) + communication",
             f"max({_g(p.t_mem_s * ms)}, {_g(p.t_cmp_s * ms)}) + {_g(p.t_comm_s * ms)} ms",
             f"{_g(p.step_s * ms)} ms ({p.step_bound}-bound)"),
        Line("prefill per request", "(prompt − cached) × (2 × active params + attention) / (tp × peak × mfu)",
             f"{prompt - cached:,.0f} tokens × (2 × {m.params_active_B:g}e9 + attn) / "
             f"({tp} × {peak:g} TFLOPS × {p.mfu:.3g})", f"{_g(p.prefill_s * ms)} ms"),
        Line("replica throughput",
             "batch / (prefill × batch + reply × longest/mean × step)" if static else
             "1 / max(reply × bandwidth step / batch, reply × compute step / batch + prefill)",
             f"{cfg.batching} batching, reply {out:,.0f} tokens",
             f"{_g(p.requests_per_s)} requests/s"),
        Line("arrivals at the busiest hour", "requests/day / 86,400 × peak/average × share"
             + (" × agent turns" if turns > 1 else ""),
             f"{s.requests_per_day:,.0f} / 86,400 × {s.peak_to_average:g} × {fleet.request_share:.3g}"
             + (f" × {turns}" if turns > 1 else ""),
             f"{_g(fleet.arrivals_per_s)} requests/s"),
        Line("replicas for throughput",
             "max(min_replicas, ⌈Σ arrivals / replica throughput / utilization⌉)",
             f"max({s.min_replicas}, ⌈{_g(fleet.arrivals_per_s)} / {_g(p.requests_per_s)} / "
             f"{s.utilization:g}⌉)" + (" (pool: both models' work)" if o.pooled else ""),
             f"{fleet.replicas_for_throughput} replicas"),
    ]
    w = fleet.wait
    if w is not None:
        if static:
            svc = ("batch run = batch × prefill + reply × longest/mean × step",
                   f"{p.batch} × {_g(p.prefill_s * ms)} + {out:,.0f} × "
                   f"{s.static_longest_over_mean:g} × {_g(p.step_s * ms)} ms")
        else:
            svc = ("prefill / (1 − share of compute decode holds)",
                   f"{_g(p.prefill_s * ms)} ms / (1 − Σ arrivals × {_g(p.decode_busy_s * ms)} ms / "
                   f"{w.servers})")
        lines += [
            Line("queue service time", svc[0], svc[1], f"{_g(w.service_s * ms)} ms"),
            Line("offered load", "arrivals × service time (static: batches of B arrive)",
                 f"on {w.servers} replicas", f"{_g(w.load)} Erlangs ({_g(w.load / w.servers)} per replica)"),
            Line("chance of waiting (Erlang C)", "C(c, a), Erlang B recursion",
                 f"C({w.servers}, {_g(w.load)})", f"{_g(w.p_wait)}"),
            Line("p90 wait (M/D/c, Allen–Cunneen)", "(1 + Cs²)/2 × S / (c − a) × ln(C / 0.1)",
                 f"{w.factor:g} × {_g(w.service_s * ms)} ms / ({w.servers} − {_g(w.load)}) × "
                 f"ln({_g(w.p_wait)} / 0.1)", f"{_g(w.p90_s * ms)} ms"),
        ]
    lines += [
        Line("TTFT p50 / p90",
             ("batch × prefill + step" if static else "prefill + one step (TPOT)")
             + (" + the layout's added wait" if p.ttft_layout_s > 0 else "") + " + wait"
             + (" + the other model's step (shared pool)" if o.pooled else ""),
             f"{_g(p.ttft_s * ms)} ms + wait",
             f"{_g(fleet.ttft_p50_s * ms)} / {_g(fleet.ttft_p90_s * ms)} ms"),
        Line("TPOT", ("step time at this batch" if static else "replica time per request × batch / reply")
             + (" + the other model's step (shared pool)" if o.pooled else ""),
             "", f"{_g(fleet.tpot_s * ms)} ms"),
        Line("replicas", "smallest n ≥ replicas for throughput with TTFT p90 ≤ target"
             if at_slo else "replicas for throughput",
             f"{s.ttft_slo_high_ms:g} ms target" if at_slo else "",
             f"{fleet.replicas} replicas"),
    ]
    lines += technique_lines(o, fleet, s)
    if not o.pooled:
        lines.append(Line("GPUs for this model alone", "tp × replicas", f"{tp} × {fleet.replicas}",
                          gpus(fleet.gpus)))
    if p.efficiency_family:
        fit = efficiency.for_hardware(hw.id)
        clock = efficiency.clocks().get(hw.id)
        if clock is not None and fit.fitted:
            lines.append(Line(
                "sustained clock under matrix load", "the family's compute shares × sustained / peak clock",
                f"{clock.sustained_MHz:,.0f} MHz / {clock.peak_MHz:,.0f} MHz ({clock.note})",
                f"× {clock.share:.3f}: prefill {fit.prefill_share(p.compute_format):.3g}, "
                f"decode {fit.decode_flops:.3g} of the datasheet peak"))
        basis = (f"{fit.points} published measurements" if fit.fitted
                 else "no measurements of this family: twice the widest fitted family's")
        lines.append(Line(
            "uncertainty of throughput", "× or ÷ exp(RMS of ln(modeled / measured)) of the family's fit",
            f"{fit.family} ({basis}): exp({fit.log_rms:.3f})",
            f"×/÷ {p.band:.2f}: {_g(p.requests_per_s / p.band)}–"
            f"{_g(p.requests_per_s * p.band)} requests/s per replica"))
    if fleet.reason:
        lines.append(Line("SLO", "cannot be met", fleet.reason, "not met"))
    return lines


def technique_lines(o, fleet, s) -> list[Line]:
    """The optional techniques' terms for one fleet, when they are on."""
    cfg, p, ms, lines = o.config, fleet.perf, 1e3, []
    if p.spec_tokens_per_step > 1:
        lines.append(Line("speculative: tokens per verify step", "(1 − a^(k+1)) / (1 − a)",
                          f"a = {cfg.spec_acceptance:g}, k = {cfg.spec_draft_tokens} ({cfg.speculative})",
                          f"{p.spec_tokens_per_step:.3g} tokens; the decode step above is per output token"))
    held = o.offload
    if held is not None:
        lines += [
            Line("KV offload: requests whose prefix is held", "Σ over HBM, DRAM, SSD of H(M_i, s) / H(N, s)",
                 f"{s.distinct_prefixes:,.0f} prefixes × {held.prefix_GB:,.3g} GB = "
                 f"{held.working_set_GB:,.0f} GB", f"{held.held_share * 100:.1f}%"),
            Line("KV offload: copy into HBM, added to TTFT", "Σ served_i × prefix / bandwidth_i",
                 ", ".join(f"{t} {held.served[t] * 100:.1f}% × {_g(held.load_s_by_tier[t] * ms)} ms"
                           for t in ("hbm", "dram", "ssd")), f"{_g(held.load_s * ms)} ms"),
        ]
    if fleet.prefill_replicas:
        lines += [
            Line("disaggregated: KV transfer", "prompt × KV / (decode tp × network per GPU)",
                 f"{o.shape.prompt_tokens:,.0f} × {p.kv_bytes_per_token:,.0f} B / "
                 f"({p.tp} × {s.disagg_network_GBps:g} GB/s)", f"{_g(fleet.transfer_s * ms)} ms"),
            Line("disaggregated: prefill pool",
                 "smallest n (M/D/c) with prefill + p90 wait + transfer + one step ≤ TTFT target",
                 f"{fleet.prefill_replicas} × {fleet.prefill_tp} GPUs",
                 f"{fleet.prefill_replicas * fleet.prefill_tp} GPUs beside {fleet.replicas} × {p.tp} for decode"),
        ]
    return lines


def _decode_lines(p, m, hw, tp: int, peak: float) -> list[Line]:
    """The decode step's bandwidth and compute time of replica ``p``, with the efficiency terms substituted.

    With fixed shares (``mbu`` set) the step's bytes move at ``mbu`` of peak
    bandwidth and its FLOPs run at ``mfu`` of peak. With the fitted efficiency
    (``mbu = 0``) the bytes move at the family's ``bw`` share and the FLOPs at
    its ``decode_flops`` share, one after the other, and the achieved ``mbu``
    follows (:mod:`levers.efficiency`).
    """
    ms = 1e3
    slots = p.slots if p.slots and p.slots != p.batch else p.batch
    copies = f" × {p.kv_copies:g} copies" if p.kv_copies > 1 else ""
    bytes_ = (f"({p.weights_read_GB:.1f} GB + {slots:,.0f} × {p.context_tokens:,.0f} × "
              f"{p.kv_bytes_per_token:,.0f} B{copies})")
    flops = f"{slots:,.0f} × (2 × {m.params_active_B:g}e9 + attn)"
    fmt = p.compute_format
    compute = Line("decode step, compute", "batch × (2 × active params + attention) / (tp × peak × mfu)",
                   f"{flops} / ({tp} × {peak:g} TFLOPS ({fmt}) × {p.mfu:.3g})", f"{_g(p.t_cmp_s * ms)} ms")
    if not p.decode_flops:
        return [Line("decode step, bandwidth", "(weights read + batch × context × KV) / (tp × HBM BW × mbu)",
                     f"{bytes_} / ({tp} × {hw.hbm_bandwidth_TBps:g} TB/s × {p.mbu:.3g})",
                     f"{_g(p.t_mem_s * ms)} ms"), compute]
    fit = efficiency.for_hardware(hw.id)
    return [
        Line("decode step, bytes then FLOPs",
             "(weights read + batch × context × KV) / (tp × HBM BW × bw) "
             "+ batch × (2 × active params + attention) / (tp × peak × decode_flops)",
             f"{bytes_} / ({tp} × {hw.hbm_bandwidth_TBps:g} TB/s × {fit.bw:.3g}) + {flops} / "
             f"({tp} × {peak:g} TFLOPS ({fmt}) × {fit.decode_flops:.3g})  [{fit.family}, "
             + ("fitted" if fit.fitted else "unfitted: median of the fitted families") + "]",
             f"{_g(p.t_mem_s * ms)} ms"),
        Line("achieved bandwidth share (mbu)", "(weights read + batch × context × KV) / (tp × HBM BW × step)",
             f"{bytes_} / ({tp} × {hw.hbm_bandwidth_TBps:g} TB/s × {_g(p.t_mem_s * ms)} ms)",
             f"{p.mbu:.3f}"),
        compute,
    ]


def comm_lines(p, m, hw, bpp: float) -> list[Line]:
    """The replica's layout and its decode step's communication, with numbers substituted.

    Per step, each micro-batch of ``n = slots / pp`` tokens passes every layer
    once (:func:`levers.perf.parallel_comm`): tensor-parallel all-reduces,
    expert-parallel dispatch and combine, pipeline hand-offs. With speculative
    decoding the terms are per output token, as the decode step is.
    """
    ms = 1e3
    tp, pp, ep, dp = p.tensor or p.tp, p.pipeline, p.expert, p.attention_dp
    stage = ep if ep > 1 else tp
    shared = (m.params_total_B - m.expert_params_B) * bpp
    experts = m.expert_params_B * bpp
    if experts:
        layout = Line("layout", "GPUs = (EP if experts are spread, else TP) × PP; per GPU "
                      "(shared / TP + experts / EP) / PP",
                      f"{p.parallel}: ({shared:,.1f} GB / {tp} + {experts:,.1f} GB / {stage}) / {pp}",
                      f"{p.weight_GB_per_gpu:,.1f} GB of weights on each of {p.tp} GPUs")
    else:
        layout = Line("layout", "GPUs = TP × PP; per GPU weights / TP / PP",
                      f"{p.parallel}: {shared:,.1f} GB / {tp} / {pp}",
                      f"{p.weight_GB_per_gpu:,.1f} GB of weights on each of {p.tp} GPUs")
    lines = [layout]
    if p.kv_copies > 1:
        lines.append(Line("KV copies under tensor parallelism", "TP / min(TP, KV shards)",
                          f"{tp} / min({tp}, {m.kv_shards})" + (" (latent attention: one shard)"
                                                                 if m.kv_shards == 1 else ""),
                          f"× {p.kv_copies:g} KV per token"))
    if p.ttft_layout_s > 0:
        lines.append(Line("one prompt's added wait under this layout (in TTFT)",
                          "(F_shared / TP + F_experts / stage GPUs) / (peak per GPU × share) − prefill",
                          f"attention and shared weights on {tp} GPUs, experts on {stage}, "
                          + (f"{pp} stages in turn" if pp > 1 else "one stage"),
                          f"+{_g(p.ttft_layout_s * 1e3)} ms"))
    if p.tp == 1:
        return lines
    latency = (efficiency.for_hardware(hw.id).allreduce_us * 1e-6 if p.decode_flops else ALLREDUCE_LATENCY_S)
    lat = f"{latency * 1e6:.3g} µs"
    n = p.slots / pp if p.slots else p.batch
    d, out = hw.scale_up_domain_GPUs, hw.scale_out_GBps
    up = f"{hw.scale_up_GBps:g} GB/s / 2"
    a = BYTES_PER_ACTIVATION
    if tp > 1:
        spans = bool(d and out and tp > d)
        link = (f"{up} in-node, then 1/{d} over {out:g} GB/s / 2 across {tp // d} nodes" if spans
                else f"{up}")
        lines.append(Line(
            "tensor-parallel all-reduces per step",
            ("1" if ep > 1 else "2") + " × layers × (latency + tokens / attention DP × hidden × 2 B × "
            "2 (TP − 1) / TP / one-way link)",
            f"{1 if ep > 1 else 2} × {m.layers} × ({lat} + {n:,.4g} / {dp} × {m.hidden_size:,} × {a:g} B × "
            f"2 × {tp - 1}/{tp} / ({link}))", f"{_g(p.t_allreduce_s * ms)} ms"))
    if ep > 1:
        spans = bool(d and out and ep > d)
        link = (f"max({d - 1}/{ep} over {up}, {ep - d}/{ep} over {out:g} GB/s / 2)" if spans
                else f"{ep - 1}/{ep} / ({up})")
        lines.append(Line(
            "expert-parallel dispatch + combine per step",
            "2 × layers × (latency + tokens / EP × experts per token × hidden × 2 B × remote share / one-way link)",
            f"2 × {m.layers} × ({lat}{' × 2' if spans else ''} + {n:,.4g} / {ep} × {m.experts_per_token} × "
            f"{m.hidden_size:,} × {a:g} B × {link})", f"{_g(p.t_alltoall_s * ms)} ms"))
    if pp > 1:
        link = f"{out:g} GB/s / 2" if d and out and p.tp > d else up
        lines += [
            Line("pipeline hand-offs per step",
                 "PP × latency + (PP − 1) × tokens × hidden × 2 B / stage GPUs / one-way link",
                 f"{pp} × {lat} + {pp - 1} × {n:,.4g} × {m.hidden_size:,} × {a:g} B / {stage} / ({link})",
                 f"{_g(p.t_handoff_s * ms)} ms"),
            Line("pipeline: slots per step (bubble below PP sequences)", "max(batch, PP); weights read PP times",
                 f"max({p.batch}, {pp})", f"{p.slots:,.0f} slots, {p.weights_read_GB:,.1f} GB read"),
        ]
    return lines


def cost_lines(step: Step) -> list[Line]:
    """Fleet size, cost and energy at ``step``."""
    o = step.outcome
    d = step.details
    if o.pooled:
        f0 = o.fleets[0]
        gpus_formula, parts = "tp × pool replicas (one shared pool)", f"{f0.perf.tp} × {f0.replicas}"
    else:
        gpus_formula = "Σ tp × replicas"
        parts = " + ".join(f"{f.perf.tp} × {f.replicas}" for f in o.fleets)
    est = " (TDP estimated)" if d["tdp_is_estimate"] else ""
    out = [
        Line("GPUs", gpus_formula, parts, f"{step.gpus} × {d['hardware']}"),
        Line("cost per day", "GPUs × $/GPU-hour × 24 h",
             f"{step.gpus} × ${d['usd_per_gpu_hour']:.2f} × 24", f"${step.cost_per_day:,.2f}/day"),
        Line("energy per day", "GPUs × TDP × 24 h", f"{step.gpus} × {d['tdp_W']:g} W × 24 h",
             f"{step.energy_kwh_per_day:,.1f} kWh/day{est}"),
    ]
    if _per_task(o):
        out.append(Line("cost per task", "cost per day / tasks per day",
                        f"${step.cost_per_day:,.2f} / {o.tasks_per_day:,.0f}", f"${step.usd_per_task:.4g}/task"))
    if o.pool_note:
        out.append(Line("shared pool", "both weights + both KV fit, and fewer GPUs than two fleets",
                        o.pool_note, "pooled" if o.pooled else "two fleets"))
    for c in o.classes:
        out.append(Line(f"latency: {c.name} requests ({c.share * 100:.0f}%)", "TTFT p50 / p90, TPOT",
                        "escalated: small model's TTFT + its other reply tokens + big model's TTFT"
                        if c.name == "escalated" else "",
                        f"{_g(c.ttft_p50_ms)} / {_g(c.ttft_p90_ms)} ms, {_g(c.tpot_ms)} ms"
                        + ("" if c.slo_met else " (over target)")))
    return out


def _per_task(o) -> bool:
    """Whether the outcome prices tasks: agent turns, or replies with hidden thinking."""
    sh = o.shape
    return sh is not None and (sh.turns > 1 or sh.output_tokens > sh.visible_output_tokens)


def training_lines(row: TrainingRow, params: float, tokens: float, mfu: float, gpus: int) -> list[Line]:
    """The hardware-table row's derivation."""
    flops = 6 * params * tokens
    est = " (TDP estimated)" if row.energy_is_estimate else ""
    return [
        Line("training FLOPs", "6 × N × D", f"6 × {params:.3g} × {tokens:.3g}", f"{flops:.3g} FLOP"),
        Line("time", "FLOPs / (GPUs × dense BF16 peak × MFU)",
             f"{flops:.3g} / ({gpus:,} × {row.bf16_dense_TFLOPS:g}e12 × {mfu:g})",
             f"{row.days:.1f} days"),
        Line("GPU-hours", "GPUs × time", f"{gpus:,} × {row.days * 24:,.0f} h", f"{row.gpu_hours:,.0f}"),
        Line("cost", "GPU-hours × $/GPU-hour", f"{row.gpu_hours:,.0f} × ${row.usd_per_gpu_hour:.2f}",
             f"${row.cost_usd / 1e6:.2f}M"),
        Line("energy", "GPU-hours × TDP", f"{row.gpu_hours:,.0f} × {row.tdp_W:g} W",
             f"{row.energy_mwh:.1f} MWh{est}"),
    ]
