"""Sizing one model's replicas: the batch and the replica count that hold the
latency targets, with queueing (see :mod:`levers.queueing`)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from .perf import PP_CHOICES, TP_CHOICES, Core, Engine, Layout, Shape, ceil_div
from .quantization import BYTES_PER_PARAM
from .queueing import EXACT_UP_TO, Wait, erlang_c, quantile, wait


@dataclass(frozen=True)
class Targets:
    """What a fleet is sized to hold.

    Attributes
    ----------
    ttft_s, tpot_s
        Upper edges of the SLO bands [s]; TTFT is held at the 90th percentile.
    at_slo
        False prices at maximum throughput and only reports the latency.
    min_replicas
        Fewest replicas a serving model (or a shared pool) runs [replicas].
    utilization
        Most of a replica's modeled capacity used at the busiest hour.
    """

    ttft_s: float
    tpot_s: float
    at_slo: bool
    min_replicas: int
    utilization: float


def queue_terms(perfs, rates, n: int) -> tuple[float, float, float]:
    """Arrival rate [1/s], mean service time [s] and service ``Cs^2`` of the
    prefill queue on ``n`` replicas (see :func:`queue`)."""
    if not any(r / p.batch for p, r in zip(perfs, rates, strict=True)):
        return 0.0, 0.0, 0.0  # no arrivals that a float can count (a share of 1e-300): no queue
    if perfs[0].batch_run_s > 0:  # static batching: jobs are whole batches
        jobs = mean = sq = 0.0
        for p, r in zip(perfs, rates, strict=True):
            j = r / p.batch
            jobs += j
            mean += j * p.batch_run_s
            sq += j * p.batch_run_s * p.batch_run_s
        if jobs <= 0.0:  # arrivals too rare to register (a share of 1e-300)
            return 0.0, perfs[0].batch_run_s, 0.0
        mean /= jobs
        return jobs, mean, max(sq / jobs / (mean * mean) - 1.0, 0.0)
    lam = u = 0.0
    for p, r in zip(perfs, rates, strict=True):
        lam += r
        u += r * p.decode_busy_s
    u /= n
    if u >= 1.0:
        return lam, math.inf, 0.0
    if len(perfs) == 1 or lam <= 0.0:
        return lam, perfs[0].prefill_s / (1.0 - u), 0.0
    mean = sum(r * p.prefill_s for p, r in zip(perfs, rates, strict=True)) / lam / (1.0 - u)
    sq = sum(r * p.prefill_s ** 2 for p, r in zip(perfs, rates, strict=True)) / lam / (1.0 - u) ** 2
    return lam, mean, max(sq / (mean * mean) - 1.0, 0.0) if mean > 0 else 0.0


def queue(perfs, rates, n: int) -> Wait:
    """Wait before a request's prefill starts on ``n`` replicas.

    Derivation
    ----------
    Continuous batching: each replica is a server of prompts (M/D/c, or M/G/c
    when two models share the pool, see :mod:`levers.queueing`). A prompt
    takes ``t_pre`` of compute, but decode holds the compute for a share
    ``u = sum(lam_i x o x (t_cmp + t_comm) / B_i) / n`` of the time, so the
    prefill server runs at ``1 - u`` of its speed: service ``t_pre / (1 - u)``.

    Static batching: a replica admits a whole batch, runs it to its longest
    reply and only then takes the next, so the servers are the replicas, the
    jobs batches of ``B`` (arriving at ``lam / B``) and the service time one
    batch's run ``B x t_pre + o x r x t_step``.
    """
    lam, svc, cs2 = queue_terms(perfs, rates, n)
    return wait(lam, svc, n, cs2)


def p90_wait(perfs, rates, n: int) -> float:
    """The 90th percentile of :func:`queue`'s wait [s], without building the record."""
    lam, svc, cs2 = queue_terms(perfs, rates, n)
    a = lam * svc
    if a >= n:
        return math.inf
    return quantile(erlang_c(n, a), n, a, svc, (1.0 + cs2) / 2.0, 0.9)


