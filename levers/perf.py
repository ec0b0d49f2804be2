"""Roofline model of one model replica: throughput, batch, TTFT and TPOT.

A replica is one copy of a model spread over accelerators: ``tp`` of them
tensor parallel, times ``pp`` pipeline stages, and for a mixture of experts
optionally its experts spread over ``ep`` GPUs per stage (see
:class:`Layout`). Two kinds of work run on it:

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
from typing import NamedTuple

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
        Accelerators per replica (``tensor x pipeline``, or ``expert x
        pipeline`` with expert parallelism) [GPUs].
    tensor, pipeline, expert, attention_dp
        The replica's layout (:class:`Layout`): tensor-parallel size of the
        attention, pipeline stages, GPUs the experts spread over per stage (1:
        experts tensor-parallel like the rest) and attention data-parallel
        groups per stage.
    parallel
        The layout in words, e.g. ``"TP8 x PP2"`` or ``"TP1 x EP16 (attention DP16)"``.
    weight_GB_per_gpu
        Weights one GPU holds, ``(shared / TP + experts / EP) / PP`` [GB].
    t_allreduce_s, t_alltoall_s, t_handoff_s
        The decode step's communication split into tensor-parallel
        all-reduces, expert-parallel all-to-alls and pipeline hand-offs [s];
        they add up to ``t_comm_s``.
    kv_copies
        Copies of each token's KV the tensor-parallel group keeps (see
        :attr:`levers.models.Model.kv_shards`).
    slots
        Sequence slots a decode step costs, ``max(batch, pp)`` [sequences].
    ttft_layout_s
        What the layout adds to one prompt's prefill latency over ``prefill_s``
        (pipeline stages in turn, attention on one data-parallel group) [s];
        included in ``ttft_s`` and ``ttft_extra_s``.
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
    tensor: int = 0
    pipeline: int = 1
    expert: int = 1
    attention_dp: int = 1
    parallel: str = ""
    weight_GB_per_gpu: float = 0.0
    t_allreduce_s: float = 0.0
    t_alltoall_s: float = 0.0
    t_handoff_s: float = 0.0
    kv_copies: float = 1.0
    slots: float = 0.0
    ttft_layout_s: float = 0.0

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


class Layout(NamedTuple):
    """How one replica spreads a model over accelerators (a tuple, so cheap to
    hash as a key).

    Attributes
    ----------
    tp
        Tensor-parallel size of the attention and the shared (non-expert)
        weights [GPUs].
    pp
        Pipeline stages, each holding ``layers / pp`` consecutive layers.
    ep
        GPUs each stage spreads its routed experts over (1: the experts are
        tensor-parallel over ``tp`` like the rest). With ``ep > 1`` the
        stage has ``ep`` GPUs and the attention runs in ``ep / tp``
        data-parallel groups of ``tp`` GPUs, each with its own sequences and
        its own copy of the shared weights (vLLM's data-parallel attention
        with ``--enable-expert-parallel``, EP size = TP x DP,
        https://docs.vllm.ai/en/latest/serving/data_parallel_deployment/ ;
        DeepSeek-V3's decode runs attention TP4 x DP80 with experts over
        EP320, arXiv:2412.19437 section 3.4).
    """

    tp: int = 1
    pp: int = 1
    ep: int = 1

    @property
    def stage_gpus(self) -> int:
        """GPUs per pipeline stage [GPUs]."""
        return self.ep if self.ep > 1 else self.tp

    @property
    def gpus(self) -> int:
        """GPUs per replica, ``stage GPUs x pp`` [GPUs]."""
        return self.stage_gpus * self.pp

    @property
    def dp(self) -> int:
        """Attention data-parallel groups per stage (``ep / tp``, or 1)."""
        return self.ep // self.tp if self.ep > 1 else 1

    @property
    def label(self) -> str:
        """The layout in words, e.g. ``"TP8 x PP2"`` or ``"TP1 x EP16 (attention DP16)"``."""
        parts = [f"TP{self.tp}"]
        if self.ep > 1:
            parts.append(f"EP{self.ep}")
        if self.pp > 1:
            parts.append(f"PP{self.pp}")
        text = " × ".join(parts)
        return text + (f" (attention DP{self.dp})" if self.dp > 1 else "")


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

    Layout (:class:`Layout`): ``tp``, ``bw`` and ``peak`` above are for the
    replica's ``G`` GPUs. Weights ``W = (dp x shared + experts) x
    bytes/param``: each attention data-parallel group holds its own copy of
    the shared part, so a GPU holds ``(shared / TP + experts / EP) / PP``.
    KV per token is multiplied by ``r = TP / min(TP, kv_shards)``, the copies
    a tensor-parallel group keeps (:attr:`levers.models.Model.kv_shards`:
    latent attention's cache is kept whole on every GPU of the group). Each
    data-parallel group holds its own cached prefix.

    Pipeline (``pp > 1``): decode runs ``m = min(B, pp)`` micro-batches of
    ``B / m`` sequences; a micro-batch's token takes ``pp`` stage-times, so
    one step of the whole batch (every sequence one token) lasts ``pp`` ticks
    of a stage. In the replica's aggregate terms that is the step above with
    the batch padded to ``u = max(B, pp)`` slots and the weights read once
    per micro-batch: ``W_read = pp x W_read(u / pp)``. Below ``pp``
    sequences the stages idle (the pipeline bubble): throughput per GPU falls
    as ``B / pp`` while TPOT stays a full cycle.

    Prefill spreads over all ``G`` GPUs when many prompts are in flight, so
    ``t_pre`` (a request's cost) uses the replica's whole compute. One
    prompt's own latency is longer when the layout splits the replica: its
    attention and shared weights run on its group's ``tp`` GPUs, its experts
    on a stage's ``g`` GPUs, and the stages one after another, ``(F_shared /
    tp + F_experts / g) / (peak per GPU x share)``; the difference from
    ``t_pre`` is added to TTFT (``ttft_layout``; the prompt taken as one
    chunk, so a pipeline's stages do not overlap on it). 0 for tensor
    parallelism alone.
    """

    __slots__ = (
        "_base",
        "_slo",
        "active",
        "attn",
        "b_mem",
        "bpp",
        "budget",
        "bw",
        "comm0",
        "comm1",
        "comm_parts",
        "ctx",
        "dp",
        "eff_bw",
        "eff_dec",
        "eff_peak",
        "engine",
        "fit",
        "fmt",
        "hw",
        "kv",
        "kv_cache",
        "kv_eff",
        "layout",
        "mem",
        "model",
        "o",
        "peak",
        "pp",
        "r",
        "resident",
        "room",
        "shared_bytes",
        "spec",
        "split",
        "static",
        "t_pre",
        "tp",
        "ttft_extra",
        "ttft_layout",
        "w_bytes",
        "weights",
        "work",
    )

    def __init__(self, model: Model, hw: Accelerator, tp: int, weights: str, kv_cache: str,
                 work: Workload, engine: Engine, kv_room: float | None = None, *,
                 spec=None, ttft_extra: float = 0.0, split: bool = False, pp: int = 1, ep: int = 1,
                 like: Shape | None = None) -> None:
        p, c, o = work.prompt_tokens, work.cached_tokens, work.output_tokens
        self.layout = lay = Layout(tp, pp, ep)
        gpus, dp = lay.gpus, lay.dp
        self.pp, self.dp = pp, dp
        self.model, self.hw, self.tp, self.work, self.engine = model, hw, gpus, work, engine
        self.weights, self.kv_cache, self.o = weights, kv_cache, o
        # like: a shape of the same model, accelerator, formats, workload and
        # engine in another layout, whose layout-free figures are reused
        if like is None:
            fmt = compute_format(weights, hw)
            static = engine.batching == "static"
            r = engine.longest_over_mean if static else 1.0
            ctx = p + (o * r if static else o) / 2
            new = p - c
            active = model.params_active_B * 1e9
            auto = not (engine.mfu and engine.mbu)
            fit = (engine.efficiency or efficiency.for_hardware(hw.id)) if auto else None
            self._base = (fmt, BYTES_PER_PARAM[weights], model.kv_bytes_per_token(BYTES_PER_KV[kv_cache]),
                          static, r, ctx, active, model.attention_flops_per_token(ctx),
                          2 * active * new + model.attention_flops_per_token(c + new / 2) * new, fit,
                          engine.mfu or fit.prefill_share(fmt), model.expert_params_B)
        else:
            self._base = like._base
        (self.fmt, self.bpp, self.kv, self.static, self.r, self.ctx, self.active, self.attn, pre_flops,
         self.fit, share, expert_B) = self._base
        self.mem = hw.hbm_GB * 1e9 * gpus * engine.memory_utilization
        self.shared_bytes = (model.params_total_B - expert_B) * 1e9 * self.bpp
        self.w_bytes = model.params_total_B * 1e9 * self.bpp + (dp - 1) * self.shared_bytes
        self.kv_eff = self.kv * tp / min(tp, model.kv_shards)
        # Speculative decoding (:mod:`levers.speculative`): the drafter's weights
        # sit beside the target's, and a draft model keeps its own KV per sequence.
        # split: a disaggregated decode replica (:mod:`levers.disaggregation`);
        # prompts are prefilled elsewhere, so no chunks ride in its steps.
        self.spec, self.ttft_extra, self.split = spec, ttft_extra, split
        self.budget = self.mem - self.w_bytes - (spec.draft_weight_bytes if spec else 0.0)
        self.resident = (p - c) + (o * self.r if self.static else o / 2)
        # kv_room: memory this model may use for KV (a shared pool gives each
        # model a part of what both models' weights leave).
        self.room = (self.budget if kv_room is None else kv_room) - dp * c * self.kv_eff
        per_seq = self.resident * self.kv_eff * (1.0 + (spec.kv_share if spec else 0.0))
        # each attention data-parallel group holds its own sequences
        self.b_mem = dp * int(self.room / dp // per_seq) if self.room > 0 and per_seq > 0 else 0
        self.peak = peak = hw.peak_TFLOPS(self.fmt) * 1e12 * gpus
        self.bw = bw = hw.hbm_bandwidth_TBps * 1e12 * gpus
        if engine.mbu:  # a fixed share: the roofline's max(bandwidth, compute)
            self.eff_bw, self.eff_dec = bw * engine.mbu, math.inf
            latency = ALLREDUCE_LATENCY_S
        else:  # the family's decode curve, and its collective latency
            self.eff_bw, self.eff_dec = bw * self.fit.bw, peak * self.fit.decode_flops
            latency = self.fit.allreduce_us * 1e-6
        self.eff_peak = peak * share
        new = p - c
        # communication per pass of n tokens = comm0 + comm1 x n: linear in the
        # tokens (see parallel_comm); kept by kind for the derivation
        self.comm_parts = zero, per = _comm_terms(model, hw, lay, latency)
        self.comm0, self.comm1 = sum(zero), sum(per)
        pre_comm0 = sum(_comm_terms(model, hw, lay, ALLREDUCE_LATENCY_S)[0])
        # Prefill chunks share forward passes with other requests' chunks and
        # decode steps, so a request is not charged a whole pass's fitted
        # collective latency; that latency applies to decode steps.
        self.t_pre = pre_flops / self.eff_peak + pre_comm0 + self.comm1 * new
        # One prompt's own latency (see the class docstring): its attention and
        # shared weights run on its group of tp GPUs, stage after stage, its
        # experts on a stage's GPUs; t_pre spreads all of it over the replica.
        g = lay.stage_gpus
        if g * pp > tp:
            f_exp = 2 * new * model.experts_per_token / model.experts * expert_B * 1e9 if expert_B else 0.0
            alone = ((pre_flops - f_exp) / tp + f_exp / g) * gpus / self.eff_peak
            self.ttft_layout = max(alone - pre_flops / self.eff_peak, 0.0)
        else:
            self.ttft_layout = 0.0
        self.ttft_extra = ttft_extra + self.ttft_layout
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

    def slots(self, batch: float) -> float:
        """Sequence slots a decode step costs: the batch, padded to ``pp`` when
        a pipeline has fewer sequences than stages (its bubble)."""
        pp = self.pp
        return batch if batch >= pp else float(pp)

    def read(self, batch: float) -> float:
        """Weight bytes one decode step of ``batch`` sequences streams, all GPUs together [B].

        ``pp x (W_read(u / pp) + (dp - 1) x shared)`` with ``u`` the slots: each
        micro-batch reads every stage's weights once, and every attention
        data-parallel group reads its own copy of the shared part.
        """
        pp = self.pp
        if pp == 1 and self.dp == 1:
            return self.model.weight_bytes_read(batch, self.bpp)
        per = self.model.weight_bytes_read(self.slots(batch) / pp, self.bpp)
        return pp * (per + (self.dp - 1) * self.shared_bytes)

    def parts(self, batch: int, w_read: float | None = None) -> tuple[float, float, float]:
        """A decode step's bandwidth, compute and communication time at ``batch`` [s].

        With speculative decoding, the same three per output token:
        :meth:`levers.speculative.Setting.per_token`.
        """
        if w_read is None:
            w_read = self.read(batch)
        pp = self.pp
        u = batch if batch >= pp else float(pp)
        flops = u * (2 * self.active + self.attn)
        comm = self.comm0 + self.comm1 * u / pp
        if self.spec is not None:
            return self.spec.per_token(w_read / self.eff_bw, u * self.ctx * self.kv_eff / self.eff_bw,
                                       flops / self.eff_peak, comm, flops / self.eff_dec)
        t_mem = (w_read + u * self.ctx * self.kv_eff) / self.eff_bw + flops / self.eff_dec
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
        """A guess of :meth:`slo_batch`'s answer, which the caller checks.

        For a dense model every step term is linear in ``B``: ``x + y B`` (a
        pipeline too, at ``B >= pp``, its weights read ``pp`` times), and the
        largest ``B`` keeping each term under its target is exact. A mixture
        of experts reads more experts as ``B`` grows; holding the reads at
        those of the previous guess and solving again, from memory's batch
        down, settles in a few rounds since the reads saturate. None with
        speculation or a disaggregated replica."""
        if self.spec is not None or self.split:
            return None
        pp = self.pp
        y_mem = (self.ctx * self.kv_eff / self.eff_bw + (2 * self.active + self.attn) / self.eff_dec
                 + self.comm1 / pp)
        y_cmp = (2 * self.active + self.attn) / self.eff_peak + self.comm1 / pp
        c0, pre = self.comm0, self.t_pre
        ttft_s -= self.ttft_extra

        def solve(reads: float) -> int:
            x_mem = reads / self.eff_bw + c0
            if self.static:
                # TPOT: max(mem, cmp) <= T; TTFT: B t_pre + max(mem, cmp) <= F.
                terms = [(x_mem, y_mem, tpot_s), (c0, y_cmp, tpot_s),
                         (x_mem, y_mem + pre, ttft_s), (c0, y_cmp + pre, ttft_s)]
            else:
                y = y_cmp + pre / self.o
                terms = [(x_mem, y_mem, tpot_s), (c0, y, tpot_s),
                         (x_mem + pre, y_mem, ttft_s), (c0 + pre, y, ttft_s)]
            best = min((t - x) / y for x, y, t in terms if y > 0)
            return int(best) if best < 1 << 62 else 1 << 62  # an unbounded target: any batch

        if self.model.expert_params_B <= 0:
            return solve(self.read(pp))
        g = max(self.cap, 1)
        for _ in range(4):
            nxt = max(1, min(solve(self.read(g)), self.cap))
            if nxt == g:
                break
            g = nxt
        return g

    def at(self, batch: int, limit: str) -> ReplicaPerf:
        """The replica's figures at ``batch`` (``limit`` says what set it)."""
        o, c = self.o, self.work.cached_tokens
        w_read = self.read(batch)
        t_mem, t_cmp, comm = self.parts(batch, w_read)
        u, lay = self.slots(batch), self.layout
        # the communication by kind, scaled as t_comm is (per output token with speculation)
        raw = [a + b * u / lay.pp for a, b in zip(*self.comm_parts, strict=True)]
        kinds = [x * comm / sum(raw) for x in raw] if sum(raw) > 0 else [0.0, 0.0, 0.0]
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
        cached_read = batch * c * self.kv_eff / self.eff_bw
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
            mbu=(w_read + u * self.ctx * self.kv_eff) / (self.bw * t_mem * tau),
            decode_flops=self.fit.decode_flops if self.eff_dec != math.inf else 0.0,
            efficiency_family=self.fit.family if self.fit else "",
            band=self.fit.band() if self.fit else 1.0,
            spec_tokens_per_step=tau,
            ttft_extra_s=self.ttft_extra,
            ttft_layout_s=self.ttft_layout,
            tensor=lay.tp,
            pipeline=lay.pp,
            expert=lay.ep,
            attention_dp=lay.dp,
            parallel=lay.label,
            weight_GB_per_gpu=self.w_bytes / self.tp / 1e9,
            t_allreduce_s=kinds[0],
            t_alltoall_s=kinds[1],
            t_handoff_s=kinds[2],
            kv_copies=self.kv_eff / self.kv if self.kv else 1.0,
            slots=u,
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
    *,
    pp: int = 1,
    ep: int = 1,
) -> ReplicaPerf | None:
    """Model one replica at the largest batch memory, ``max_batch`` and
    ``concurrency`` allow; None when the model or one sequence does not fit.

    ``tp``, ``pp`` and ``ep`` give its :class:`Layout`. See :class:`Shape`
    for the derivation.
    """
    sh = Shape(model, hw, tp, weights, kv_cache, work, engine, pp=pp, ep=ep)
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


