""""How this is computed": each formula with the current inputs substituted.

The numbers come from the engine's own results (``Step.details``), so what is
shown is what was computed; this module only lays them out next to their
symbols. Each line is ``(what, formula, with numbers, result)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import efficiency, models, specs
from .explain import gpus
from .perf import BYTES_PER_KV, BYTES_PER_PARAM
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


def _g(x: float, digits: int = 3) -> str:
    """A number with ``digits`` significant figures and thousands separators."""
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:,.{digits}g}" if abs(x) >= 1e-3 else f"{x:.2e}"


def fleet_lines(step: Step, s, role: str = "big") -> list[Line]:
    """The derivation of one model's fleet at ``step`` (``role``: big or small).

    Parameters
    ----------
    step
        A waterfall step (its ``details`` hold the intermediate figures).
    s
        The scenario the waterfall was computed for.
    """
    fleet = next((f for f in step.details["fleets"] if f["role"] == role), None)
    if fleet is None:
        return []
    cfg = step.details["config"]
    hw = specs.get(cfg["hardware"])
    m = models.get(fleet["model"], getattr(s, f"{role}_params_B"))
    tp = fleet["tp"]
    bpp, bkv = BYTES_PER_PARAM[cfg["weights"]], BYTES_PER_KV[cfg["kv_cache"]]
    prompt = s.system_prompt_tokens + s.user_tokens
    cached = cfg["cache_hit_rate"] * prompt
    kv_per_layer = m.kv_elements_per_token // m.layers
    peak = hw.peak_TFLOPS(fleet["compute_format"])
    static = cfg["batching"] == "static"
    lines = [
        Line("weights", "params × bytes/param",
             f"{m.params_total_B:g}e9 × {bpp:.4g} B ({cfg['weights']})", f"{fleet['weight_GB']:.1f} GB"),
        Line("memory per replica", "tp × HBM × memory_utilization",
             f"{tp} × {hw.hbm_GB:g} GB × {s.memory_utilization:g}", f"{fleet['memory_GB']:.1f} GB"),
        Line("KV per token", "layers × KV elements per layer × bytes",
             f"{m.layers} × {kv_per_layer} × {bkv:g} B ({cfg['kv_cache']})",
             f"{fleet['kv_bytes_per_token']:,.0f} B"),
        Line("resident tokens per sequence",
             "(prompt − cached) + " + ("reply × longest/mean" if static else "reply / 2"),
             f"({prompt:,} − {cached:,.0f}) + "
             + (f"{s.output_tokens} × {s.static_longest_over_mean:g}" if static
                else f"{s.output_tokens} / 2"),
             f"{fleet['resident_tokens']:,.0f} tokens"),
        Line("batch", "min(⌊(memory − weights − cached × KV) / (resident × KV)⌋, max_batch)",
             f"min({fleet['batch_by_memory']:,}, {s.max_batch})",
             f"{fleet['batch']} sequences (limit: {fleet['batch_limit']})"),
        *_decode_lines(fleet, m, hw, tp, peak),
        Line("decode step", "max(bandwidth, compute) + all-reduces",
             f"max({_g(fleet['t_mem_ms'])}, {_g(fleet['t_cmp_ms'])}) + {_g(fleet['t_comm_ms'])} ms",
             f"{_g(fleet['step_ms'])} ms ({fleet['step_bound']}-bound)"),
        Line("prefill per request", "(prompt − cached) × (2 × active params + attention) / (tp × peak × mfu)",
             f"{prompt - cached:,.0f} tokens × (2 × {m.params_active_B:g}e9 + attn) / "
             f"({tp} × {peak:g} TFLOPS × {fleet['mfu']:.3g})", f"{_g(fleet['prefill_ms'])} ms"),
        Line("replica throughput",
             "batch / (prefill × batch + reply × longest/mean × step)" if static else
             "1 / max(reply × bandwidth step / batch, reply × compute step / batch + prefill)",
             f"{cfg['batching']} batching, reply {s.output_tokens} tokens",
             f"{_g(fleet['requests_per_s'])} requests/s"),
        Line("replicas at the busiest hour",
             "requests/day / 86,400 × peak/average × share / (replica requests/s × utilization)",
             f"{s.requests_per_day:,.0f} / 86,400 × {s.peak_to_average:g} × {fleet['request_share']:.3g} / "
             f"({_g(fleet['requests_per_s'])} × {s.utilization:g})",
             f"{_g(fleet['replicas'])} replicas"),
        Line("GPUs for this model alone", "tp × ⌈replicas⌉", f"{tp} × ⌈{_g(fleet['replicas'])}⌉",
             gpus(fleet["gpus_alone"])),
        Line("TTFT", "static: batch × prefill + step + half a batch's run" if static
             else "prefill + one step (TPOT)", "", f"{_g(fleet['ttft_ms'])} ms"),
        Line("TPOT", "step time at this batch" if static else "replica time per request × batch / reply",
             "", f"{_g(fleet['tpot_ms'])} ms"),
    ]
    if fleet["efficiency_family"]:
        fit = efficiency.for_hardware(hw.id)
        basis = (f"{fit.points} published measurements" if fit.fitted
                 else "no measurements of this family: twice the widest fitted family's")
        lines.append(Line(
            "uncertainty of throughput", "× or ÷ exp(RMS of ln(modeled / measured)) of the family's fit",
            f"{fit.family} ({basis}): exp({fit.log_rms:.3f})",
            f"×/÷ {fleet['band']:.2f}: {_g(fleet['requests_per_s'] / fleet['band'])}–"
            f"{_g(fleet['requests_per_s'] * fleet['band'])} requests/s per replica"))
    return lines


def _decode_lines(fleet: dict, m, hw, tp: int, peak: float) -> list[Line]:
    """The decode step's bandwidth and compute time, with the efficiency terms substituted.

    With fixed shares (``mbu`` set) the step's bytes move at ``mbu`` of peak
    bandwidth and its FLOPs run at ``mfu`` of peak. With the fitted efficiency
    (``mbu = 0``) the bytes move at the family's ``bw`` share and the FLOPs at
    its ``decode_flops`` share, one after the other, and the achieved ``mbu``
    follows (:mod:`levers.efficiency`).
    """
    bytes_ = (f"({fleet['weights_read_GB']:.1f} GB + {fleet['batch']} × {fleet['context_tokens']:,.0f} × "
              f"{fleet['kv_bytes_per_token']:,.0f} B)")
    flops = f"{fleet['batch']} × (2 × {m.params_active_B:g}e9 + attn)"
    fmt = fleet["compute_format"]
    compute = Line("decode step, compute", "batch × (2 × active params + attention) / (tp × peak × mfu)",
                   f"{flops} / ({tp} × {peak:g} TFLOPS ({fmt}) × {fleet['mfu']:.3g})",
                   f"{_g(fleet['t_cmp_ms'])} ms")
    if not fleet["decode_flops"]:
        return [Line("decode step, bandwidth", "(weights read + batch × context × KV) / (tp × HBM BW × mbu)",
                     f"{bytes_} / ({tp} × {hw.hbm_bandwidth_TBps:g} TB/s × {fleet['mbu']:.3g})",
                     f"{_g(fleet['t_mem_ms'])} ms"), compute]
    fit = efficiency.for_hardware(hw.id)
    return [
        Line("decode step, bytes then FLOPs",
             "(weights read + batch × context × KV) / (tp × HBM BW × bw) "
             "+ batch × (2 × active params + attention) / (tp × peak × decode_flops)",
             f"{bytes_} / ({tp} × {hw.hbm_bandwidth_TBps:g} TB/s × {fit.bw:.3g}) + {flops} / "
             f"({tp} × {peak:g} TFLOPS ({fmt}) × {fit.decode_flops:.3g})  [{fit.family}, "
             + ("fitted" if fit.fitted else "unfitted: median of the fitted families") + "]",
             f"{_g(fleet['t_mem_ms'])} ms"),
        Line("achieved bandwidth share (mbu)", "(weights read + batch × context × KV) / (tp × HBM BW × step)",
             f"{bytes_} / ({tp} × {hw.hbm_bandwidth_TBps:g} TB/s × {_g(fleet['t_mem_ms'])} ms)",
             f"{fleet['mbu']:.3f}"),
        compute,
    ]


def cost_lines(step: Step) -> list[Line]:
    """Fleet size, cost and energy at ``step``."""
    d = step.details
    pooled = d["config"]["consolidate"] and len(d["fleets"]) > 1
    gpus_formula = "⌈Σ tp × replicas⌉ (one shared pool)" if pooled else "Σ tp × ⌈replicas⌉"
    parts = " + ".join(
        f"{f['tp']} × {_g(f['replicas'])}" if pooled else f"{f['tp']} × ⌈{_g(f['replicas'])}⌉"
        for f in d["fleets"])
    est = " (TDP estimated)" if d["tdp_is_estimate"] else ""
    return [
        Line("GPUs", gpus_formula, parts, f"{step.gpus} × {d['hardware']}"),
        Line("cost per day", "GPUs × $/GPU-hour × 24 h",
             f"{step.gpus} × ${d['usd_per_gpu_hour']:.2f} × 24", f"${step.cost_per_day:,.2f}/day"),
        Line("energy per day", "GPUs × TDP × 24 h", f"{step.gpus} × {d['tdp_W']:g} W × 24 h",
             f"{step.energy_kwh_per_day:,.1f} kWh/day{est}"),
    ]


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
