"""Command line: ``python -m levers waterfall | compare | attribution | sensitivity | api |
training | throughput | hardware | validate``.

Bad input prints one line on stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import sys

from . import api, attribution, compare, presets, sensitivity, specs
from .errors import InputError
from .explain import times
from .scenario import Scenario
from .training import TrainingInputs, training_table
from .waterfall import waterfall

FORMATS = ("table", "json", "csv")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    cells = [[title for _, title in cols]] + [[r[key] for key, _ in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().rstrip("\n")


def _check_finite(data, path: str = "result"):
    """Return ``data`` unchanged, or raise if any number in it is not finite.

    A non-finite number is a bug in the model, never an answer: it must not
    be printed (``Infinity`` is not even valid JSON).

    Raises
    ------
    ArithmeticError
        Naming where in ``data`` the first non-finite number is.
    """
    if isinstance(data, float) and not math.isfinite(data):
        raise ArithmeticError(f"{path} is {data}, not a finite number")
    if isinstance(data, dict):
        for key, value in data.items():
            _check_finite(value, f"{path}.{key}")
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            _check_finite(value, f"{path}[{i}]")
    return data


def _json(data) -> str:
    return json.dumps(_check_finite(data), indent=2, allow_nan=False)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise InputError("--set", f"expected key=value, got {text[:60]!r}")
    key, value = text.split("=", 1)
    return key.strip(), value


def cmd_waterfall(args) -> str:
    """The five-lever waterfall for a preset with overrides."""
    overrides = dict(_key_value(t) for t in args.set or [])
    base = Scenario.from_mapping(presets.overrides(presets.check(args.preset)))
    s = Scenario.from_mapping(overrides, base=base)
    w = waterfall(s)
    data = w.to_dict()
    data["preset"] = args.preset
    data["scenario"] = s.values()
    _check_finite(data)
    if args.format == "json":
        data.update(decide_fields(s))
        return _json(data)
    flat = [{k: v for k, v in st.items() if k not in ("details", "classes")} for st in data["steps"]]
    if args.format == "csv":
        return _csv(flat)
    rows = [{
        "step": st["title"], "mult": "1×" if st["lever"] == "baseline" else times(st["multiplier"]),
        "cost": f"${st['cost_per_day']:,.0f}", "gpus": str(st["gpus"]),
        "ttft": f"{st['ttft_ms']:,.0f}", "p90": f"{st['ttft_p90_ms']:,.0f}",
        "tpot": f"{st['tpot_ms']:.1f}", "slo": "met" if st["slo_met"] else "missed",
        "per1m": f"${st['usd_per_1m_output']:.3f}", "task": f"${st['usd_per_task']:.4g}",
    } for st in flat]
    cols = [("step", "step"), ("mult", "multiplier"), ("cost", "$/day"), ("gpus", "GPUs"),
            ("ttft", "TTFT p50 ms"), ("p90", "p90 ms"), ("tpot", "TPOT ms"), ("slo", "SLO"),
            ("per1m", "$/1M out")]
    per_task = s.task_shape != "request"
    if per_task:
        cols.append(("task", "$/task"))
    table = _table(rows, cols)
    notes = "\n".join(f"  {st['title']}: {st['explanation']}" for st in flat)
    last = w.steps[-1]
    tasks = f"; {last.tasks_per_day:,.0f} tasks/day at ${last.usd_per_task:.4g}/task" if per_task else ""
    sizing = ("latency reported for the slowest request class; fleets sized for TPOT ≤ "
              f"{s.tpot_slo_high_ms:g} ms and p90 TTFT ≤ {s.ttft_slo_high_ms:g} ms"
              if s.sizing == "slo" else "fleets priced at maximum throughput; latency only reported")
    return (f"{args.preset} ({s.mode}): {presets.describe(args.preset)}\n\n{table}\n{sizing}\n\n"
            f"total: {w.total_multiplier:.1f}× cheaper, ${w.baseline_cost_per_day:,.0f} → "
            f"${w.final_cost_per_day:,.0f}/day{tasks}\n\n{notes}\n\n{_api_table(api.comparison(s, curve=False))}")


# ---- deciding: API versus self-hosting, two scenarios, attribution, sensitivity ----
def decide_fields(s: Scenario) -> dict:
    """What the waterfall JSON adds for deciding: ``api_comparison``, ``attribution``, ``interaction``."""
    a = attribution.attribution(s)
    return {"api_comparison": api.comparison(s, curve=False), "attribution": a["attribution"],
            "interaction": a["interaction"]}


def _scenario_from(args) -> Scenario:
    overrides = dict(_key_value(t) for t in args.set or [])
    return _load(args.preset, overrides)


def _load(preset: str, overrides: dict) -> Scenario:
    """The preset with ``overrides`` applied (text values, checked like every input)."""
    base = Scenario.from_mapping(presets.overrides(presets.check(preset)))
    return Scenario.from_mapping(overrides, base=base)


def _usd(x) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _api_table(c: dict) -> str:
    if not c["rows"]:
        return f"API versus self-hosting: {c['message']}"
    sh = c["self_hosted"]
    rows = [{"who": f"self-hosted ({sh['gpus']} × {sh['hardware']})", "in": _usd(sh["usd_per_1m_input"]),
             "cached": _usd(sh["usd_per_1m_cached_input"]), "out": _usd(sh["usd_per_1m_output"]),
             "blend": _usd(sh["blended_usd_per_1m"]), "day": f"${sh['usd_per_day']:,.0f}", "be": ""}]
    for r in c["rows"]:
        be = r["break_even_requests_per_day"]
        star = "*" if c["routing_on"] and not r["small_model_priced"] else ""
        rows.append({"who": r["provider_name"] + star,
                     "in": _usd(r["usd_per_1m_input"]), "cached": _usd(r["usd_per_1m_cached_input"]),
                     "out": _usd(r["usd_per_1m_output"]), "blend": _usd(r["blended_usd_per_1m"]),
                     "day": f"${r['usd_per_day']:,.0f}",
                     "be": "none in range" if be is None else f"{be:,.0f}"})
    table = _table(rows, [("who", f"{c['model']} at {c['requests_per_day']:,.0f} requests/day"),
                          ("in", "$/1M in"), ("cached", "$/1M cached"), ("out", "$/1M out"),
                          ("blend", "3:1 blend"), ("day", "$/day"), ("be", "break-even req/day")])
    notes = [f"3:1 blend: {c['blend']}; break-even: where self-hosting becomes no dearer than the API"]
    if c["routing_on"] and any(not r["small_model_priced"] for r in c["rows"]):
        notes.append("* no price on file for the small model at this provider: every request priced on "
                     f"{c['model']}")
    if c.get("note"):
        notes.append(c["note"])
    notes += [f"{r['provider_name']}: {r['source']} (as of {r['as_of']})" for r in c["rows"]]
    return "API versus self-hosting\n" + table + "\n" + "\n".join(notes)


def cmd_api(args) -> str:
    """API bills next to the self-hosted bill, and the break-even volumes."""
    s = _scenario_from(args)
    c = api.comparison(s, curve=args.format == "json")
    if args.format == "json":
        return json.dumps(c, indent=2)
    if args.format == "csv":
        return _csv(c["rows"]) if c["rows"] else c["message"]
    return _api_table(c)


def cmd_compare(args) -> str:
    """Scenario A (the preset and plain keys) against B (``b.`` keys on top of A)."""
    a_vals, b_vals = compare.split(dict(_key_value(t) for t in args.set or []))
    a = _load(args.preset, a_vals)
    b = compare.scenario_b(a, b_vals)
    c = compare.compare(a, b)
    if args.format == "json":
        return json.dumps(c, indent=2)
    rows = []
    for key, (label, unit) in c["labels"].items():
        ra, rb, ratio = c["a"][key], c["b"][key], c["ratio"][key]
        rows.append({"what": f"{label} [{unit}]", "a": f"{ra:,.4g}", "b": f"{rb:,.4g}",
                     "d": f"{c['difference'][key]:+,.4g}", "r": "-" if ratio is None else f"{ratio:.3g}×"})
    if args.format == "csv":
        return _csv(rows)
    changes = ", ".join(f"{k}={v}" for k, v in c["b_changes"].items()) or "nothing"
    return (f"A: {args.preset}" + (f" with {', '.join(f'{k}={v}' for k, v in a_vals.items())}" if a_vals else "")
            + f"\nB: A with {changes}\n\n"
            + _table(rows, [("what", "figure"), ("a", "A"), ("b", "B"), ("d", "B - A"), ("r", "B / A")]))


def cmd_attribution(args) -> str:
    """Each lever's Shapley share of ln(baseline / final) next to its sequential bar."""
    s = _scenario_from(args)
    a = attribution.attribution(s)
    if args.format == "json":
        return json.dumps(a, indent=2)
    rows = [{"lever": lv, "seq": f"{a['sequential'][lv]:.3f}", "phi": f"{a['attribution'][lv]:.3f}",
             "x": times(a["factor"][lv]), "int": f"{a['interaction'][lv]:+.3f}"} for lv in a["order"]]
    if args.format == "csv":
        return _csv(rows)
    return (_table(rows, [("lever", "lever (in pull order)"), ("seq", "sequential ln"), ("phi", "Shapley ln"),
                          ("x", "Shapley factor"), ("int", "interaction")])
            + f"\ntotal ln(baseline / final) = {a['total']:.3f} (= the sum of either column); "
              f"{a['runs']} waterfalls")