#: Bytes of one activation element sent between GPUs (BF16) [B].
BYTES_PER_ACTIVATION = 2.0


def _one_way(GBps: float) -> float:
    """One direction of a link quoted bidirectionally [B/s]."""
    return GBps * 1e9 / 2


def t_alltoall(model: Model, hw: Accelerator, ep: int, tokens: float,
               latency_s: float = ALLREDUCE_LATENCY_S) -> float:
    """Expert-parallel dispatch and combine per pass of ``tokens`` tokens [s].

    Derivation
    ----------
    Each MoE layer sends every token's hidden state to the GPUs holding its
    ``k = experts_per_token`` experts (dispatch) and brings the ``k`` outputs
    back (combine): ``hidden_size x 2 B x k`` per token each way (BF16; the
    DeepSeek-V3 report dispatches in FP8, which would halve the first, and
    its node-limited routing caps the nodes a token reaches, neither
    modeled). With the experts spread evenly over ``ep`` GPUs and the tokens
    too (``tokens / ep`` per GPU), a GPU sends ``tokens / ep x k x hidden x
    2 B`` per all-to-all, of which ``(ep - 1) / ep`` leaves it. When the
    group spans scale-up domains of ``d`` GPUs (``scale_up_domain_GPUs``,
    with ``scale_out_GBps`` given), ``(d - 1) / ep`` of it stays on the
    scale-up link and ``(ep - d) / ep`` crosses the scale-out network; the
    two run at once, so the slower sets the time, and each all-to-all pays a
    second latency for the network phase. Per pass: ``2 x layers x (latency
    + bytes / one-way bandwidth)``, every layer counted as an MoE layer
    (DeepSeek-V3's first 3 of 61 are dense: an overcount of 5%). 0 for ``ep
    <= 1``.

    Expert parallelism as deployed: DeepSeek-V3 prefills on units of 32 GPUs
    (attention TP4 with DP8, experts EP32) and decodes on 320 (attention TP4
    with DP80, experts EP320) (arXiv:2412.19437, section 3.4); vLLM and
    SGLang run the experts over ``TP x DP`` GPUs with data-parallel attention
    (https://docs.vllm.ai/en/latest/serving/expert_parallel_deployment/).
    """
    if ep <= 1:
        return 0.0
    sent = tokens / ep * model.experts_per_token * model.hidden_size * BYTES_PER_ACTIVATION  # [B per GPU]
    d, out = hw.scale_up_domain_GPUs, hw.scale_out_GBps
    if d and out and ep > d:
        move = max(sent * (d - 1) / ep / _one_way(hw.scale_up_GBps), sent * (ep - d) / ep / _one_way(out))
        return 2 * model.layers * (2 * latency_s + move)
    return 2 * model.layers * (latency_s + sent * (ep - 1) / ep / _one_way(hw.scale_up_GBps))


