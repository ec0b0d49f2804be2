"""Roofline model of one model replica: throughput, batch, TTFT and TPOT.

A replica is one copy of a model spread over ``tp`` accelerators (tensor
parallel). Two kinds of work run on it:

* **Prefill** reads the prompt. It is compute-bound: every new prompt token
  costs ``2 x active params`` FLOPs plus attention, done at ``mfu`` of the
  accelerator's peak for the compute format.
* **Decode** emits one token per sequence per step. A step streams the weights
  once for the whole batch, plus each sequence's KV cache, so it is
  bandwidth-bound at small batch: ``bytes / (tp x HBM bandwidth x mbu)``. At
  large batch its FLOPs take over; the step takes the slower of the two.

How many sequences decode at once is limited by memory: what is left after
the weights holds the KV cache, ``kv bytes/token x resident tokens`` per
sequence. Prompt tokens served from the prefix cache are shared: their KV is
stored once per replica, not once per sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError
from .models import Model
from .specs import Accelerator

#: Bytes per weight [B/param]. INT4 carries one FP16 scale per 128 weights
#: (AWQ/GPTQ group size), FP4 one FP8 scale per 16 weights (NVFP4 blocks).
BYTES_PER_PARAM = {"bf16": 2.0, "fp8": 1.0, "int4": 0.5 + 2 / 128, "fp4": 0.5 + 1 / 16}

#: Bytes per cached KV element [B].
BYTES_PER_KV = {"bf16": 2.0, "fp8": 1.0}


def compute_format(weights: str, hw: Accelerator) -> str:
    """The tensor-core format the matmuls run in for a weight precision.

    FP8 and FP4 weights run natively where the accelerator has that format
    (W8A8, W4A4). Elsewhere, and always for INT4 (AWQ/GPTQ are weight-only),
    weights are widened to BF16 before the matmul, so the peak is BF16's.
    """
    if weights in ("fp8", "fp4") and hw.supports(weights):
        return weights
    return "bf16"


@dataclass(frozen=True)
class Workload:
    """One request's shape as a replica sees it.

    Attributes
    ----------
    prompt_tokens
        All prompt tokens [tokens].
    cached_tokens
        Of those, the ones served from the prefix cache [tokens].
    output_tokens
        Reply length [tokens].
    """

    prompt_tokens: float
    cached_tokens: float
    output_tokens: float


@dataclass(frozen=True)
class Engine:
    """Serving-engine settings.

    Attributes
    ----------
    batching
        ``"static"`` or ``"continuous"``.
    mfu, mbu
        Shares of peak FLOPs and peak bandwidth reached.
    memory_utilization
        Share of accelerator memory for weights plus KV cache.
    max_batch
        Cap on concurrent sequences (0: only memory limits it).
    longest_over_mean
        Static batching: longest reply in a batch over the mean.
    """

    batching: str
    mfu: float
    mbu: float
    memory_utilization: float
    max_batch: int
    longest_over_mean: float


@dataclass(frozen=True)
class ReplicaPerf:
    """Steady-state performance of one replica.

    Attributes
    ----------
    tp
        Accelerators per replica.
    batch
        Sequences decoding at once.
    batch_limit
        What capped the batch: ``"memory"``, ``"max_batch"`` or ``"concurrency"``.
    gpu_seconds_per_request
        Accelerator-seconds one request costs (``tp x`` replica-seconds) [s].
    requests_per_s
        Replica throughput [requests/s].
    output_tokens_per_s
        Replica throughput [tokens/s].
    ttft_s, tpot_s
        Time to first token and time per output token [s].
    prefill_s
        Compute time of one request's uncached prefill [s].
    step_s
        One decode step at the reached batch, without prefill [s].
    step_bound
        ``"bandwidth"`` or ``"compute"``: what limits a decode step.
    share_prefill, share_cached, share_decode
        How one request's replica time splits between its uncached prompt,
        reading its cached prefix's KV during decode, and the rest of decode.
    weight_GB, kv_budget_GB, kv_bytes_per_token
        Memory picture [GB, GB, B/token].
    compute_format
        Format the matmuls run in.
    t_mem_s, t_cmp_s, t_comm_s
        A decode step's bandwidth time, compute time and all-reduce time [s].
    weights_read_GB, resident_tokens, context_tokens, batch_by_memory, memory_GB
        Intermediate figures of the derivation, kept so it can be shown.
    """

    tp: int
    batch: int
    batch_limit: str
    gpu_seconds_per_request: float
    requests_per_s: float
    output_tokens_per_s: float
    ttft_s: float
    tpot_s: float
    prefill_s: float
    step_s: float
    step_bound: str
    share_prefill: float
    share_cached: float
    share_decode: float
    weight_GB: float
    kv_budget_GB: float
    kv_bytes_per_token: float
    compute_format: str
    t_mem_s: float = 0.0
    t_cmp_s: float = 0.0
    t_comm_s: float = 0.0
    weights_read_GB: float = 0.0
    resident_tokens: float = 0.0
    context_tokens: float = 0.0
    batch_by_memory: int = 0
    memory_GB: float = 0.0


def replica(
    model: Model,
    hw: Accelerator,
    tp: int,
    weights: str,
    kv_cache: str,
    work: Workload,
    engine: Engine,
    concurrency: int = 0,
) -> ReplicaPerf | None:
    """Model one replica; None when the model or one sequence does not fit.

    Derivation
    ----------
    Memory [B]: ``M = tp x HBM x memory_utilization``; weights
    ``W = params x bytes/param``; KV budget ``K = M - W``.

    Resident KV per sequence [tokens]: continuous batching allocates pages as
    a reply grows, so on average a sequence holds its uncached prompt plus half
    its reply, ``p - c + o/2``. Static batching reserves the longest reply for
    every slot, ``p - c + o x r`` (r = longest/mean). The cached prefix ``c``
    is held once. Batch ``B = floor((K - c x kv) / (resident x kv))``, capped
    by ``max_batch`` and ``concurrency``.

    Decode step [s]: ``t_mem = (W_read(B) + B x ctx x kv) / (tp x BW x mbu)``
    with ``ctx = p + o/2`` (attention reads the whole context, cached part
    too), ``t_cmp = B x (2 x active + attn(ctx)) / (tp x peak x mfu)``,
    ``t_step = max(t_mem, t_cmp) + t_comm`` (see :func:`t_comm`).

    Prefill [s]: ``t_pre = ((p - c) x 2 x active + attn) / (tp x peak x mfu)``
    with attention over positions ``c .. p``.

    Continuous batching with chunked prefill: prefill chunks ride in decode
    steps and use the compute that bandwidth-bound steps leave idle, so one
    request costs ``max(o x t_mem / B, o x t_cmp / B + t_pre)`` replica-seconds
    and TPOT is that time x B / o. Static batching runs prefill, then
    ``o x r`` steps for every slot: ``t_pre + o x r x t_step / B``.

    TTFT: continuous, ``t_pre + TPOT`` (the prompt's compute, then one step);
    static, the whole batch's prefill ``B x t_pre`` plus a step, plus on
    average half a batch's run waiting for the current batch to drain.
    Queueing at high load is not modeled.
    """
    p, c, o = work.prompt_tokens, work.cached_tokens, work.output_tokens
    fmt = compute_format(weights, hw)
    peak = hw.peak_TFLOPS(fmt) * 1e12 * tp  # [FLOP/s]
    bw = hw.hbm_bandwidth_TBps * 1e12 * tp  # [B/s]
    mem = hw.hbm_GB * 1e9 * tp * engine.memory_utilization
    w_bytes = model.params_total_B * 1e9 * BYTES_PER_PARAM[weights]
    kv = model.kv_bytes_per_token(BYTES_PER_KV[kv_cache])
    budget = mem - w_bytes
    static = engine.batching == "static"
    r = engine.longest_over_mean if static else 1.0
    resident = (p - c) + (o * r if static else o / 2)
    room = budget - c * kv
    if room <= 0 or room < resident * kv:
        return None
    b_mem = int(room // (resident * kv))
    limits = [(b_mem, "memory")]
    if engine.max_batch:
        limits.append((engine.max_batch, "max_batch"))
    if concurrency:
        limits.append((concurrency, "concurrency"))
    batch, limit = min(limits, key=lambda t: t[0])

    active = model.params_active_B * 1e9
    ctx = p + (o * r if static else o) / 2
    eff_bw = bw * engine.mbu
    eff_peak = peak * engine.mfu
    w_read = model.weight_bytes_read(batch, BYTES_PER_PARAM[weights])
    t_mem = (w_read + batch * ctx * kv) / eff_bw
    t_cmp = batch * (2 * active + model.attention_flops_per_token(ctx)) / eff_peak
    comm = t_comm(model, hw, tp, batch)
    step = max(t_mem, t_cmp) + comm
    new = p - c
    pre_flops = 2 * active * new + model.attention_flops_per_token(c + new / 2) * new
    t_pre = pre_flops / eff_peak + t_comm(model, hw, tp, new)

    if static:
        per_req = t_pre + o * r * step / batch
        tpot = step
        batch_run = batch * t_pre + o * r * step
        ttft = batch * t_pre + step + batch_run / 2
    else:
        mem_side = o * (t_mem + comm) / batch
        cmp_side = o * (t_cmp + comm) / batch + t_pre
        per_req = max(mem_side, cmp_side)
        tpot = per_req * batch / o
        ttft = t_pre + tpot
    # Cost attribution by standalone work: the uncached prompt's compute, and
    # the decode steps' time, of which the cached prefix's KV reads take the
    # share of bytes they move when steps are bandwidth-bound.
    decode_alone = o * r * step / batch
    frac_cached = batch * c * kv / eff_bw / step if t_mem >= t_cmp else 0.0
    total = t_pre + decode_alone
    share_pre = t_pre / total
    share_cached = decode_alone * frac_cached / total
    return ReplicaPerf(
        tp=tp,
        batch=batch,
        batch_limit=limit,
        gpu_seconds_per_request=per_req * tp,
        requests_per_s=1.0 / per_req,
        output_tokens_per_s=o / per_req,
        ttft_s=ttft,
        tpot_s=tpot,
        prefill_s=t_pre,
        step_s=step,
        step_bound="bandwidth" if t_mem >= t_cmp else "compute",
        share_prefill=share_pre,
        share_cached=share_cached,
        share_decode=1.0 - share_pre - share_cached,
        weight_GB=w_bytes / 1e9,
        kv_budget_GB=budget / 1e9,
        kv_bytes_per_token=kv,
        compute_format=fmt,
        t_mem_s=t_mem,
        t_cmp_s=t_cmp,
        t_comm_s=comm,
        weights_read_GB=w_read / 1e9,
        resident_tokens=resident,
        context_tokens=ctx,
        batch_by_memory=b_mem,
        memory_GB=mem / 1e9,
    )


#: Fixed cost of one all-reduce across the tensor-parallel group [s]: launch
#: and synchronisation, about 10 us on NVLink-class links.
ALLREDUCE_LATENCY_S = 10e-6


def t_comm(model: Model, hw: Accelerator, tp: int, tokens: float) -> float:
    """Tensor-parallel communication per forward pass of ``tokens`` tokens [s].

    Each layer all-reduces its activations twice (after attention and after
    the MLP). A ring all-reduce moves ``2 (tp - 1) / tp`` times the data per
    accelerator, over one direction of the scale-up link (half the
    bidirectional figure): ``2 x layers x (latency + tokens x hidden x 2 B x
    2 (tp - 1) / tp / (scale_up / 2))``. Zero for ``tp = 1``.
    """
    if tp <= 1:
        return 0.0
    per_reduce = tokens * model.hidden_size * 2.0 * 2 * (tp - 1) / tp / (hw.scale_up_GBps * 1e9 / 2)
    return 2 * model.layers * (ALLREDUCE_LATENCY_S + per_reduce)


TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)


def candidates(
    model: Model,
    hw: Accelerator,
    weights: str,
    kv_cache: str,
    work: Workload,
    engine: Engine,
    *,
    field: str = "big_model",
) -> list[ReplicaPerf]:
    """The tensor-parallel sizes worth trying, each modeled.

    From the smallest power of two whose memory holds the weights, up to
    ``max(8, 4 x`` that size``)``: one 8-GPU node, or four times the
    minimum for models that need more. Larger groups only add communication.
    The window depends on the weights alone, not on the workload, so pushing
    a lever never removes the cheapest shape. Sizes where one sequence does
    not fit beside the weights are dropped.

    Raises
    ------
    InputError
        When the model does not fit even on 64 accelerators.
    """
    w_bytes = model.params_total_B * 1e9 * BYTES_PER_PARAM[weights]
    per_gpu = hw.hbm_GB * 1e9 * engine.memory_utilization
    first = next((tp for tp in TP_CHOICES if tp * per_gpu > w_bytes), TP_CHOICES[-1])
    window = [tp for tp in TP_CHOICES if first <= tp <= max(8, 4 * first)]
    fits = [r for tp in window if (r := replica(model, hw, tp, weights, kv_cache, work, engine))]
    if not fits:
        raise InputError(
            field,
            f"{model.id} at {weights} with {work.prompt_tokens + work.output_tokens:.0f}-token "
            f"sequences does not fit on {TP_CHOICES[-1]} x {hw.id}",
        )
    return fits


def throughput(
    model: Model,
    hw: Accelerator,
    gpus: int,
    weights: str,
    kv_cache: str,
    input_tokens: int,
    output_tokens: int,
    *,
    concurrency: int = 0,
    batching: str = "continuous",
    mfu: float,
    mbu: float,
    memory_utilization: float,
    cached_tokens: int = 0,
    longest_over_mean: float = 2.0,
) -> dict:
    """Throughput of one replica on ``gpus`` accelerators (tensor parallel).

    ``concurrency=0`` means offline: as many sequences as memory allows.
    Returns a JSON-ready dict with ``output_tokens_per_s``,
    ``output_tokens_per_s_per_gpu``, ``ttft_ms``, ``tpot_ms`` and ``batch``.

    Raises
    ------
    InputError
        When the model plus one sequence does not fit on ``gpus`` accelerators.
    """
    engine = Engine(batching=batching, mfu=mfu, mbu=mbu, memory_utilization=memory_utilization,
                    max_batch=0, longest_over_mean=longest_over_mean)
    work = Workload(input_tokens, min(cached_tokens, input_tokens), output_tokens)
    r = replica(model, hw, gpus, weights, kv_cache, work, engine, concurrency)
    if r is None:
        need = model.params_total_B * BYTES_PER_PARAM[weights]
        raise InputError(
            "gpus",
            f"{model.id} at {weights} ({need:.0f} GB of weights) plus one "
            f"{input_tokens + output_tokens}-token sequence does not fit in {gpus} x {hw.id} "
            f"({hw.hbm_GB:g} GB each at {memory_utilization:g} utilization); use more GPUs",
        )
    return {
        "model": model.id,
        "hardware": hw.id,
        "gpus": gpus,
        "weights": weights,
        "kv_cache": kv_cache,
        "batching": batching,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "batch": r.batch,
        "batch_limit": r.batch_limit,
        "output_tokens_per_s": r.output_tokens_per_s,
        "output_tokens_per_s_per_gpu": r.output_tokens_per_s / gpus,
        "requests_per_s": r.requests_per_s,
        "ttft_ms": r.ttft_s * 1e3,
        "tpot_ms": r.tpot_s * 1e3,
        "decode_step_bound": r.step_bound,
        "compute_format": r.compute_format,
        "weight_GB": r.weight_GB,
        "kv_budget_GB": r.kv_budget_GB,
        "kv_bytes_per_token": r.kv_bytes_per_token,
    }


def ceil_div(x: float) -> int:
    """Smallest whole number at least ``x`` (tolerant of float fuzz)."""
    return math.ceil(x - 1e-9)
