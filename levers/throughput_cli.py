"""Inputs of the throughput estimate, declared once for the CLI and the API."""

from __future__ import annotations

import param

from . import models, specs
from .errors import InputError
from .params import Choice, Count, Flag, Quantity, Ref, parse_value
from .perf import throughput
from .scenario import KV_FORMATS, WEIGHT_FORMATS, Scenario, require_share_or_auto, require_weight_format


def _like(key: str, doc: str | None = None):
    """A fresh declaration with the scenario's type, default, bounds, unit and doc for ``key``."""
    p = Scenario.param[key]
    return type(p)(p.default, bounds=p.bounds, step=p.step, unit=p.unit, doc=doc or p.doc)


class ThroughputInputs(param.Parameterized):
    """One replica's throughput question."""

    model = Ref("llama-3.1-70b", catalog=models.ids, doc="model id (or custom with --params-B)")
    params_B = Quantity(None, allow_None=True, bounds=(0.1, 2000), unit="B params",
                        doc="size of a custom model")
    hardware = Ref("h100", catalog=specs.ids, doc="accelerator id")
    gpus = Count(1, bounds=(1, 64), unit="GPUs",
                 doc="accelerators in the replica: tensor parallel, unless --pp or --expert-parallel split them")
    pp = Count(1, bounds=(1, 64), unit="stages", doc="pipeline stages, each of --gpus / --pp GPUs")
    expert_parallel = Flag(False, doc="mixture of experts: spread the experts over each stage's GPUs "
                                      "(all-to-all dispatch and combine) instead of splitting each expert")
    attention_dp = Count(1, bounds=(1, 64), unit="groups",
                         doc="with --expert-parallel: data-parallel attention groups per stage, each "
                             "tensor parallel over the rest")
    best_layout = Flag(False, doc="model every tensor/pipeline/expert layout of --gpus GPUs and report "
                                  "the fastest (meeting the SLO with --slo)")
    weights = Choice("bf16", objects=list(WEIGHT_FORMATS), doc="weight precision")
    kv_cache = Choice("bf16", objects=list(KV_FORMATS), doc="KV-cache precision")
    input = Count(1000, bounds=(1, 1_000_000), unit="tokens", doc="prompt length")
    output = Count(1000, bounds=(1, 1_000_000), unit="tokens", doc="reply length")
    concurrency = Count(0, bounds=(0, 100_000), unit="sequences",
                        doc="sequences in flight; 0 = as many as memory and --max-batch allow")
    cached = Count(0, bounds=(0, 1_000_000), unit="tokens",
                   doc="of the prompt, tokens served from the prefix cache (at most --input)")
    batching = Choice("continuous", objects=["static", "continuous"], doc="batching mode")
    static_longest_over_mean = _like("static_longest_over_mean")
    mfu = _like("mfu")
    mbu = _like("mbu")
    memory_utilization = _like("memory_utilization")
    max_batch = _like("max_batch", "most sequences decoding at once; the waterfall's default")
    slo = Flag(False, doc="shrink the batch until TPOT and TTFT (before queueing) meet "
                          "--tpot-slo-ms and --ttft-slo-ms, as the waterfall sizes a replica")
    tpot_slo_ms = _like("tpot_slo_high_ms", "TPOT target with --slo")
    ttft_slo_ms = _like("ttft_slo_high_ms", "TTFT target with --slo (before queueing)")


def run(values: dict) -> dict:
    """Validate ``values`` (None means the default) and run the estimate."""
    v = {}
    for key in ThroughputInputs.param:
        if key == "name":
            continue
        p = ThroughputInputs.param[key]
        raw = values.get(key)
        v[key] = p.default if raw is None else parse_value(p, key.replace("_", "-"), raw)
    if v["params_B"] is not None and v["model"] != "custom":
        raise InputError("params-B", f"applies only to --model custom; {v['model']} has its own size "
                                     f"({models.get(v['model']).params_total_B:g}B parameters)")
    model = models.get(v["model"], v["params_B"], field="model")
    require_weight_format(v["weights"], v["hardware"])
    require_share_or_auto(v["mfu"], "mfu")
    require_share_or_auto(v["mbu"], "mbu")
    if v["cached"] > v["input"]:
        raise InputError("cached", f"got {v['cached']:,}; allowed: at most --input ({v['input']:,})")
    return throughput(
        model, specs.get(v["hardware"]), v["gpus"], v["weights"], v["kv_cache"],
        v["input"], v["output"], concurrency=v["concurrency"], batching=v["batching"],
        mfu=v["mfu"], mbu=v["mbu"], memory_utilization=v["memory_utilization"],
        cached_tokens=v["cached"], longest_over_mean=v["static_longest_over_mean"],
        max_batch=v["max_batch"],
        slo=(v["tpot_slo_ms"] / 1e3, v["ttft_slo_ms"] / 1e3) if v["slo"] else None,
        pp=v["pp"], attention_dp=v["attention_dp"], expert_parallel=v["expert_parallel"],
        best_layout=v["best_layout"],
    )