def t_handoff(model: Model, hw: Accelerator, layout: Layout, tokens: float,
              latency_s: float = ALLREDUCE_LATENCY_S) -> float:
    """Pipeline hand-offs per pass of ``tokens`` tokens through all stages [s].

    Derivation
    ----------
    Between consecutive stages each token's hidden state moves once:
    ``tokens x hidden_size x 2 B``, split over the stage's GPUs (each sends
    its share over its own link), ``pp - 1`` times per pass; and each of the
    ``pp`` hops (the last returns the sampled tokens to the first stage) pays
    one message latency: ``pp x latency + (pp - 1) x tokens x hidden x 2 B /
    stage GPUs / one-way bandwidth``. The link is the scale-out network when
    the replica spans more GPUs than one scale-up domain (and the spec gives
    both figures), else the scale-up link. vLLM's advice for models larger
    than a node: tensor parallel inside each node, pipeline stages across
    nodes (https://docs.vllm.ai/en/v0.8.3/serving/distributed_serving.html).
    0 for ``pp = 1``.
    """
    pp = layout.pp
    if pp <= 1:
        return 0.0
    d, out = hw.scale_up_domain_GPUs, hw.scale_out_GBps
    link = out if d and out and layout.gpus > d else hw.scale_up_GBps
    per_gpu = tokens * model.hidden_size * BYTES_PER_ACTIVATION / layout.stage_gpus
    return pp * latency_s + (pp - 1) * per_gpu / _one_way(link)


