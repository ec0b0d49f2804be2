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

from . import efficiency
from .errors import InputError
from .models import Model
from .quantization import BYTES_PER_KV, BYTES_PER_PARAM, compute_format
from .specs import Accelerator

__all__ = ["BYTES_PER_KV", "BYTES_PER_PARAM", "compute_format"]  # re-exported for callers

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
        Shares of peak FLOPs and peak bandwidth reached; 0 means the
        accelerator family's fitted value (:mod:`levers.efficiency`): prefill
        at the family's share of the format's peak, and decode on the fitted
        curve of batch and context (``mbu = 0``).
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
    efficiency: efficiency.FamilyFit | None = None
    """Fitted shares to use instead of the shipped fit of the accelerator's family (for fitting)."""


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
        Time to first token once admitted (no queueing) and time per output
        token [s].
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
    batch_run_s
        Static batching: one batch's run, prefill to last token [s] (0 for
        continuous batching).
    decode_busy_s
        Continuous batching: replica time one request's decode keeps the
        compute busy, ``o x (t_cmp + t_comm) / B`` [s]; chunked prefill gets
        the rest (0 for static batching).
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
    batch_run_s: float = 0.0
    decode_busy_s: float = 0.0
    mfu: float = 0.0
    mbu: float = 0.0
    decode_flops: float = 0.0
    efficiency_family: str = ""
    band: float = 1.0
    spec_tokens_per_step: float = 1.0
    ttft_extra_s: float = 0.0

    @property
    def memory_shares(self) -> tuple[float, float, float]:
        """The replica's usable memory split into weights, KV in use and KV free [fractions].

        Derivation: of the usable memory ``M`` (``memory_GB``), the weights
        take ``W / M`` and the KV budget ``K / M`` (``weight_GB``,
        ``kv_budget_GB``). The memory's batch ``B_mem`` (``batch_by_memory``)
        is the batch that fills ``K``, so a batch of ``B`` sequences uses
        ``min(B / B_mem, 1)`` of it: KV in use ``K/M x min(B / B_mem, 1)``,
        KV free the rest of ``K/M``. What ``W + K`` leaves of ``M`` (a
        speculative drafter's weights) is in none of the three, so they sum
        to at most 1. All three are 0 when ``M`` is 0.
        """
        if self.memory_GB <= 0:
            return 0.0, 0.0, 0.0
        weights = self.weight_GB / self.memory_GB
        kv = max(self.kv_budget_GB, 0.0) / self.memory_GB
        used = kv * min(self.batch / max(self.batch_by_memory, 1), 1.0)
        return weights, used, kv - used


class Core:
    """The few figures of a replica at one batch that sizing needs (see
    :class:`ReplicaPerf` for their meaning); cheap to build in a search."""

    __slots__ = (
        "batch",
        "batch_run_s",
        "decode_busy_s",
        "prefill_s",
        "requests_per_s",
        "tp",
        "tpot_s",
        "ttft_s",
    )

    def __init__(self, tp, batch, requests_per_s, ttft_s, tpot_s, prefill_s, batch_run_s,
                 decode_busy_s):
        self.tp = tp
        self.batch, self.requests_per_s, self.ttft_s, self.tpot_s = batch, requests_per_s, ttft_s, tpot_s
        self.prefill_s, self.batch_run_s, self.decode_busy_s = prefill_s, batch_run_s, decode_busy_s


