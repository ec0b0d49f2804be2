"""Modeled against measured throughput, for the shipped measurement set.

The measurements live in ``levers/measurements/*.toml``, one file per source,
each point with its model, accelerator, GPUs, precision, lengths, scenario,
serving stack, metric, value, source URL and date. Every point is in the
``fit`` split (used by ``bench/fit_efficiency.py``) or the ``holdout`` split
(never used by the fit). ``python -m levers validate`` prints, per case, the
modeled value, the measured one and their ratio; the median error, the worst
case and the share within x1.5, per split; and same-round hardware pairs:
the measured ratio of two accelerators' per-GPU throughput in one benchmark
round against the modeled ratio.

Targets, on the held-out split: median error <= x1.15, every case within
x1.5, every same-round pair in the measured order.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import statistics
import textwrap
import tomllib
from dataclasses import dataclass

from . import efficiency, models, perf, specs
from .datafile import check_keys, parse_text
from .errors import SpecError

_PACKAGE = "levers.measurements"

#: Targets of the held-out split.
TARGET_MEDIAN = 1.15
TARGET_WORST = 1.5
#: Two results form an order-checked pair only when their measured per-GPU
#: throughputs differ by at least this factor; closer results are ties.
PAIR_MIN_RATIO = 1.10
#: Memory share the engines give weights plus KV cache (vLLM's and
#: TensorRT-LLM's default 0.9).
MEMORY_UTILIZATION = 0.9
SPLITS = ("fit", "holdout")
#: Files of the measurements folder that hold no measurement points.
_NOT_POINTS = {"efficiency_fit.toml", "sustained_clocks.toml"}

_FILE_KEYS = {"source", "url", "as_of", "serving_stack", "scenario", "metric", "kv_cache", "conditions",
              "split", "points", "misses"}
_MISS_KEYS = ("round", "benchmark", "faster", "slower", "reason")
_POINT_KEYS = {"id", "round", "benchmark", "model", "hardware", "gpus", "weights", "kv_cache", "input_tokens",
               "input_tokens_bounds", "output_tokens", "value", "split", "serving_stack", "url", "note",
               "concurrency", "scenario", "tpot_ms", "ttft_ms", "tensor_parallel"}
#: How each scenario runs: ``offline`` queues every request at once and lets
#: memory set the batch (continuous batching); ``fixed_batch`` prefills a batch
#: of ``concurrency`` equal requests, then decodes them together; ``slo`` runs
#: the largest batch whose TPOT and TTFT (before queueing) meet ``tpot_ms`` and
#: ``ttft_ms``, as the waterfall sizes a replica (MLPerf's Server and
#: Interactive scenarios bound the 99th percentiles; the engine's figures are
#: means, so the modeled batch is somewhat larger than the measured one).
SCENARIOS = ("offline", "fixed_batch", "slo")


@dataclass(frozen=True)
class Measurement:
    """One published measurement.

    Attributes
    ----------
    id
        Unique name (``<file>:<index>`` unless the file gives one).
    source, url, as_of, conditions, note
        Provenance.
    serving_stack, scenario, metric
        How it was measured; the metric is the group's output tokens/s.
    model, hardware, gpus, weights, kv_cache
        What ran, on how many accelerators.
    input_tokens, output_tokens
        Request lengths [tokens]; ``input_tokens`` is 0 when unpublished, and
        then ``input_bounds`` brackets it.
    value
        Measured output tokens/s of the whole group [tokens/s].
    split
        ``"fit"`` or ``"holdout"``.
    round, benchmark
        Benchmark round and name, for same-round pairs (empty otherwise).
    concurrency
        Sequences run together in a ``fixed_batch`` scenario (0 otherwise).
    tpot_ms, ttft_ms
        Latency targets of an ``slo`` scenario [ms] (0 otherwise).
    tensor_parallel
        Accelerators per replica as the result ran it (0 when unpublished).
    """

    id: str
    source: str
    url: str
    as_of: str
    conditions: str
    note: str
    serving_stack: str
    scenario: str
    metric: str
    model: str
    hardware: str
    gpus: int
    weights: str
    kv_cache: str
    input_tokens: int
    input_bounds: tuple[int, int]
    output_tokens: float
    value: float
    split: str
    round: str = ""
    benchmark: str = ""
    concurrency: int = 0
    tpot_ms: float = 0.0
    ttft_ms: float = 0.0
    tensor_parallel: int = 0

    @property
    def per_gpu(self) -> float:
        """Measured output tokens/s per accelerator [tokens/s/GPU]."""
        return self.value / self.gpus


def _need(filename, key, value, kind, *, positive=True):
    bad = not isinstance(value, kind) or isinstance(value, bool)
    if not bad and kind is not str and positive:
        bad = not math.isfinite(value) or value <= 0
    if not bad and kind is str:
        bad = not value.strip()
    if bad:
        what = {str: "non-empty text", int: "a positive whole number"}.get(kind, "a positive number")
        raise SpecError(f"{filename}: {key}", f"must be {what}, got {value!r}")
    return value


def parse(text: str, filename: str) -> list[Measurement]:
    """Parse and validate one measurement file; raise :class:`SpecError` naming the field."""
    data = parse_text(text, filename)
    check_keys(filename, "", data, _FILE_KEYS)
    for key in ("source", "url", "as_of", "scenario", "metric", "conditions"):
        _need(filename, key, data.get(key), str)
    if data["metric"] != "output_tokens_per_s":
        raise SpecError(f"{filename}: metric", "only 'output_tokens_per_s' is supported")
    if data["scenario"] not in SCENARIOS:
        raise SpecError(f"{filename}: scenario", f"must be one of {', '.join(SCENARIOS)}, got {data['scenario']!r}")
    points = data.get("points")
    if not isinstance(points, list) or not points:
        raise SpecError(f"{filename}: points", "must be a non-empty array of tables")
    out = []
    stem = filename.rsplit("/", 1)[-1].removesuffix(".toml")
    for i, p in enumerate(points):
        where = f"points[{i}]"
        if not isinstance(p, dict):
            raise SpecError(f"{filename}: {where}", "must be a table")
        check_keys(filename, where, p, _POINT_KEYS)
        get = {**{k: data[k] for k in ("serving_stack", "kv_cache", "split", "url") if k in data}, **p}
        model = _need(filename, f"{where}.model", get.get("model"), str)
        if model not in models.load_all():
            raise SpecError(f"{filename}: {where}.model", f"unknown model {model!r}")
        hw = _need(filename, f"{where}.hardware", get.get("hardware"), str)
        if hw not in specs.ids():
            raise SpecError(f"{filename}: {where}.hardware", f"unknown accelerator {hw!r}")
        weights = get.get("weights")
        if weights not in perf.BYTES_PER_PARAM:
            raise SpecError(f"{filename}: {where}.weights", f"must be one of {', '.join(perf.BYTES_PER_PARAM)}")
        kv = get.get("kv_cache")
        if kv not in perf.BYTES_PER_KV:
            raise SpecError(f"{filename}: {where}.kv_cache", f"must be one of {', '.join(perf.BYTES_PER_KV)}")
        split = get.get("split")
        if split not in SPLITS:
            raise SpecError(f"{filename}: {where}.split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
        isl = get.get("input_tokens", 0)
        bounds = get.get("input_tokens_bounds")
        if isl:
            _need(filename, f"{where}.input_tokens", isl, int)
            bounds = (isl, isl)
        else:
            ok = (isinstance(bounds, list) and len(bounds) == 2
                  and all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in bounds)
                  and bounds[0] <= bounds[1])
            if not ok:
                raise SpecError(f"{filename}: {where}", "needs input_tokens, or input_tokens_bounds = [low, high]")
            bounds = tuple(bounds)
        scenario = get.get("scenario", data["scenario"])
        if scenario not in SCENARIOS:
            raise SpecError(f"{filename}: {where}.scenario", f"must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
        conc = get.get("concurrency", 0)
        if scenario == "fixed_batch":
            _need(filename, f"{where}.concurrency", conc, int)
        elif conc:
            raise SpecError(f"{filename}: {where}.concurrency", "only a fixed_batch scenario has a concurrency")
        slo = (get.get("tpot_ms", 0), get.get("ttft_ms", 0))
        if scenario == "slo":
            _need(filename, f"{where}.tpot_ms", slo[0], int | float)
            _need(filename, f"{where}.ttft_ms", slo[1], int | float)
        elif any(slo):
            raise SpecError(f"{filename}: {where}.tpot_ms", "only an slo scenario has latency targets")
        gpus = _need(filename, f"{where}.gpus", get.get("gpus"), int)
        tp = get.get("tensor_parallel", 0)
        if tp:
            _need(filename, f"{where}.tensor_parallel", tp, int)
            if gpus % tp:
                raise SpecError(f"{filename}: {where}.tensor_parallel", f"must divide gpus ({gpus}), got {tp}")
        out.append(Measurement(
            id=get.get("id", f"{stem}:{i}"),
            source=data["source"], url=_need(filename, f"{where}.url", get.get("url"), str), as_of=data["as_of"],
            conditions=data["conditions"], note=get.get("note", ""),
            serving_stack=_need(filename, f"{where}.serving_stack", get.get("serving_stack"), str),
            scenario=scenario, metric=data["metric"], model=model, hardware=hw,
            gpus=gpus, weights=weights, kv_cache=kv,
            input_tokens=isl, input_bounds=bounds,
            output_tokens=float(_need(filename, f"{where}.output_tokens", get.get("output_tokens"), int | float)),
            value=float(_need(filename, f"{where}.value", get.get("value"), int | float)),
            split=split, round=get.get("round", ""), benchmark=get.get("benchmark", ""), concurrency=conc,
            tpot_ms=float(slo[0]), ttft_ms=float(slo[1]), tensor_parallel=tp,
        ))
    _misses(data, filename)
    return out


def _misses(data: dict, filename: str) -> dict[tuple[str, str, str, str], str]:
    """A file's known same-round misses: (round, benchmark, faster, slower) -> reason."""
    raw = data.get("misses", [])
    if not isinstance(raw, list):
        raise SpecError(f"{filename}: misses", "must be an array of tables")
    out = {}
    for i, t in enumerate(raw):
        where = f"misses[{i}]"
        if not isinstance(t, dict) or set(t) != set(_MISS_KEYS):
            raise SpecError(f"{filename}: {where}", f"must be a table with exactly {', '.join(_MISS_KEYS)}")
        for k in _MISS_KEYS:
            _need(filename, f"{where}.{k}", t[k], str)
        for k in ("faster", "slower"):
            if t[k] not in specs.ids():
                raise SpecError(f"{filename}: {where}.{k}", f"unknown accelerator {t[k]!r}")
        out[tuple(t[k] for k in _MISS_KEYS[:4])] = " ".join(t["reason"].split())
    return out


