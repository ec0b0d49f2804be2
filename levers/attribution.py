"""Order-independent attribution: each lever's Shapley share of the total saving.

A sequential waterfall credits each interaction between levers to whichever
lever comes later (routing saves more once caching has shrunk prefill, and
the waterfall books that on routing). The Shapley value removes the order:
with ``v(S) = ln(baseline / cost with only the levers in S on)``, lever ``i``
gets its marginal effect ``v(S + i) - v(S)`` averaged over every order in
which the levers could be pulled::

    phi_i = sum over S not holding i of |S|! (n - |S| - 1)! / n! x (v(S + i) - v(S))

The shares add up exactly to ``v(all) = ln(baseline / final)`` (efficiency of
the Shapley value), and ``interaction_i = phi_i - ln(multiplier_i)`` is how far
lever ``i``'s order-free share lies from its bar in the sequential waterfall
(the interactions sum to zero).

Levers the scenario switches off (``off``) stay off in every subset and get
a share of zero. Everything here goes through :func:`levers.waterfall`.
"""

from __future__ import annotations

import math
from itertools import combinations

from .scenario import LEVERS, Scenario
from .waterfall import waterfall


def lever_order(s: Scenario) -> list[str]:
    """The order the scenario pulls its levers in (the declared order by default)."""
    order = list(getattr(s, "order", None) or ())
    return order + [lv for lv in LEVERS if lv not in order]


def subset_costs(s: Scenario) -> tuple[list[str], dict[frozenset, float], int]:
    """Final cost [$/day] with each subset of the scenario's active levers on.

    One waterfall with the levers in ``S`` on gives, step by step, the cost of
    every prefix of ``S`` in pull order. Every subset ``T`` is such a prefix of
    ``T`` plus all levers after ``T``'s last one, so ``2^(n-1)`` waterfalls
    (the on-sets that hold the last lever) cover all ``2^n`` subsets.

    Returns
    -------
    tuple
        The active levers in pull order, ``{frozenset of levers: cost}``, and
        the number of waterfalls run.
    """
    order = [lv for lv in lever_order(s) if lv not in s.off]
    n = len(order)
    run = Scenario.from_mapping({}, base=s)  # a private copy whose `off` is switched per run
    keep_off = list(s.off)
    costs: dict[frozenset, float] = {}
    outcomes: dict = {}  # configurations sized once across the runs (only `off` differs)
    runs = 0
    if n == 0:
        costs[frozenset()] = waterfall(run).final_cost_per_day
        return order, costs, 1
    for mask in range(1 << (n - 1)):
        on = [order[i] for i in range(n - 1) if mask >> i & 1] + [order[-1]]
        run.off = keep_off + [lv for lv in order if lv not in on]
        w = waterfall(run, outcomes=outcomes)
        runs += 1
        done: list[str] = []
        costs[frozenset()] = w.steps[0].cost_per_day
        for st in w.steps[1:]:
            if st.on and st.lever in on:
                done.append(st.lever)
                costs[frozenset(done)] = st.cost_per_day
    return order, costs, runs


def attribution(s: Scenario) -> dict:
    """Shapley shares of ``ln(baseline / final)`` and their gap to the sequential view.

    Returns
    -------
    dict
        ``attribution`` ``{lever: phi}`` [natural-log units; ``exp(phi)`` is the
        lever's order-free factor], ``sequential`` ``{lever: ln(multiplier)}``
        from the waterfall in the scenario's order, ``interaction``
        ``{lever: phi - sequential}``, ``total`` ``ln(baseline / final)``,
        ``factor`` ``{lever: exp(phi)}``, ``sequential_factor`` (the
        waterfall's multipliers), ``order`` and ``runs`` (waterfalls
        computed).
    """
    order, costs, runs = subset_costs(s)
    n = len(order)
    base = costs[frozenset()]

    def v(subset) -> float:
        return math.log(base / costs[frozenset(subset)])

    fact = math.factorial
    phi = {lv: 0.0 for lv in LEVERS}
    for lv in order:
        others = [o for o in order if o != lv]
        total = 0.0
        for k in range(n):
            weight = fact(k) * fact(n - k - 1) / fact(n)
            for subset in combinations(others, k):
                total += weight * (v((*subset, lv)) - v(subset))
        phi[lv] = total
    w = waterfall(s)
    sequential = {st.lever: math.log(st.multiplier) for st in w.steps[1:]}
    for lv in LEVERS:
        sequential.setdefault(lv, 0.0)
    return {
        "attribution": phi,
        "sequential": sequential,
        "interaction": {lv: phi[lv] - sequential[lv] for lv in LEVERS},
        "factor": {lv: math.exp(phi[lv]) for lv in LEVERS},
        "sequential_factor": {lv: math.exp(sequential[lv]) for lv in LEVERS},
        "total": math.log(w.baseline_cost_per_day / w.final_cost_per_day),
        "order": lever_order(s),
        "runs": runs + 1,
    }