def cmd_sensitivity(args) -> str:
    """The tornado: the range of $/1M output tokens each input spans over its stated range."""
    s = _scenario_from(args)
    t = sensitivity.sensitivity(s)
    if args.format == "json":
        return json.dumps(t, indent=2)

    def num(x):
        return "refused" if x is None else f"${x:.4f}"

    rows = [{"label": r["label"], "range": r["range"], "low": num(r["low"]), "high": num(r["high"]),
             "swing": f"${r['swing']:.4f}"} for r in t["rows"]]
    if args.format == "csv":
        return _csv(rows)
    return (f"{t['label']}: ${t['base']:.4f} now\n"
            + _table(rows, [("label", "input"), ("range", "moved"), ("low", "at low end"),
                            ("high", "at high end"), ("swing", "swing")]))


def cmd_training(args) -> str:
    """Training time, cost and energy per accelerator."""
    prices = dict(_key_value(t) for t in args.price or [])
    rows = training_table(args.params, args.tokens, args.mfu, args.gpus,
                          prices={k: v for k, v in prices.items()},
                          hardware=list(dict.fromkeys(args.hardware or [])) or None)  # each id once
    data = {"inputs": {"params": args.params, "tokens": args.tokens, "mfu": args.mfu,
                       "gpus": args.gpus},
            "rows": [r.__dict__ for r in rows]}
    _check_finite(data)
    if args.format == "json":
        return _json(data)
    if args.format == "csv":
        return _csv(data["rows"])
    table = [{
        "hw": r.hardware + (" (fastest)" if r.fastest else "") + (" (cheapest)" if r.cheapest else ""),
        "days": f"{r.days:.1f}", "cost": f"${r.cost_usd / 1e6:.2f}M",
        "mwh": f"{r.energy_mwh:.1f}" + ("*" if r.energy_is_estimate else ""),
        "usd": f"${r.usd_per_gpu_hour:.2f}" + ("†" if r.price_is_estimate else ""),
    } for r in rows]
    out = _table(table, [("hw", "hardware"), ("days", "days"), ("cost", "cost"),
                         ("mwh", "MWh"), ("usd", "$/GPU-hour")])
    if any(r.energy_is_estimate for r in rows):
        out += "\n* power is an estimate: the vendor publishes no TDP (see hardware_specs/)"
    if any(r.price_is_estimate for r in rows):
        out += "\n† price is a placeholder: no public on-demand price (override with --price ID=USD)"
    return out