@functools.cache
def known_misses() -> dict[tuple[str, str, str, str], str]:
    """Same-round pairs the model is known to order wrongly, each with its documented cause.

    Keyed by ``(round, benchmark, faster, slower)``; read from the ``misses``
    arrays of the measurement files. A listed pair that the model orders
    right is reported as such by :func:`report` (the list must stay true).
    """
    out = {}
    for entry in sorted(importlib.resources.files(_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml") and entry.name not in _NOT_POINTS:
            name = f"levers/measurements/{entry.name}"
            out.update(_misses(tomllib.loads(entry.read_text(encoding="utf-8")), name))
    return out


@functools.cache
def load() -> tuple[Measurement, ...]:
    """Every shipped measurement (read once, on first call)."""
    out = []
    for entry in sorted(importlib.resources.files(_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml") and entry.name not in _NOT_POINTS:
            out.extend(parse(entry.read_text(encoding="utf-8"), f"levers/measurements/{entry.name}"))
    ids = [m.id for m in out]
    if len(set(ids)) != len(ids):
        raise SpecError("levers/measurements", "point ids must be unique")
    return tuple(out)


# --- the model -------------------------------------------------------------
def replica(model, hw, tp: int, weights: str, kv_cache: str, work: perf.Workload, *,
            concurrency: int = 0, batching: str = "continuous", slo: tuple[float, float] | None = None,
            fit: efficiency.FamilyFit | None = None) -> perf.ReplicaPerf | None:
    """One replica with the fitted efficiency of ``hw``'s family (or ``fit``, taken as ``hw`` runs it:
    :func:`levers.efficiency.for_part`), as the engine runs it with ``mfu = mbu = 0``; memory alone
    caps the batch (no ``max_batch``), as in max-throughput runs.
    With ``slo = (tpot_s, ttft_s)`` the batch is the largest meeting both (None when none does)."""
    fit = efficiency.for_part(fit, hw.id) if fit is not None else None
    engine = perf.Engine(batching=batching, mfu=0.0, mbu=0.0, memory_utilization=MEMORY_UTILIZATION,
                         max_batch=0, longest_over_mean=1.0, efficiency=fit)
    if slo is None:
        return perf.replica(model, hw, tp, weights, kv_cache, work, engine, concurrency)
    sh = perf.Shape(model, hw, tp, weights, kv_cache, work, engine)
    batch = sh.slo_batch(slo[0], slo[1]) if sh.fits else 0
    return sh.at(batch, "slo") if batch else None


def modeled(m: Measurement, input_tokens: int | None = None, fit: efficiency.FamilyFit | None = None) -> float:
    """Modeled output tokens/s of ``m``'s whole group [tokens/s] (0 when it does not fit).

    A point with a published input length runs one replica on all its GPUs
    (the published tensor-parallel size). A benchmark result without one
    (MLPerf) splits its GPUs into replicas of ``tensor_parallel`` GPUs when the
    result publishes it (every v5.1 result here ran one GPU per replica), else
    of the best per-GPU size of 1, 2, 4 or 8 that divides the GPU count; the
    per-GPU throughput times the GPU count.
    """
    model = models.get(m.model)
    hw = specs.get(m.hardware)
    isl = input_tokens or m.input_tokens
    work = perf.Workload(isl, 0, m.output_tokens)
    if m.input_tokens:
        sizes = [m.gpus]
    elif m.tensor_parallel:
        sizes = [m.tensor_parallel]
    else:
        sizes = [tp for tp in (1, 2, 4, 8) if tp <= m.gpus and m.gpus % tp == 0]
    best = 0.0
    batching = "static" if m.scenario == "fixed_batch" else "continuous"
    slo = (m.tpot_ms / 1e3, m.ttft_ms / 1e3) if m.scenario == "slo" else None
    for tp in sizes:
        r = replica(model, hw, tp, m.weights, m.kv_cache, work, concurrency=m.concurrency, batching=batching,
                    slo=slo, fit=fit)
        if r is not None:
            best = max(best, r.output_tokens_per_s / tp)
    return best * m.gpus


# --- the report ------------------------------------------------------------
def _factor(ratio: float) -> float:
    """Error of a ratio as a factor >= 1 (x1.25 for 0.8 or 1.25)."""
    return math.exp(abs(math.log(ratio))) if ratio > 0 else math.inf


def summary(ratios: list[float]) -> dict:
    """Median and worst error factor, and the share within x1.5, of some ratios."""
    if not ratios:
        return {"cases": 0, "median_error": None, "worst_error": None, "within_1_5": None, "log_rms": None}
    errs = [_factor(r) for r in ratios]
    logs = [math.log(r) for r in ratios if r > 0]
    return {
        "cases": len(ratios),
        "median_error": statistics.median(errs),
        "worst_error": max(errs),
        "within_1_5": sum(e <= TARGET_WORST for e in errs) / len(errs),
        "log_rms": math.sqrt(statistics.fmean(x * x for x in logs)) if logs else math.inf,
    }


def pairs(points=None) -> list[dict]:
    """Same-round hardware pairs: measured and modeled per-GPU ratios.

    Every two results of one benchmark in one round on different accelerators
    whose measured per-GPU throughputs differ by at least
    :data:`PAIR_MIN_RATIO` form a pair, the faster first. The modeled ratio is
    computed at both ends of the input-length bounds; the pair is in order
    when both exceed 1.
    """
    pts = [m for m in (points or load()) if m.round]
    out = []
    for i, a in enumerate(pts):
        for b in pts[i + 1:]:
            if (a.round, a.benchmark, a.scenario) != (b.round, b.benchmark, b.scenario) or a.hardware == b.hardware:
                continue
            hi, lo = (a, b) if a.per_gpu >= b.per_gpu else (b, a)
            measured = hi.per_gpu / lo.per_gpu
            if measured < PAIR_MIN_RATIO:
                continue
            lo_isl, hi_isl = hi.input_bounds[0], hi.input_bounds[1]
            # A result the model cannot serve within its targets counts as 0 tokens/s.
            mod = [(modeled(hi, isl) / hi.gpus) / max(modeled(lo, isl) / lo.gpus, 1e-9) for isl in (lo_isl, hi_isl)]
            key = (hi.round, hi.benchmark, hi.hardware, lo.hardware)
            out.append({
                "round": hi.round, "benchmark": hi.benchmark, "scenario": hi.scenario,
                "faster": hi.hardware, "slower": lo.hardware,
                "measured_ratio": measured, "modeled_ratio_low_isl": mod[0], "modeled_ratio_high_isl": mod[1],
                "in_order": min(mod) > 1.0, "known_miss": known_misses().get(key, ""),
            })
    return out


@functools.cache
def report() -> dict:
    """Every case, the per-split summaries and the pairs (computed once)."""
    cases = []
    for m in load():
        if not m.input_tokens:
            continue
        mod = modeled(m)
        fam = efficiency.for_hardware(m.hardware)
        cases.append({
            "id": m.id, "split": m.split, "model": m.model, "hardware": m.hardware, "family": fam.family,
            "stack": m.serving_stack, "gpus": m.gpus, "weights": m.weights, "input_tokens": m.input_tokens,
            "output_tokens": m.output_tokens, "concurrency": m.concurrency, "measured": m.value, "modeled": mod,
            "ratio": mod / m.value, "url": m.url,
        })
    by_split = {s: summary([c["ratio"] for c in cases if c["split"] == s]) for s in SPLITS}
    families = []
    for name, f in sorted(efficiency.load().items()):
        hold = summary([c["ratio"] for c in cases if c["family"] == name and c["split"] == "holdout"])
        families.append({
            "family": name, "stack": f.stack, "fitted": f.fitted, "fit_points": f.points, "bw": f.bw,
            "decode_flops": f.decode_flops, "prefill": dict(f.prefill), "allreduce_us": f.allreduce_us,
            "fit_log_rms": f.log_rms, "fit_log_max": f.log_max, "band": f.band(),
            "holdout_cases": hold["cases"], "holdout_median_error": hold["median_error"],
        })
    by_split["all"] = summary([c["ratio"] for c in cases])
    pr = pairs()
    hold = by_split["holdout"]
    targets = {
        "median_error": hold["median_error"] is not None and hold["median_error"] <= TARGET_MEDIAN,
        "every_case_within_1_5": hold["worst_error"] is not None and hold["worst_error"] <= TARGET_WORST,
        "pairs_in_order": all(p["in_order"] for p in pr),
    }
    brackets = []
    for m in load():
        if m.input_tokens:
            continue
        lo, hi = sorted(modeled(m, isl) / m.gpus for isl in m.input_bounds)
        fam = efficiency.for_hardware(m.hardware)
        brackets.append({"id": m.id, "round": m.round, "benchmark": m.benchmark, "hardware": m.hardware,
                         "stack": m.serving_stack, "fitted_stack": fam.stack if fam.fitted else "",
                         "tensor_parallel": m.tensor_parallel, "measured_per_gpu": m.per_gpu,
                         "modeled_per_gpu_low": lo, "modeled_per_gpu_high": hi,
                         "inside": lo <= m.per_gpu <= hi})
    listed = set(known_misses())
    seen = {(p["round"], p["benchmark"], p["faster"], p["slower"]) for p in pr if not p["in_order"]}
    misses = {"explained": sorted(seen & listed), "unexplained": sorted(seen - listed),
              "listed_but_in_order": sorted(listed - seen)}
    return {"cases": cases, "summary": by_split, "families": families, "pairs": pr, "targets": targets,
            "misses": misses, "brackets": brackets,
            "clocks": {hw: c.share for hw, c in sorted(efficiency.clocks().items())}}


def text(rep: dict | None = None) -> str:
    """The report as plain-text tables."""
    rep = rep or report()
    lines = [f"{'split':8} {'model':15} {'hardware':8} {'gpus':>4} {'fmt':4} {'in/out':>11} {'batch':>6} "
             f"{'measured':>9} {'modeled':>9} {'ratio':>6}"]
    order = sorted(rep["cases"], key=lambda c: (c["split"], c["model"], c["hardware"], c["input_tokens"],
                                                c["output_tokens"], c["concurrency"]))
    for c in order:
        io = f"{c['input_tokens']}/{c['output_tokens']:.0f}"
        batch = str(c["concurrency"]) if c["concurrency"] else "max"
        lines.append(f"{c['split']:8} {c['model']:15} {c['hardware']:8} {c['gpus']:>4} {c['weights']:4} {io:>11} "
                     f"{batch:>6} {c['measured']:>9,.0f} {c['modeled']:>9,.0f} {c['ratio']:>6.2f}")
    lines.append("")
    lines.append(f"{'split':8} {'cases':>5} {'median error':>13} {'worst':>7} {'within x1.5':>12}")
    for s, v in rep["summary"].items():
        if v["cases"]:
            lines.append(f"{s:8} {v['cases']:>5} {'x' + format(v['median_error'], '.3f'):>13} "
                         f"{'x' + format(v['worst_error'], '.2f'):>7} {v['within_1_5']:>12.0%}")
    lines.append("")
    lines.append(f"{'family':9} {'stack':12} {'fit pts':>7} {'bw':>5} {'dec':>5} {'prefill':>12} {'AR us':>6} "
                 f"{'fit rms':>8} {'fit max':>8} {'held-out median':>15}")
    for f in rep["families"]:
        pre = ",".join(f"{k}:{v:.2f}" for k, v in sorted(f["prefill"].items()))
        med = f"x{f['holdout_median_error']:.3f}" if f["holdout_median_error"] else "-"
        stack = f["stack"] if f["fitted"] else "unfitted"
        lines.append(f"{f['family']:9} {stack:12} {f['fit_points']:>7} {f['bw']:>5.2f} {f['decode_flops']:>5.2f} "
                     f"{pre:>12} {f['allreduce_us']:>6.1f} {'x' + format(math.exp(f['fit_log_rms']), '.3f'):>8} "
                     f"{'x' + format(math.exp(f['fit_log_max']), '.3f'):>8} {med:>15}")
    lines.append("")
    lines.append(f"{'round':5} {'benchmark':25} {'scenario':8} {'faster':>7} {'slower':>7} {'measured':>9} "
                 f"{'modeled (low..high input)':>26} order")
    for p in rep["pairs"]:
        mod = f"{p['modeled_ratio_low_isl']:.2f}..{p['modeled_ratio_high_isl']:.2f}"
        scen = "offline" if p["scenario"] == "offline" else "slo"
        lines.append(f"{p['round']:5} {p['benchmark']:25} {scen:8} {p['faster']:>7} {p['slower']:>7} "
                     f"{p['measured_ratio']:>9.2f} {mod:>26} {'ok' if p['in_order'] else 'WRONG'}")
    lines.append("")
    lines.append("benchmark results without a published prompt length: measured per GPU against the modeled "
                 "range over the prompt-length bounds (not a target; outside means the model cannot produce "
                 "the measured figure at any prompt length in the bounds)")
    lines.append(f"{'round':5} {'benchmark':25} {'hardware':8} {'tp':>3} {'stack':28} {'measured':>9} "
                 f"{'modeled range':>17} inside")
    for b in rep["brackets"]:
        rng = f"{b['modeled_per_gpu_low']:,.0f}..{b['modeled_per_gpu_high']:,.0f}"
        tp = str(b["tensor_parallel"] or "-")
        stack = b["stack"] if b["stack"] == b["fitted_stack"] else f"{b['stack']} (fit: {b['fitted_stack'] or '-'})"
        lines.append(f"{b['round']:5} {b['benchmark']:25} {b['hardware']:8} {tp:>3} {stack:28} "
                     f"{b['measured_per_gpu']:>9,.0f} {rng:>17} {'yes' if b['inside'] else 'NO'}")
    for p in rep["pairs"]:
        if not p["in_order"] and p["known_miss"]:
            lines.append("")
            lines.append(f"WRONG {p['round']} {p['benchmark']} {p['faster']} > {p['slower']}: known cause:")
            lines += textwrap.wrap(p["known_miss"], 100, break_on_hyphens=False, initial_indent="  ",
                                   subsequent_indent="  ")
    lines.append("")
    lines.append("compute base: datasheet peak x sustained/peak engine clock under dense GEMMs "
                 "(levers/measurements/sustained_clocks.toml): "
                 + ", ".join(f"{hw} {s:.3f}" for hw, s in rep["clocks"].items()) + "; other parts 1")
    t, mi = rep["targets"], rep["misses"]
    lines.append("held-out targets: median <= x1.15 " + ("met" if t["median_error"] else "MISSED")
                 + "; every case within x1.5 " + ("met" if t["every_case_within_1_5"] else "MISSED")
                 + "; same-round pairs in order " + ("met" if t["pairs_in_order"] else
                                                     f"MISSED ({len(mi['explained'])} with a documented cause, "
                                                     f"{len(mi['unexplained'])} without)"))
    if mi["listed_but_in_order"]:
        lines.append("listed as known misses but now in order (remove them from the data file): "
                     + "; ".join(" ".join(k) for k in mi["listed_but_in_order"]))
    return "\n".join(lines)