def smallest(ok, n0: int, limit: int = 1 << 40) -> int:
    """Smallest ``n >= n0`` with ``ok(n)``, for ``ok`` false then true as ``n`` grows."""
    if ok(n0):
        return n0
    lo, hi = n0, 2 * n0
    while not ok(hi):
        if hi > limit:
            return hi
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def throughput_replicas(perfs, rates, tg: Targets) -> int:
    """``max(min_replicas, ceil(sum(lam_i / replica requests/s_i) / utilization))``:
    a lower bound on :func:`replicas_needed`, cheap enough to prune with."""
    work = sum(r / p.requests_per_s for p, r in zip(perfs, rates, strict=True))
    return max(tg.min_replicas, ceil_div(work / tg.utilization))


def replicas_needed(perfs, rates, ttft_extra, tg: Targets) -> tuple[int, int]:
    """Replicas for throughput, and replicas that also hold p90 TTFT.

    Derivation
    ----------
    Throughput: ``n_thr = ceil(sum(lam_i / replica requests/s_i) / utilization)``,
    at least ``min_replicas``, and one more while the queue's load reaches its
    server count (no steady state there). TTFT: the smallest ``n >= n_thr`` with
    ``wait_p90(n) + TTFT once admitted <= target`` for every model
    (``ttft_extra`` adds what time-slicing costs each model's first token).
    """
    n_thr = throughput_replicas(perfs, rates, tg)
    # A queue is only stable below full load: at utilization 1 the last
    # replica may be needed to keep the wait finite.
    p90 = p90_wait(perfs, rates, n_thr)
    while p90 == math.inf:
        n_thr += 1
        p90 = p90_wait(perfs, rates, n_thr)
    if not tg.at_slo:
        return n_thr, n_thr
    floor = max(p.ttft_s + x for p, x in zip(perfs, ttft_extra, strict=True))
    if floor + p90 <= tg.ttft_s:
        return n_thr, n_thr
    if perfs[0].batch_run_s > 0:  # static: the load does not depend on n
        lam, svc, cs2 = queue_terms(perfs, rates, n_thr)
        n = scan_replicas(lam * svc, svc, (1.0 + cs2) / 2.0, n_thr + 1, tg.ttft_s - floor)
        if n:
            return n_thr, n

    def ok(n):
        return floor + p90_wait(perfs, rates, n) <= tg.ttft_s

    return n_thr, smallest(ok, n_thr + 1)


def scan_replicas(a: float, svc: float, factor: float, n0: int, budget_s: float) -> int:
    """Smallest ``n >= n0`` whose p90 wait is within ``budget_s``, for a load
    ``a`` that does not depend on ``n``: one pass of the Erlang B recursion
    gives every ``n`` in turn. 0 when the answer lies beyond the exact range."""
    b = 1.0
    for k in range(1, EXACT_UP_TO + 1):
        b = a * b / (k + a * b)
        if k >= n0 and k > a:
            c = k * b / (k - a * (1.0 - b))
            if quantile(c, k, a, svc, factor, 0.9) <= budget_s:
                return k
    return 0


def limit(sh: Shape, batch: int, tg: Targets) -> str:
    """What set the batch: memory, max_batch, the TPOT target or the TTFT target."""
    if batch >= sh.cap:
        return "memory" if sh.b_mem <= (sh.engine.max_batch or sh.b_mem) else "max_batch"
    return "tpot" if sh.tpot(batch + 1) > tg.tpot_s else "ttft"