def parallel_comm(model: Model, hw: Accelerator, layout: Layout, tokens: float,
                  latency_s: float = ALLREDUCE_LATENCY_S) -> tuple[float, float, float]:
    """A replica's communication per pass of ``tokens`` tokens through every layer [s]:
    tensor-parallel all-reduces, expert-parallel all-to-alls, pipeline hand-offs.

    The all-reduces are :func:`t_comm`'s over ``tp`` GPUs for the ``tokens /
    dp`` tokens of one attention group; with expert parallelism only the
    attention's remains (the MoE output is gathered by the combine), half of
    :func:`t_comm`. The all-to-alls are :func:`t_alltoall`'s, the hand-offs
    :func:`t_handoff`'s. A pipeline's stages each hold ``layers / pp``
    layers, so a pass through all of them sums to the whole model's terms.
    """
    ar = t_comm(model, hw, layout.tp, tokens / layout.dp, latency_s)
    if layout.ep > 1:
        ar /= 2
    return (ar, t_alltoall(model, hw, layout.ep, tokens, latency_s),
            t_handoff(model, hw, layout, tokens, latency_s))


_COMM: dict = {}


def _comm_terms(model: Model, hw: Accelerator, layout: Layout, latency_s: float):
    """:func:`parallel_comm` as ``(fixed, per token)`` by kind: linear in the tokens [s, s/token].

    Kept per model and accelerator object (the entry holds both, so their
    ids stay theirs while it lives).
    """
    key = (id(model), id(hw), *layout, latency_s)
    got = _COMM.get(key)
    if got is not None and got[0] is model and got[1] is hw:
        return got[2]
    zero, one = parallel_comm(model, hw, layout, 0.0, latency_s), parallel_comm(model, hw, layout, 1.0, latency_s)
    terms = zero, tuple(b - a for a, b in zip(zero, one, strict=True))
    if len(_COMM) > 4096:
        _COMM.clear()
    _COMM[key] = (model, hw, terms)
    return terms


TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)

#: Pipeline depths the shape search tries.
PP_CHOICES = (1, 2, 4, 8)


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
    pp: int = 1,
    attention_dp: int = 1,
    expert_parallel: bool = False,
    best_layout: bool = False,
) -> dict:
    """Throughput of one replica on ``gpus`` accelerators.

    The layout (:class:`Layout`): ``pp`` pipeline stages of ``gpus / pp``
    GPUs each; within a stage, tensor parallel over ``gpus / pp /
    attention_dp`` GPUs, and with ``expert_parallel`` a mixture of experts
    spreads its experts over all the stage's GPUs with the attention in
    ``attention_dp`` data-parallel groups (vLLM's ``--tensor-parallel-size``,
    ``--pipeline-parallel-size``, ``--data-parallel-size`` and
    ``--enable-expert-parallel``). With ``best_layout`` every layout of
    ``gpus`` GPUs the fleet search would try (:func:`levers.sizing.layouts`)
    is modeled and the one with the most output tokens/s (meeting ``slo``
    when given) is reported.

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
        When the layout does not divide ``gpus``, asks for experts on a dense
        model, or the model plus one sequence does not fit on ``gpus``
        accelerators.
    """
    engine = Engine(batching=batching, mfu=mfu, mbu=mbu, memory_utilization=memory_utilization,
                    max_batch=max_batch, longest_over_mean=longest_over_mean)
    work = Workload(input_tokens, min(cached_tokens, input_tokens), output_tokens)
    if best_layout:
        from .sizing import layouts

        tried = [Shape(model, hw, lay.tp, weights, kv_cache, work, engine, pp=lay.pp, ep=lay.ep)
                 for lay in layouts(model, hw, weights, engine) if lay.gpus == gpus]
        tried = [sh for sh in tried if sh.fits]
        if not tried:
            raise InputError("gpus", f"no layout of {gpus} x {hw.id} holds {model.id} at {weights} plus one "
                                     f"{input_tokens + output_tokens}-token sequence; layouts exist for 1-64 "
                                     "GPUs in powers of 2")
        ranked = [(_fastest(sh, slo, max_batch, concurrency), i) for i, sh in enumerate(tried)]
        sh = tried[max(ranked)[1]]
    else:
        sh = _shape_of(model, hw, gpus, weights, kv_cache, work, engine, pp, attention_dp, expert_parallel)
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
        "parallel": r.parallel,
        "tensor_parallel": r.tensor,
        "pipeline_parallel": r.pipeline,
        "expert_parallel": r.expert,
        "attention_dp": r.attention_dp,
        "weight_GB_per_gpu": r.weight_GB_per_gpu,
        "allreduce_ms_per_step": r.t_allreduce_s * 1e3,
        "alltoall_ms_per_step": r.t_alltoall_s * 1e3,
        "handoff_ms_per_step": r.t_handoff_s * 1e3,
    }