class Shape:
    """One replica shape (model, accelerator, tensor-parallel size, formats,
    workload, engine) with everything that does not depend on the batch
    worked out once, so the batch and replica searches stay cheap.

    Derivation
    ----------
    Memory [B]: ``M = tp x HBM x memory_utilization``; weights
    ``W = params x bytes/param``; KV budget ``K = M - W``.

    Resident KV per sequence [tokens]: continuous batching allocates pages as
    a reply grows, so on average a sequence holds its uncached prompt plus half
    its reply, ``p - c + o/2``. Static batching reserves the longest reply for
    every slot, ``p - c + o x r`` (r = longest/mean). The cached prefix ``c``
    is held once. The memory's batch ``B_mem = floor((K - c x kv) / (resident
    x kv))``, capped by ``max_batch``.

    Decode step [s]: ``t_mem = (W_read(B) + B x ctx x kv) / (tp x BW x mbu)``
    with ``ctx = p + o/2`` (attention reads the whole context, cached part
    too), ``t_cmp = B x (2 x active + attn(ctx)) / (tp x peak x mfu)``,
    ``t_step = max(t_mem, t_cmp) + t_comm`` (see :func:`t_comm`).

    With the fitted efficiency (``mbu = 0``) the step's bandwidth and compute
    phases do not overlap: ``t_mem = S / (tp x BW x bw) + F / (tp x peak x
    decode_flops)`` with ``S`` the bytes and ``F`` the FLOPs above, so the
    achieved bandwidth share falls as the batch grows (see
    :mod:`levers.efficiency`); ``t_cmp`` stays the compute that chunked
    prefill competes for, at prefill's share.

    Prefill [s]: ``t_pre = ((p - c) x 2 x active + attn) / (tp x peak x mfu)``
    with attention over positions ``c .. p``.

    Continuous batching with chunked prefill: prefill chunks ride in decode
    steps and use the compute that bandwidth-bound steps leave idle, so one
    request costs ``max(o x t_mem / B, o x t_cmp / B + t_pre)`` replica-seconds
    and TPOT is that time x B / o, i.e. ``max(t_mem, t_cmp + B t_pre / o) +
    t_comm``: both terms grow with ``B``. Static batching runs prefill, then
    ``o x r`` steps for every slot: ``t_pre + o x r x t_step / B``.

    TTFT once a request is admitted (queueing is added by the fleet, see
    :mod:`levers.queueing`): continuous, ``t_pre + TPOT`` (the prompt's
    compute, then one step); static, the whole batch's prefill ``B x t_pre``
    plus a step.
    """

    __slots__ = (
        "_slo",
        "active",
        "attn",
        "b_mem",
        "bpp",
        "budget",
        "bw",
        "comm0",
        "comm1",
        "ctx",
        "eff_bw",
        "eff_dec",
        "eff_peak",
        "engine",
        "fit",
        "fmt",
        "hw",
        "kv",
        "kv_cache",
        "mem",
        "model",
        "o",
        "peak",
        "r",
        "resident",
        "room",
        "spec",
        "split",
        "static",
        "t_pre",
        "tp",
        "ttft_extra",
        "w_bytes",
        "weights",
        "work",
    )

    def __init__(self, model: Model, hw: Accelerator, tp: int, weights: str, kv_cache: str,
                 work: Workload, engine: Engine, kv_room: float | None = None, *,
                 spec=None, ttft_extra: float = 0.0, split: bool = False) -> None:
        p, c, o = work.prompt_tokens, work.cached_tokens, work.output_tokens
        self.model, self.hw, self.tp, self.work, self.engine = model, hw, tp, work, engine
        self.weights, self.kv_cache, self.o = weights, kv_cache, o
        self.fmt = compute_format(weights, hw)
        self.bpp = BYTES_PER_PARAM[weights]
        self.mem = hw.hbm_GB * 1e9 * tp * engine.memory_utilization
        self.w_bytes = model.params_total_B * 1e9 * self.bpp
        self.kv = model.kv_bytes_per_token(BYTES_PER_KV[kv_cache])
        # Speculative decoding (:mod:`levers.speculative`): the drafter's weights
        # sit beside the target's, and a draft model keeps its own KV per sequence.
        # split: a disaggregated decode replica (:mod:`levers.disaggregation`);
        # prompts are prefilled elsewhere, so no chunks ride in its steps.
        self.spec, self.ttft_extra, self.split = spec, ttft_extra, split
        self.budget = self.mem - self.w_bytes - (spec.draft_weight_bytes if spec else 0.0)
        self.static = engine.batching == "static"
        self.r = engine.longest_over_mean if self.static else 1.0
        self.resident = (p - c) + (o * self.r if self.static else o / 2)
        # kv_room: memory this model may use for KV (a shared pool gives each
        # model a part of what both models' weights leave).
        self.room = (self.budget if kv_room is None else kv_room) - c * self.kv
        per_seq = self.resident * self.kv * (1.0 + (spec.kv_share if spec else 0.0))
        self.b_mem = int(self.room // per_seq) if self.room > 0 and per_seq > 0 else 0
        self.active = model.params_active_B * 1e9
        self.ctx = p + (o * self.r if self.static else o) / 2
        self.peak = peak = hw.peak_TFLOPS(self.fmt) * 1e12 * tp
        self.bw = bw = hw.hbm_bandwidth_TBps * 1e12 * tp
        auto = not (engine.mfu and engine.mbu)
        self.fit = (engine.efficiency or efficiency.for_hardware(hw.id)) if auto else None
        if engine.mbu:  # a fixed share: the roofline's max(bandwidth, compute)
            self.eff_bw, self.eff_dec = bw * engine.mbu, math.inf
            latency = ALLREDUCE_LATENCY_S
        else:  # the family's decode curve, and its collective latency
            self.eff_bw, self.eff_dec = bw * self.fit.bw, peak * self.fit.decode_flops
            latency = self.fit.allreduce_us * 1e-6
        self.eff_peak = peak * (engine.mfu or self.fit.prefill_share(self.fmt))
        self.attn = model.attention_flops_per_token(self.ctx)
        new = p - c
        pre_flops = 2 * self.active * new + model.attention_flops_per_token(c + new / 2) * new
        # t_comm(tokens) = comm0 + comm1 x tokens: linear in the tokens (see t_comm)
        self.comm0 = t_comm(model, hw, tp, 0.0, latency)
        self.comm1 = t_comm(model, hw, tp, 1.0, latency) - self.comm0
        pre_comm0 = t_comm(model, hw, tp, 0.0)
        # Prefill chunks share forward passes with other requests' chunks and
        # decode steps, so a request is not charged a whole pass's fitted
        # collective latency; that latency applies to decode steps.
        self.t_pre = pre_flops / self.eff_peak + pre_comm0 + self.comm1 * new
        self._slo: dict = {}

    @property
    def fits(self) -> bool:
        """Whether the weights plus one sequence fit."""
        return self.b_mem >= 1

    @property
    def cap(self) -> int:
        """Largest batch memory and ``max_batch`` allow [sequences]."""
        mb = self.engine.max_batch
        return min(self.b_mem, mb) if mb else self.b_mem

    def parts(self, batch: int, w_read: float | None = None) -> tuple[float, float, float]:
        """A decode step's bandwidth, compute and communication time at ``batch`` [s].

        With speculative decoding, the same three per output token:
        :meth:`levers.speculative.Setting.per_token`.
        """
        if w_read is None:
            w_read = self.model.weight_bytes_read(batch, self.bpp)
        flops = batch * (2 * self.active + self.attn)
        comm = self.comm0 + self.comm1 * batch
        if self.spec is not None:
            return self.spec.per_token(w_read / self.eff_bw, batch * self.ctx * self.kv / self.eff_bw,
                                       flops / self.eff_peak, comm, flops / self.eff_dec)
        t_mem = (w_read + batch * self.ctx * self.kv) / self.eff_bw + flops / self.eff_dec
        return t_mem, flops / self.eff_peak, comm

    def tpot(self, batch: int) -> float:
        """Time per output token at ``batch`` [s] (grows with the batch)."""
        t_mem, t_cmp, comm = self.parts(batch)
        if self.static or self.split:
            return max(t_mem, t_cmp) + comm
        return max(t_mem, t_cmp + batch * self.t_pre / self.o) + comm

    def ttft(self, batch: int) -> float:
        """Time to first token once admitted, without queueing [s]."""
        if self.static:
            return batch * self.t_pre + self.tpot(batch) + self.ttft_extra
        return self.t_pre + self.tpot(batch) + self.ttft_extra

    def slo_batch(self, tpot_s: float, ttft_s: float, cap: int | None = None) -> int:
        """Largest batch up to ``cap`` whose TPOT and unqueued TTFT meet the targets; 0 if none.

        Both grow with the batch, so a bisection finds it.
        """
        key = (tpot_s, ttft_s, cap)
        if key not in self._slo:
            self._slo[key] = self._slo_batch(tpot_s, ttft_s, cap)
        return self._slo[key]

    def _slo_batch(self, tpot_s: float, ttft_s: float, cap: int | None) -> int:
        hi = self.cap if cap is None else cap

        pre, static = self.t_pre, self.static

        extra = self.ttft_extra

        def ok(b):
            t = self.tpot(b)
            return t <= tpot_s and (b * pre if static else pre) + t + extra <= ttft_s

        if hi < 1:
            return 0
        guess = self._linear_batch(tpot_s, ttft_s)
        if guess is not None:  # dense model: solved in closed form, checked here
            g = max(1, min(guess, hi))
            if ok(g):
                if g == hi or not ok(g + 1):
                    return g
            elif g == 1:
                return 0
        if not ok(1):
            return 0
        if ok(hi):
            return hi
        lo = 1  # ok(lo) holds, ok(hi) does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                lo = mid
            else:
                hi = mid
        return lo

    def seconds_per_request(self, batch: int) -> float:
        """Replica-seconds one request costs at ``batch`` [s] (falls as the batch grows)."""
        t_mem, t_cmp, comm = self.parts(batch)
        if self.static:
            return self.t_pre + self.o * self.r * (max(t_mem, t_cmp) + comm) / batch
        if self.split:
            return self.o * (max(t_mem, t_cmp) + comm) / batch
        return max(self.o * (t_mem + comm) / batch, self.o * (t_cmp + comm) / batch + self.t_pre)

    def core(self, batch: int) -> Core:
        """:meth:`at`'s sizing figures only, computed the same way."""
        t_mem, t_cmp, comm = self.parts(batch)
        o, t_pre = self.o, self.t_pre
        extra = self.ttft_extra
        if self.static:
            step = max(t_mem, t_cmp) + comm
            per_req = t_pre + o * self.r * step / batch
            return Core(self.tp, batch, 1.0 / per_req, batch * t_pre + step + extra, step, t_pre,
                        batch * t_pre + o * self.r * step, 0.0)
        if self.split:
            step = max(t_mem, t_cmp) + comm
            return Core(self.tp, batch, batch / (o * step), t_pre + step + extra, step, t_pre, 0.0, 0.0)
        per_req = max(o * (t_mem + comm) / batch, o * (t_cmp + comm) / batch + t_pre)
        tpot = per_req * batch / o
        return Core(self.tp, batch, 1.0 / per_req, t_pre + tpot + extra, tpot, t_pre, 0.0,
                    o * (t_cmp + comm) / batch)

    def _linear_batch(self, tpot_s: float, ttft_s: float) -> int | None:
        """For a dense model every step term is linear in ``B``: ``x + y B``.
        The largest ``B`` keeping each term under its target, or None for an
        MoE model (whose weight reads grow with ``B`` non-linearly)."""
        m = self.model
        if self.spec is not None or self.split or (m.experts > 1 and m.params_total_B > m.params_active_B):
            return None
        x_mem = self.model.weight_bytes_read(1, self.bpp) / self.eff_bw + self.comm0
        y_mem = self.ctx * self.kv / self.eff_bw + (2 * self.active + self.attn) / self.eff_dec + self.comm1
        y_cmp = (2 * self.active + self.attn) / self.eff_peak + self.comm1
        if self.static:
            # TPOT: max(mem, cmp) <= T; TTFT: B t_pre + max(mem, cmp) <= F.
            terms = [(x_mem, y_mem, tpot_s), (self.comm0, y_cmp, tpot_s),
                     (x_mem, y_mem + self.t_pre, ttft_s), (self.comm0, y_cmp + self.t_pre, ttft_s)]
        else:
            y_cmp += self.t_pre / self.o
            terms = [(x_mem, y_mem, tpot_s), (self.comm0, y_cmp, tpot_s),
                     (x_mem + self.t_pre, y_mem, ttft_s), (self.comm0 + self.t_pre, y_cmp, ttft_s)]
        return int(min((t - x) / y for x, y, t in terms if y > 0))

    def at(self, batch: int, limit: str) -> ReplicaPerf:
        """The replica's figures at ``batch`` (``limit`` says what set it)."""
        o, c = self.o, self.work.cached_tokens
        w_read = self.model.weight_bytes_read(batch, self.bpp)
        t_mem, t_cmp, comm = self.parts(batch, w_read)
        tau = self.spec.tokens_per_step if self.spec is not None else 1.0
        step = max(t_mem, t_cmp) + comm
        t_pre, r = self.t_pre, self.r
        if self.static:
            per_req = t_pre + o * r * step / batch
            tpot = step
            ttft = batch * t_pre + step + self.ttft_extra
        elif self.split:
            per_req = o * step / batch
            tpot = step
            ttft = t_pre + step + self.ttft_extra
        else:
            per_req = max(o * (t_mem + comm) / batch, o * (t_cmp + comm) / batch + t_pre)
            tpot = per_req * batch / o
            ttft = t_pre + tpot + self.ttft_extra
        # Cost attribution by standalone work: the uncached prompt's compute, and
        # the decode steps' time, of which the cached prefix's KV reads take the
        # share of bytes they move when steps are bandwidth-bound.
        decode_alone = o * r * step / batch
        cached_read = batch * c * self.kv / self.eff_bw
        if self.spec is not None:  # per output token, as t_mem and the step are
            cached_read /= self.spec.tokens_per_step
        frac_cached = cached_read / step if t_mem >= t_cmp else 0.0
        total = t_pre + decode_alone
        share_pre = t_pre / total
        share_cached = decode_alone * frac_cached / total
        return ReplicaPerf(
            tp=self.tp,
            batch=batch,
            batch_limit=limit,
            gpu_seconds_per_request=per_req * self.tp,
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
            weight_GB=self.w_bytes / 1e9,
            kv_budget_GB=self.budget / 1e9,
            kv_bytes_per_token=self.kv,
            compute_format=self.fmt,
            t_mem_s=t_mem,
            t_cmp_s=t_cmp,
            t_comm_s=comm,
            weights_read_GB=w_read / 1e9,
            resident_tokens=self.resident,
            context_tokens=self.ctx,
            batch_by_memory=self.b_mem,
            memory_GB=self.mem / 1e9,
            batch_run_s=batch * t_pre + o * r * step if self.static else 0.0,
            decode_busy_s=0.0 if self.static or self.split else o * (t_cmp + comm) / batch,
            mfu=self.eff_peak / self.peak,
            # achieved share of peak bandwidth while the step moves its bytes
            # (speculation: t_mem is per output token, a verify step takes tau of them)
            mbu=(w_read + batch * self.ctx * self.kv) / (self.bw * t_mem * tau),
            decode_flops=self.fit.decode_flops if self.eff_dec != math.inf else 0.0,
            efficiency_family=self.fit.family if self.fit else "",
            band=self.fit.band() if self.fit else 1.0,
            spec_tokens_per_step=tau,
            ttft_extra_s=self.ttft_extra,
        )


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
    """Model one replica at the largest batch memory, ``max_batch`` and
    ``concurrency`` allow; None when the model or one sequence does not fit.

    See :class:`Shape` for the derivation.
    """
    sh = Shape(model, hw, tp, weights, kv_cache, work, engine)
    if not sh.fits:
        return None
    limits = [(sh.b_mem, "memory")]
    if engine.max_batch:
        limits.append((engine.max_batch, "max_batch"))
    if concurrency:
        limits.append((concurrency, "concurrency"))
    batch, limit = min(limits, key=lambda t: t[0])
    return sh.at(batch, limit)


#: Fixed cost of one all-reduce across the tensor-parallel group [s]: launch
#: and synchronisation, about 10 us on NVLink-class links.
ALLREDUCE_LATENCY_S = 10e-6


def t_comm(model: Model, hw: Accelerator, tp: int, tokens: float, latency_s: float = ALLREDUCE_LATENCY_S) -> float:
    """Tensor-parallel communication per forward pass of ``tokens`` tokens [s].

    Each layer all-reduces its activations twice (after attention and after
    the MLP). A ring all-reduce moves ``2 (tp - 1) / tp`` times the data per
    accelerator, over one direction of the scale-up link (half the
    bidirectional figure): ``2 x layers x (latency + tokens x hidden x 2 B x
    2 (tp - 1) / tp / (scale_up / 2))``. Zero for ``tp = 1``. ``latency_s`` is
    the fixed cost of one all-reduce (fitted per family with the efficiency).

    A group larger than the accelerator's scale-up domain of ``d`` chips
    (``scale_up_domain_GPUs``, e.g. an 8-GPU NVLink node) spans ``n = tp / d``
    domains and all-reduces hierarchically: a reduce-scatter and all-gather
    inside each domain, ``2 (d - 1) / d`` of the data over the scale-up link,
    and between domains an all-reduce of each chip's ``1 / d`` share, ``2 (n -
    1) / n / d`` of the data over one direction of its scale-out network
    (``scale_out_GBps``), with a second latency for that phase. Without those
    figures in the spec the group is taken to sit in one scale-up domain.
    """
    if tp <= 1:
        return 0.0
    data = tokens * model.hidden_size * 2.0  # [B], BF16 activations
    d, out = hw.scale_up_domain_GPUs, hw.scale_out_GBps
    if d and out and tp > d:
        n = tp / d
        intra = data * 2 * (d - 1) / d / (hw.scale_up_GBps * 1e9 / 2)
        inter = data / d * 2 * (n - 1) / n / (out * 1e9 / 2)
        return 2 * model.layers * (2 * latency_s + intra + inter)
    per_reduce = data * 2 * (tp - 1) / tp / (hw.scale_up_GBps * 1e9 / 2)
    return 2 * model.layers * (latency_s + per_reduce)


TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)


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
    max_batch: int = 0,
    slo: tuple[float, float] | None = None,
) -> dict:
    """Throughput of one replica on ``gpus`` accelerators (tensor parallel).

    The batch is the largest that memory, ``max_batch`` and ``concurrency``
    allow (0: no cap); with ``slo = (tpot_s, ttft_s)`` it is further held to
    the largest whose TPOT and TTFT before queueing meet those targets, as the
    waterfall sizes a replica (:meth:`Shape.slo_batch`). The figures are a
    :class:`Shape` replica's, the same code the waterfall prices. Returns a
    JSON-ready dict with ``output_tokens_per_s``,
    ``output_tokens_per_s_per_gpu``, ``ttft_ms``, ``tpot_ms``, ``batch``,
    ``slo_met`` (None without ``slo``), the ``mfu`` and achieved ``mbu`` the
    replica ran at, its ``efficiency_family`` (empty with fixed shares) and
    ``output_tokens_per_s_band``, the throughput divided and multiplied by the
    family's uncertainty factor (:mod:`levers.efficiency`).

    Raises
    ------
    InputError
        When the model plus one sequence does not fit on ``gpus`` accelerators.
    """
    engine = Engine(batching=batching, mfu=mfu, mbu=mbu, memory_utilization=memory_utilization,
                    max_batch=max_batch, longest_over_mean=longest_over_mean)
    work = Workload(input_tokens, min(cached_tokens, input_tokens), output_tokens)
    sh = Shape(model, hw, gpus, weights, kv_cache, work, engine)
    if not sh.fits:
        need = model.params_total_B * BYTES_PER_PARAM[weights]
        raise InputError(
            "gpus",
            f"{model.id} at {weights} ({need:.0f} GB of weights) plus one "
            f"{input_tokens + output_tokens}-token sequence does not fit in {gpus} x {hw.id} "
            f"({hw.hbm_GB:g} GB each at {memory_utilization:g} utilization); use more GPUs",
        )
    limits = [(sh.b_mem, "memory")]
    if max_batch:
        limits.append((max_batch, "max_batch"))
    if concurrency:
        limits.append((concurrency, "concurrency"))
    batch, limit = min(limits, key=lambda t: t[0])
    met = None
    if slo is not None:
        b = sh.slo_batch(slo[0], slo[1], batch)
        met = b > 0
        if b and b < batch:
            batch, limit = b, ("tpot" if sh.tpot(b + 1) > slo[0] else "ttft")
    r = sh.at(batch, limit)
    return {
        "model": model.id,
        "hardware": hw.id,
        "gpus": gpus,
        "weights": weights,
        "kv_cache": kv_cache,
        "batching": batching,
        "input_tokens": input_tokens,
        "cached_tokens": work.cached_tokens,
        "output_tokens": output_tokens,
        "batch": r.batch,
        "batch_limit": r.batch_limit,
        "slo_met": met,
        "output_tokens_per_s": r.output_tokens_per_s,
        "output_tokens_per_s_per_gpu": r.output_tokens_per_s / gpus,
        "requests_per_s": r.requests_per_s,
        "ttft_ms": r.ttft_s * 1e3,
        "tpot_ms": r.tpot_s * 1e3,
        "decode_step_bound": r.step_bound,
        "compute_format": r.compute_format,
        "mfu": r.mfu,
        "mbu": r.mbu,
        "efficiency_family": r.efficiency_family,
        "output_tokens_per_s_band": [r.output_tokens_per_s / r.band, r.output_tokens_per_s * r.band],
        "weight_GB": r.weight_GB,
        "kv_budget_GB": r.kv_budget_GB,
        "kv_bytes_per_token": r.kv_bytes_per_token,
    }


def ceil_div(x: float) -> int:
    """Smallest whole number at least ``x`` (tolerant of float fuzz)."""
    return math.ceil(x - 1e-9)