def size_shape(sh: Shape, lam: float, tg: Targets) -> tuple[Core, int, int] | None:
    """The cheapest batch and replica count for one shape; None when the SLO
    cannot be held on it.

    At maximum throughput the batch is the largest memory and ``max_batch``
    allow. At the SLO it starts at the largest whose TPOT and unqueued TTFT
    meet the targets; when TTFT then needs more replicas than throughput does
    (a bigger batch has slower steps and, static, a longer batch to wait for),
    the batch is halved down to 1 and the fewest replicas win. Returns the
    replica's sizing figures (:meth:`Shape.core`), replicas for throughput and
    replicas.
    """
    if not tg.at_slo:
        b = sh.cap
    else:
        b = sh.slo_batch(tg.tpot_s, tg.ttft_s)
        if b == 0:
            return None
    best = None
    while b >= 1:
        core = sh.core(b)
        if best is not None and throughput_replicas((core,), (lam,), tg) >= best[2]:
            break  # a smaller batch only needs more replicas for throughput
        n_thr, n = replicas_needed((core,), (lam,), (0.0,), tg)
        if best is None or n < best[2]:
            best = (core, n_thr, n)
        if n <= n_thr or not tg.at_slo:
            break
        b //= 2
    return best


def first_tp(model, hw, weights: str, engine: Engine) -> int:
    """Smallest tensor-parallel size whose memory holds the weights."""
    w_bytes = model.params_total_B * 1e9 * BYTES_PER_PARAM[weights]
    per_gpu = hw.hbm_GB * 1e9 * engine.memory_utilization
    return next((tp for tp in TP_CHOICES if tp * per_gpu > w_bytes), TP_CHOICES[-1])


#: Most GPUs one replica may span [GPUs].
MAX_REPLICA_GPUS = TP_CHOICES[-1]


def layouts(model, hw, weights: str, engine: Engine) -> tuple[Layout, ...]:
    """The replica layouts the shape search tries, fewest GPUs first.

    Derivation
    ----------
    * Tensor parallel alone: every size in ``TP_CHOICES`` (1 to 64), across
      scale-up domains too (:func:`levers.perf.t_comm`).
    * Pipeline: one scale-up domain of ``d`` GPUs per stage, tensor
      parallel, and 2, 4 or 8 stages (``PP_CHOICES``): tensor parallel within
      a node, pipeline across nodes, vLLM's advice for a model larger than a
      node (https://docs.vllm.ai/en/v0.8.3/serving/distributed_serving.html).
      Only for accelerators whose spec gives ``scale_up_domain_GPUs`` and
      ``scale_out_GBps``.
    * Experts (mixture-of-experts models): attention tensor-parallel over
      ``tp`` GPUs inside one domain, experts over ``ep = tp x dp`` GPUs (``dp``
      a power of 2, ``ep`` dividing the expert count), one stage.

    Only layouts whose GPUs hold the weights, ``(dp x shared + experts) x
    bytes/param < GPUs x HBM x memory_utilization``, are returned; at equal GPU
    count tensor parallel comes first, then expert parallel, then pipeline,
    so a tie keeps the simpler layout. At most :data:`MAX_REPLICA_GPUS` GPUs.
    """
    return _layouts(model, hw, weights, engine.memory_utilization)


@functools.lru_cache(maxsize=256)
def _layouts(model, hw, weights: str, memory_utilization: float) -> tuple[Layout, ...]:
    d, out = hw.scale_up_domain_GPUs, hw.scale_out_GBps
    cands = [Layout(tp) for tp in TP_CHOICES]
    if d and out:
        cands += [Layout(d, pp) for pp in PP_CHOICES[1:] if d * pp <= MAX_REPLICA_GPUS]
    expert = model.expert_params_B * 1e9 * BYTES_PER_PARAM[weights]
    if expert > 0:
        for tp in TP_CHOICES:
            if d and tp > d:
                break
            ep = tp
            while ep <= min(MAX_REPLICA_GPUS, model.experts):
                if ep > 1 and model.experts % ep == 0:
                    cands.append(Layout(tp, 1, ep))
                ep *= 2
    total = model.params_total_B * 1e9 * BYTES_PER_PARAM[weights]
    per_gpu = hw.hbm_GB * 1e9 * memory_utilization
    fit = [lay for lay in cands if total + (lay.dp - 1) * (total - expert) < lay.gpus * per_gpu]
    return tuple(sorted(fit, key=lambda lay: (lay.gpus, lay.pp > 1, lay.ep > 1, lay.tp)))
