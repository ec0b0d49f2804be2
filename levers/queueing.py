"""Waiting time in a multi-server queue: how many replicas hold a TTFT target.

Requests arrive at random (Poisson) at the busiest hour's rate ``lam``
[requests/s] and are served by ``c`` identical servers, each taking ``S``
seconds per job. With offered load ``a = lam x S`` [Erlangs] and utilization
``rho = a / c < 1``:

* **Erlang C**, the probability that a request has to wait (every server
  busy), for Poisson arrivals and exponential service (M/M/c): computed by the
  Erlang B recursion ``B_k = a B_(k-1) / (k + a B_(k-1))``, ``B_0 = 1``, and
  ``C = c B_c / (c - a (1 - B_c))`` (Kleinrock, *Queueing Systems* vol. 1,
  1975, sec. 3.5). Above :data:`EXACT_UP_TO` servers the Halfin-Whitt
  approximation ``C = 1 / (1 + beta Phi(beta) / phi(beta))`` with
  ``beta = (c - a) / sqrt(a)`` is used (Halfin and Whitt, *Operations
  Research* 29(3), 1981), which is accurate to a few percent there.
* **The wait's distribution** in M/M/c is ``P(W > t) = C exp(-(c - a) t / S)``,
  so its ``q``-quantile is ``S / (c - a) x ln(C / (1 - q))`` when ``C > 1 - q``
  and 0 otherwise; its mean is ``C S / (c - a)``.
* **Other service distributions** (M/D/c for a fixed prefill time, M/G/c for a
  mix of two models) scale the M/M/c wait by ``(Ca^2 + Cs^2) / 2``, the
  squared coefficients of variation of inter-arrival and service times: the
  Allen-Cunneen approximation (Allen, *Probability, Statistics and Queueing
  Theory*, 2nd ed., 1990, sec. 6.4; Whitt, "Approximations for the GI/G/m
  queue", *Production and Operations Management* 2(2), 1993). Poisson arrivals
  have ``Ca^2 = 1``; a fixed service time has ``Cs^2 = 0``, so M/D/c waits
  about half as long as M/M/c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Largest server count for the exact Erlang B recursion; above, Halfin-Whitt.
EXACT_UP_TO = 200


def erlang_c(c: int, a: float) -> float:
    """Probability that an arriving request waits, M/M/c with load ``a`` [Erlangs].

    1 when ``a >= c`` (the queue grows without bound).
    """
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    if c <= EXACT_UP_TO:
        b = 1.0
        for k in range(1, c + 1):
            b = a * b / (k + a * b)
        return c * b / (c - a * (1.0 - b))
    beta = (c - a) / math.sqrt(a)
    if beta > 30:  # phi(beta) underflows; the chance of waiting is below 1e-190
        return 0.0
    phi = math.exp(-beta * beta / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1.0 + math.erf(beta / math.sqrt(2)))
    return 1.0 / (1.0 + beta * cdf / phi)


@dataclass(frozen=True)
class Wait:
    """Queueing delay before service starts.

    Attributes
    ----------
    servers
        ``c`` [servers].
    load
        Offered load ``a = lam x S`` [Erlangs].
    service_s
        Mean service time ``S`` [s].
    p_wait
        Probability of waiting (Erlang C).
    factor
        Allen-Cunneen factor ``(Ca^2 + Cs^2) / 2``.
    mean_s, p50_s, p90_s
        Mean, median and 90th percentile of the wait [s] (inf when ``a >= c``).
    """

    servers: int
    load: float
    service_s: float
    p_wait: float
    factor: float
    mean_s: float
    p50_s: float
    p90_s: float


def quantile(p_wait: float, servers: int, load: float, service_s: float, factor: float,
             q: float) -> float:
    """The ``q``-quantile of the wait [s] (see the module docstring)."""
    if load >= servers:
        return math.inf
    if p_wait <= 1.0 - q:
        return 0.0
    return factor * service_s / (servers - load) * math.log(p_wait / (1.0 - q))


def wait(lam: float, service_s: float, servers: int, cs2: float = 0.0) -> Wait:
    """Wait of Poisson arrivals at ``lam`` [1/s] for ``servers`` servers of ``service_s`` [s].

    ``cs2`` is the service time's squared coefficient of variation (0 for a
    fixed time: M/D/c).
    """
    a = lam * service_s
    factor = (1.0 + cs2) / 2.0
    pw = erlang_c(servers, a)
    if a >= servers:
        inf = math.inf
        return Wait(servers, a, service_s, 1.0, factor, inf, inf, inf)
    mean = factor * pw * service_s / (servers - a)
    return Wait(servers, a, service_s, pw, factor, mean,
                quantile(pw, servers, a, service_s, factor, 0.5),
                quantile(pw, servers, a, service_s, factor, 0.9))
