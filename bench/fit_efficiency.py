"""Fit the per-family efficiency shares to the ``fit`` split of the measurements.

Run from the repository root::

    python bench/fit_efficiency.py           # prints the fit, writes nothing
    python bench/fit_efficiency.py --write   # rewrites levers/measurements/efficiency_fit.toml
    python bench/fit_efficiency.py --amd-mlperf-sensitivity   # why no AMD MLPerf stack is fitted

For each accelerator family with measurements, the shares ``bw``,
``decode_flops`` and ``prefill_<fmt>`` (see :mod:`levers.efficiency`) minimise
the sum of squared ``ln(modeled / measured)`` over that family's ``fit``
points. The minimiser is a coordinate search in log space with shrinking
steps: pure Python, a few seconds. Held-out points are never read here.

The compute shares are fitted as shares of each point's sustained peak
(datasheet peak times the part's sustained/peak clock from
``levers/measurements/sustained_clocks.toml``, 1 for parts not listed):
:func:`levers.validate.replica` applies :func:`levers.efficiency.for_part`
to the trial parameters, as the engine does to the shipped ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from levers import efficiency, perf, specs, validate

OUT = Path(__file__).resolve().parent.parent / "levers" / "measurements" / "efficiency_fit.toml"
START = {"bw": 0.7, "decode_flops": 0.3, "prefill": 0.4, "allreduce_us": 10.0}
# Max-throughput tables run at large batch, where a per-step latency and a lower bandwidth share
# trade off; the all-reduce latency is held to what the collective libraries measure within a node:
# about 6 us for a small all-reduce on 2 x H100 with CUDA graphs
# (https://github.com/NVIDIA/nccl/issues/1259) and about 26 us in NCCL's own tuning model for a few
# KB on H100 (https://github.com/NVIDIA/nccl/issues/1453); 5-50 us brackets both.
LIMITS = {"allreduce_us": (5.0, 50.0)}
STEPS = (1.3, 1.1, 1.03, 1.01)


def loss(points, fit) -> float:
    total = 0.0
    for m in points:
        mod = validate.modeled(m, fit=fit)
        total += math.log(mod / m.value) ** 2 if mod > 0 else 100.0
    return total


def make(family, stack, params, n=0, rms=0.0, worst=0.0):
    prefill = {k.removeprefix("prefill_"): v for k, v in params.items() if k.startswith("prefill_")}
    return efficiency.FamilyFit(family=family, stack=stack, fitted=True, bw=params["bw"],
                                decode_flops=params["decode_flops"], prefill=prefill,
                                allreduce_us=params["allreduce_us"], points=n,
                                log_rms=rms, log_max=worst)


def fit_family(family, points):
    stacks = sorted({m.serving_stack for m in points})
    fmts = sorted({perf.compute_format(m.weights, specs.get(m.hardware)) for m in points})
    params = {"bw": START["bw"], "decode_flops": START["decode_flops"], "allreduce_us": START["allreduce_us"],
              **{f"prefill_{f}": START["prefill"] for f in fmts}}
    stack = "+".join(stacks)
    best = loss(points, make(family, stack, params))
    for step in STEPS:
        improved = True
        while improved:
            improved = False
            for key in params:
                for mult in (step, 1 / step):
                    trial = dict(params)
                    lo, hi = LIMITS.get(key, (0.01, 1.0))
                    trial[key] = min(hi, max(lo, params[key] * mult))
                    val = loss(points, make(family, stack, trial))
                    if val < best - 1e-12:
                        params, best, improved = trial, val, True
    logs = [math.log(validate.modeled(m, fit=make(family, stack, params)) / m.value) for m in points]
    rms = math.sqrt(sum(x * x for x in logs) / len(logs))
    return make(family, stack, params, len(points), rms, max(abs(x) for x in logs))


# --- why no separate stack is fitted for AMD's MLPerf harness -------------------------------
#: AMD's v5.1 Llama 2 70B Offline results (AMD's MLPerf harness, one GPU per replica): the only
#: CDNA3 results on that stack that a stack-specific fit could use.
AMD_MLPERF_FIT = ("v5.1-llama2-70b-mi300x", "v5.1-llama2-70b-mi325x")
#: The same round's Mixtral 8x7B pairs that fit would have to predict (held out).
MIXTRAL_PAIRS = (("v5.1-mixtral-mi325x", "v5.1-mixtral-h200"), ("v5.1-mixtral-h200", "v5.1-mixtral-mi300x"))


def _scaled(base, k):
    """``base`` with every share times ``k`` (capped at 1): one parameter instead of three."""
    return dataclasses.replace(base, stack="vllm-amd-mlperf (trial)", bw=min(1.0, base.bw * k),
                               decode_flops=min(1.0, base.decode_flops * k),
                               prefill={f: min(1.0, v * k) for f, v in base.prefill.items()})


def _pair_ratios(pts, fit):
    """Modeled per-GPU ratio of each Mixtral pair at both ends of its prompt-length bounds (CDNA3 on ``fit``)."""
    def per_gpu(m, isl):
        f = fit if efficiency.FAMILY[m.hardware] == "cdna3" else None
        return validate.modeled(m, isl, fit=f) / m.gpus
    out = []
    for hi, lo in MIXTRAL_PAIRS:
        a, b = pts[hi], pts[lo]
        out.append([per_gpu(a, isl) / per_gpu(b, isl) for isl in a.input_bounds])
    return out


def amd_mlperf_sensitivity(isls=range(100, 401, 10)) -> None:
    """Print what a ``vllm-amd-mlperf`` stack fitted on AMD's Llama 2 70B results would say about Mixtral.

    MLPerf publishes the mean output length of its data sets (the reference's
    tokens per sample, and each result's tokens/s over samples/s) but not the
    mean prompt length, so the fit needs an assumed one. For each assumed mean
    prompt length of Llama 2 70B's data set, the CDNA3 shares are scaled by one
    factor fitted to the two results, and the held-out Mixtral pairs are
    modeled with it. A second table fits the three shares freely from three
    starting points: two results cannot fix three shares.
    """
    pts = {m.id: m for m in validate.load()}
    fit_pts = [pts[i] for i in AMD_MLPERF_FIT]
    base = efficiency.load()["cdna3"]

    def sq(f, isl):
        return sum(math.log(validate.modeled(m, isl, fit=f) / m.value) ** 2 for m in fit_pts)

    print("one scale on the stock-vLLM CDNA3 shares, fitted to AMD's v5.1 Llama 2 70B Offline results;")
    print("Mixtral pairs modeled at both ends of their prompt bounds (measured: mi325x/h200 1.11, h200/mi300x 1.17)")
    print(f"{'Llama 2 mean prompt':>19} {'scale':>6} {'fit residuals':>14} {'mi325x/h200':>12} {'h200/mi300x':>12}")
    for isl in isls:
        k = min((x / 100 for x in range(50, 400)), key=lambda k: sq(_scaled(base, k), isl))
        f = _scaled(base, k)
        res = "/".join(f"{validate.modeled(m, isl, fit=f) / m.value:.2f}" for m in fit_pts)
        (a, b) = _pair_ratios(pts, f)
        ok = lambda r: "ok" if min(r) > 1 else "WRONG"  # noqa: E731
        print(f"{isl:>19} {k:>6.2f} {res:>14} {min(a):>6.2f} {ok(a):>5} {min(b):>6.2f} {ok(b):>5}")
    print()
    print("three free shares, same two results, three starting points (equally small residuals, different answers)")
    for isl in (150, 200, 250, 300):
        for start in ((base.bw, base.decode_flops, base.prefill_share("fp8")), (0.8, 0.3, 0.4), (0.4, 0.8, 0.8)):
            p = dict(zip(("bw", "decode_flops", "prefill_fp8"), start, strict=True))
            p["allreduce_us"] = base.allreduce_us
            free = [k for k in p if k != "allreduce_us"]
            trial = lambda q: make("cdna3", "trial", q)  # noqa: E731
            best = sq(trial(p), isl)
            for step in STEPS:
                improved = True
                while improved:
                    improved = False
                    for key in free:
                        for mult in (step, 1 / step):
                            q = dict(p, **{key: min(1.0, max(0.01, p[key] * mult))})
                            val = sq(trial(q), isl)
                            if val < best - 1e-12:
                                p, best, improved = q, val, True
            (a, b) = _pair_ratios(pts, trial(p))
            print(f"  prompt {isl:>4}: bw {p['bw']:.2f} decode {p['decode_flops']:.2f} prefill {p['prefill_fp8']:.2f}"
                  f"  rms x{math.exp(math.sqrt(best / 2)):.3f}  mi325x/h200 {min(a):.2f}  h200/mi300x {min(b):.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"rewrite {OUT.name}")
    ap.add_argument("--amd-mlperf-sensitivity", action="store_true",
                    help="print how a stack fitted on AMD's MLPerf Llama 2 70B results "
                         "depends on the assumed prompt length")
    args = ap.parse_args(argv)
    if args.amd_mlperf_sensitivity:
        amd_mlperf_sensitivity()
        return 0
    fit_points = [m for m in validate.load() if m.split == "fit" and m.input_tokens]
    families = sorted({efficiency.FAMILY[m.hardware] for m in fit_points})
    fits = []
    for fam in families:
        pts = [m for m in fit_points if efficiency.FAMILY[m.hardware] == fam]
        f = fit_family(fam, pts)
        fits.append(f)
        print(f"{fam:10} n={f.points:3} bw={f.bw:.3f} decode_flops={f.decode_flops:.3f} "
              f"allreduce={f.allreduce_us:.1f}us "
              f"prefill={ {k: round(v, 3) for k, v in f.prefill.items()} } "
              f"residual rms=x{math.exp(f.log_rms):.3f} max=x{math.exp(f.log_max):.3f}")
    if args.write:
        lines = [
            "# Written by `python bench/fit_efficiency.py --write`; do not edit by hand.",
            "# Per accelerator family: shares of peak reached (see levers/efficiency.py) fitted to the",
            "# `fit` split of levers/measurements/*.toml, and the fit's residuals ln(modeled/measured).",
            'source = "levers/measurements/*.toml, fit split (each point cites its own source URL)"',
            f'as_of = "{datetime.date.today().isoformat()}"',
            "",
        ]
        for f in fits:
            lines += [f"[family.{f.family}]", f'stack = "{f.stack}"', f"points = {f.points}",
                      f"bw = {f.bw:.4f}", f"decode_flops = {f.decode_flops:.4f}",
                      f"allreduce_us = {f.allreduce_us:.2f}"]
            lines += [f"prefill_{k} = {v:.4f}" for k, v in sorted(f.prefill.items())]
            lines += [f"log_rms = {f.log_rms:.4f}", f"log_max = {f.log_max:.4f}", ""]
        OUT.write_text("\n".join(lines), encoding="utf-8")
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