def cmd_throughput(args) -> str:
    """One replica's throughput, TTFT and TPOT."""
    from .throughput_cli import run

    r = _check_finite(run(vars(args)))
    if args.format == "json":
        return _json(r)
    if args.format == "csv":
        return _csv([r])
    return "\n".join(f"{k:28s} {v:,.1f}" if isinstance(v, float) else f"{k:28s} {v}"
                     for k, v in r.items())


def cmd_hardware(args) -> str:
    """The accelerator specs with their sources."""
    accs = specs.load_all().values()
    rows = []
    for a in accs:
        rows.append({
            "id": a.id, "name": a.name, "bf16_dense_TFLOPS": a.bf16_dense_TFLOPS,
            "fp8_dense_TFLOPS": a.fp8_dense_TFLOPS, "fp4_dense_TFLOPS": a.fp4_dense_TFLOPS,
            "hbm_GB": a.hbm_GB, "hbm_bandwidth_TBps": a.hbm_bandwidth_TBps, "tdp_W": a.tdp_W,
            "tdp_is_estimate": a.tdp_is_estimate, "scale_up_GBps": a.scale_up_GBps,
            "usd_per_hour": a.usd_per_hour, "price_is_estimate": a.price_is_estimate,
            "sources": {k: {"source": v.source, "as_of": v.as_of} for k, v in a.sources.items()},
        })
    if args.format == "json":
        return _json({"hardware": rows})
    if args.format == "csv":
        return _csv([{k: v for k, v in r.items() if k != "sources"} for r in rows])

    def num(x):
        return "-" if x is None else f"{x:g}"

    table = [{"id": r["id"], "bf16": num(r["bf16_dense_TFLOPS"]), "fp8": num(r["fp8_dense_TFLOPS"]),
              "fp4": num(r["fp4_dense_TFLOPS"]), "gb": num(r["hbm_GB"]),
              "tbs": num(r["hbm_bandwidth_TBps"]),
              "w": num(r["tdp_W"]) + ("*" if r["tdp_is_estimate"] else ""),
              "usd": f"${r['usd_per_hour']:.2f}" + ("†" if r["price_is_estimate"] else "")}
             for r in rows]
    return _table(table, [("id", "id"), ("bf16", "BF16 TFLOPS"), ("fp8", "FP8"), ("fp4", "FP4"),
                          ("gb", "HBM GB"), ("tbs", "TB/s"), ("w", "TDP W"), ("usd", "$/hr")]) + (
        "\n* estimate (no published TDP); † placeholder price (none public); "
        "sources: python -m levers hardware --format json")