def _shape_of(model: Model, hw: Accelerator, gpus: int, weights: str, kv_cache: str, work: Workload,
              engine: Engine, pp: int, attention_dp: int, expert_parallel: bool) -> Shape:
    """The replica shape of :func:`throughput`'s layout arguments, checked."""
    if gpus % pp:
        raise InputError("pp", f"{pp} pipeline stages do not divide {gpus} GPUs; allowed: a divisor of --gpus")
    stage = gpus // pp
    if stage % attention_dp:
        raise InputError("attention-dp", f"{attention_dp} attention groups do not divide the {stage} GPUs of a "
                                         "stage; allowed: a divisor of --gpus / --pp")
    if attention_dp > 1 and not expert_parallel:
        raise InputError("attention-dp", "applies only with --expert-parallel (the groups share the experts)")
    if expert_parallel and model.expert_params_B <= 0:
        raise InputError("expert-parallel", f"{model.id} is dense: it has no experts to spread")
    if expert_parallel and stage > 1 and model.experts % stage:
        raise InputError("expert-parallel", f"{model.experts} experts do not spread evenly over {stage} GPUs; "
                                            "allowed: --gpus / --pp dividing the expert count")
    tp = stage // attention_dp
    return Shape(model, hw, tp, weights, kv_cache, work, engine, pp=pp,
                 ep=stage if expert_parallel and stage > 1 else 1)


def _fastest(sh: Shape, slo: tuple[float, float] | None, max_batch: int, concurrency: int) -> float:
    """Output tokens/s of ``sh`` at the batch :func:`throughput` would run (0 when ``slo`` is missed)."""
    limits = [b for b in (sh.b_mem, max_batch, concurrency) if b]
    batch = min(limits)
    if slo is not None:
        batch = sh.slo_batch(slo[0], slo[1], batch)
        if batch == 0:
            return 0.0
    return sh.core(batch).requests_per_s * sh.o


def ceil_div(x: float) -> int:
    """Smallest whole number at least ``x`` (tolerant of float fuzz)."""
    return math.ceil(x - 1e-9)