def _number(p, flag):
    from .params import parse_value

    def conv(text):
        try:
            return parse_value(p, flag, text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
    conv.__name__ = flag
    return conv


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser (flags derive from the input declarations)."""
    from .throughput_cli import ThroughputInputs

    parser = _Parser(prog="python -m levers", description="LLM serving cost levers")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    w = sub.add_parser("waterfall", help="the five-lever waterfall")
    w.add_argument("--preset", default="chatbot",
                   help="one of: " + ", ".join(presets.names()) + " (default chatbot)")
    w.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override an input; see 'python -m levers keys'")
    w.add_argument("--format", choices=FORMATS, default="table")

    for name, text in (("compare", "scenario A against B (b.KEY=VALUE sets B's inputs on top of A)"),
                       ("attribution", "each lever's order-free (Shapley) share of the saving"),
                       ("sensitivity", "which input moves $/1M output tokens most (a tornado)"),
                       ("api", "hosted API bills against self-hosting, with break-even volumes")):
        c = sub.add_parser(name, help=text)
        c.add_argument("--preset", default="chatbot",
                       help="one of: " + ", ".join(presets.names()) + " (default chatbot)")
        c.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override an input" + ("; b.KEY=VALUE for scenario B" if name == "compare" else ""))
        c.add_argument("--format", choices=FORMATS, default="table")

    t = sub.add_parser("training", help="training time, cost and energy per accelerator")
    for key in ("params", "tokens", "mfu", "gpus"):
        p = TrainingInputs.param[key]
        t.add_argument(f"--{key}", type=_number(p, f"--{key}"), default=p.default,
                       help=f"{p.doc} (default {p.default:g})")
    t.add_argument("--price", action="append", metavar="ID=USD",
                   help="override an accelerator's $/GPU-hour, e.g. h100=2.0")
    t.add_argument("--hardware", action="append", metavar="ID", help="limit to these ids")
    t.add_argument("--format", choices=FORMATS, default="table")

    tp = sub.add_parser("throughput", help="one replica's throughput and latency")
    for key in ThroughputInputs.param:
        if key == "name":
            continue
        p = ThroughputInputs.param[key]
        flag = "--" + key.replace("_", "-")
        tp.add_argument(flag, dest=key, default=None,
                        help=f"{p.doc} (default {p.default})")
    tp.add_argument("--format", choices=FORMATS, default="table")

    h = sub.add_parser("hardware", help="list the accelerator specs")
    h.add_argument("--format", choices=FORMATS, default="table")

    v = sub.add_parser("validate", help="modeled against measured throughput for the shipped measurements")
    v.add_argument("--format", choices=("table", "json"), default="table")

    sub.add_parser("keys", help="list the scenario keys with units, ranges and defaults")
    sub.add_parser("presets", help="list the presets")
    return parser


def cmd_keys(args) -> str:
    """Every scenario key, its allowed range and default."""
    from .params import allowed

    return "\n".join(f"{k:28s} {allowed(Scenario.param[k]):60s} default {Scenario.param[k].default!r}"
                     f"\n{'':28s} {Scenario.param[k].doc}" for k in Scenario.keys())  # noqa: SIM118


def cmd_presets(args) -> str:
    """Preset names and descriptions."""
    return "\n".join(f"{n:16s} {presets.describe(n)}" for n in presets.names())


def cmd_validate(args) -> str:
    """Modeled against measured, per case, split and same-round pair (see levers.validate)."""
    from . import validate

    return json.dumps(validate.report(), indent=2) if args.format == "json" else validate.text()


COMMANDS = {"waterfall": cmd_waterfall, "compare": cmd_compare, "attribution": cmd_attribution,
            "sensitivity": cmd_sensitivity, "api": cmd_api, "training": cmd_training, "throughput": cmd_throughput,
            "hardware": cmd_hardware, "keys": cmd_keys, "presets": cmd_presets, "validate": cmd_validate}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        out = COMMANDS[args.command](args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: still one line, never a traceback
        print(f"internal error ({type(exc).__name__}): {exc}; please report it", file=sys.stderr)
        return 1
    with contextlib.suppress(BrokenPipeError):  # e.g. piped into head
        print(out)
    return 0
