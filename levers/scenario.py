"""The scenario: every input of the calculator, declared once.

Each input has a name, a unit, bounds, a default and a one-line doc, here and
nowhere else. The Python API (``levers.load_preset(name, **overrides)``), the
CLI (``--set key=value``), the share-URL query and the app's widgets all use
these names and go through :func:`levers.params.parse_value`.
"""

from __future__ import annotations

import difflib
import functools
from types import SimpleNamespace

import param

from . import models, specs, tasks
from .errors import InputError
from .params import Choice, Choices, Count, Flag, Ordering, Quantity, Ref, parse_value
from .registry import REGISTRY

#: The levers, in the order they are pulled (from :mod:`levers.registry`).
LEVERS = tuple(m.ID for m in REGISTRY)

LEVER_TITLES = {m.ID: m.TITLE for m in REGISTRY}

WEIGHT_FORMATS = ("bf16", "fp8", "int4", "fp4")
#: Lowest price override [$/GPU-hour]; 0 stands for the accelerator's own price.
MIN_USD_PER_GPU_HOUR = 0.01
KV_FORMATS = ("bf16", "fp8")


def _hardware_ids():
    return specs.ids()


def _model_ids():
    return models.ids()


class Scenario(param.Parameterized):
    """A serving scenario: workload, models, the five levers and the costs.

    Instances validate on assignment (bounds and options). Use
    :meth:`from_mapping` to build one from text with clear messages.
    """

    # ---- mode -----------------------------------------------------------
    mode = Choice(
        "modeled", objects=["modeled", "illustrative"],
        doc="modeled: multipliers derived from the workload; illustrative: each set by hand",
    )
    off = Choices(
        [], objects=list(LEVERS),
        doc="levers switched off (multiplier 1), e.g. routing,hardware",
    )
    order = Ordering(
        list(LEVERS), objects=list(LEVERS),
        doc="the order the levers are pulled in, e.g. hardware,prefix_caching (the rest follow)",
    )

    # ---- workload -------------------------------------------------------
    requests_per_day = Quantity(
        1_000_000, bounds=(1, 1e10), step=1000, unit="requests/day",
        doc="requests served per day",
    )
    system_prompt_tokens = Count(
        3000, bounds=(0, 200_000), unit="tokens",
        doc="shared system prompt at the start of every request",
    )
    user_tokens = Count(
        500, bounds=(0, 200_000), unit="tokens",
        doc="per-request part of the prompt (user turn, retrieved text)",
    )
    output_tokens = Count(
        150, bounds=(1, 100_000), unit="tokens", doc="average reply length",
    )
    peak_to_average = Quantity(
        2.0, bounds=(1, 20), step=0.1, unit="x",
        doc="busiest hour's request rate over the daily average; the fleet is sized for the peak",
    )
    utilization = Quantity(
        0.8, bounds=(0.05, 1), step=0.05, unit="share",
        doc="share of modeled peak capacity used at the busiest hour (headroom for bursts)",
    )

    # ---- task shape (off: one request is one task) ----------------------
    task_shape = Choice(
        "request", objects=["request", "reasoning", "agentic"],
        doc="request: one call per task; reasoning: hidden thinking before the reply; "
            "agentic: several calls per task, each reusing the growing history",
    )
    thinking_multiple = Quantity(
        0, bounds=(0, 1000), step=0.5, unit="x",
        doc="reasoning: thinking tokens per visible output token",
    )
    agent_turns = Count(
        1, bounds=(1, 10_000), unit="calls/task",
        doc="agentic: model calls per task; requests_per_day then counts tasks",
    )
    observation_tokens = Count(
        0, bounds=(0, 200_000), unit="tokens",
        doc="agentic: tokens each tool result appends to the context",
    )

    # ---- models ---------------------------------------------------------
    big_model = Ref("llama-3.1-70b", catalog=_model_ids, doc="the large model (the fallback when routing)")
    big_params_B = Quantity(
        70, bounds=(0.1, 2000), step=1, unit="B params",
        doc="size of the large model when big_model is custom",
    )
    small_model = Ref("qwen2.5-7b", catalog=_model_ids, doc="the small model that routing sends easy requests to")
    small_params_B = Quantity(
        7, bounds=(0.1, 2000), step=0.5, unit="B params",
        doc="size of the small model when small_model is custom",
    )

    # ---- lever 1: prefix caching ----------------------------------------
    cache_hit_rate = Quantity(
        0.8, bounds=(0, 1), step=0.01, unit="share",
        doc="share of prompt tokens served from the prefix cache",
    )

    kv_offload = Flag(
        False, doc="hold prefixes in host memory and SSD as well as HBM; the hit rate becomes what they can hold",
    )
    distinct_prefixes = Quantity(
        1, bounds=(1, 1e9), step=1, unit="prefixes",
        doc="kv_offload: distinct cached prefixes each replica's traffic carries (sessions, documents)",
    )
    kv_dram_GB = Quantity(
        250, bounds=(0, 100_000), step=10, unit="GB/GPU",
        doc="kv_offload: host memory per GPU for the cache (DGX H100: 2 TB for 8 GPUs)",
    )
    kv_ssd_GB = Quantity(
        3840, bounds=(0, 1_000_000), step=10, unit="GB/GPU",
        doc="kv_offload: local SSD per GPU for the cache (DGX H100: 8 x 3.84 TB for 8 GPUs)",
    )
    kv_dram_GBps = Quantity(
        63.0, bounds=(0.1, 10_000), step=1, unit="GB/s",
        doc="kv_offload: host-to-GPU copy bandwidth per GPU (PCIe 5.0 x16: 63 GB/s)",
    )
    kv_ssd_GBps = Quantity(
        7.88, bounds=(0.01, 1000), step=0.5, unit="GB/s",
        doc="kv_offload: SSD-to-GPU read bandwidth per GPU (one PCIe 4.0 x4 drive: 7.88 GB/s)",
    )
    prefix_popularity_skew = Quantity(
        0, bounds=(0, 3), step=0.1, unit="Zipf s",
        doc="kv_offload: how unevenly prefixes are reused (0: all alike; 1: Zipf)",
    )

    # ---- lever 2: batching ----------------------------------------------
    batching = Choice(
        "continuous", objects=["static", "continuous"],
        doc="static: whole batches run to the longest reply; continuous: per-step scheduling with chunked prefill",
    )
    static_longest_over_mean = Quantity(
        2.0, bounds=(1, 10), step=0.1, unit="x",
        doc="in a static batch, the longest reply over the mean reply; every slot waits for it",
    )

    speculative = Choice(
        "off", objects=["off", "mtp", "draft_model"],
        doc="speculative decoding with the batching lever: mtp (one-layer heads, as DeepSeek-V3 and EAGLE) "
            "or draft_model (the small model drafts for the big one)",
    )
    spec_acceptance = Quantity(
        0.85, bounds=(0, 1), step=0.01, unit="share",
        doc="speculative: chance each drafted token is accepted (DeepSeek-V3 MTP: 0.85-0.90)",
    )
    spec_draft_tokens = Count(
        1, bounds=(1, 16), unit="tokens",
        doc="speculative: tokens drafted per step (DeepSeek-V3 MTP: 1)",
    )
    disaggregated = Flag(
        False, doc="with the batching lever: prefill and decode on separate pools, KV sent between them",
    )
    disagg_network_GBps = Quantity(
        190 / 8, bounds=(0.1, 1000), step=0.5, unit="GB/s",
        doc="disaggregated: achieved KV transfer bandwidth per GPU (Mooncake: 190 GB/s per 8-GPU node)",
    )

    # ---- lever 3: routing -----------------------------------------------
    route_share = Quantity(
        0.7, bounds=(0, 1), step=0.01, unit="share",
        doc="share of requests answered by the small model",
    )
    route_policy = Choice(
        "cascade", objects=["cascade", "split"],
        doc="cascade: every request tries the small model first; split: a router sends each to one model",
    )

    # ---- lever 4: quantization ------------------------------------------
    weights = Choice("fp8", objects=list(WEIGHT_FORMATS), doc="weight precision (fp4 needs FP4 hardware)")
    kv_cache = Choice("fp8", objects=list(KV_FORMATS), doc="KV-cache precision")

    # ---- lever 5: hardware ----------------------------------------------
    baseline_hardware = Ref("h100", catalog=_hardware_ids, doc="accelerator of the baseline fleet")
    hardware = Ref("b200", catalog=_hardware_ids, doc="accelerator after the hardware lever")
    consolidate = Flag(
        True, doc="host the small and big models on one shared pool of GPUs instead of two fleets",
    )
    baseline_usd_per_gpu_hour = Quantity(
        0, bounds=(0, 1000), step=0.05, unit="$/GPU-hour",
        doc="price of the baseline accelerator; 0 means its spec's on-demand price",
    )
    usd_per_gpu_hour = Quantity(
        0, bounds=(0, 1000), step=0.05, unit="$/GPU-hour",
        doc="price of the lever-5 accelerator; 0 means its spec's on-demand price",
    )

    # ---- serving engine -------------------------------------------------
    mfu = Quantity(
        0, bounds=(0, 1), step=0.01, unit="share",
        doc="model FLOPs utilization reached by compute-bound work (prefill); "
            "0 means the accelerator family's fitted share (levers/efficiency.py), else 0.01-1",
    )
    mbu = Quantity(
        0, bounds=(0, 1), step=0.01, unit="share",
        doc="memory bandwidth utilization reached by decode steps; 0 means the accelerator family's "
            "fitted curve of batch and context (levers/efficiency.py), else 0.01-1",
    )
    memory_utilization = Quantity(
        0.9, bounds=(0.1, 1), step=0.01, unit="share",
        doc="share of accelerator memory the engine may use for weights and KV cache",
    )
    max_batch = Count(
        256, bounds=(1, 8192), unit="sequences",
        doc="most sequences a replica decodes at once (vLLM's max_num_seqs)",
    )

    # ---- sizing ---------------------------------------------------------
    sizing = Choice(
        "slo", objects=["slo", "max_throughput"],
        doc="slo: batches and replicas hold the TPOT and p90 TTFT targets; "
            "max_throughput: the largest batch memory allows, latency only reported",
    )
    min_replicas = Count(
        2, bounds=(1, 1000), unit="replicas",
        doc="fewest replicas each serving model (or a shared pool) runs, for redundancy",
    )

    # ---- SLO bands ------------------------------------------------------
    ttft_slo_low_ms = Quantity(200, bounds=(1, 60_000), step=10, unit="ms", doc="TTFT band, lower edge")
    ttft_slo_high_ms = Quantity(800, bounds=(1, 60_000), step=10, unit="ms",
                                doc="TTFT band, upper edge: the 90th-percentile target fleets are sized for")
    tpot_slo_low_ms = Quantity(30, bounds=(1, 10_000), step=1, unit="ms", doc="TPOT band, lower edge")
    tpot_slo_high_ms = Quantity(80, bounds=(1, 10_000), step=1, unit="ms",
                                doc="TPOT band, upper edge: the target batches are sized for")

    # ---- illustrative mode ----------------------------------------------
    baseline_cost_per_day = Quantity(
        8400, bounds=(1, 1e9), step=100, unit="$/day",
        doc="illustrative mode: the baseline bill",
    )
    for _i, _m in enumerate(REGISTRY, 1):
        locals()[f"mult_{_m.ID}"] = Quantity(
            _m.ILLUSTRATIVE, bounds=(0.25, 20), step=0.1, unit="x",
            doc=f"illustrative multiplier of lever {_i}")
    del _i, _m

    # ------------------------------------------------------------------
    @classmethod
    def keys(cls) -> list[str]:
        """The input names, in declaration order."""
        return [k for k in cls.param if k != "name"]

    @classmethod
    def from_mapping(cls, values: dict, *, base: Scenario | None = None) -> Scenario:
        """Build a scenario from ``{key: value}``, text or typed.

        Raises
        ------
        InputError
            For an unknown key (listing the known ones) or a value outside
            what the key allows (naming the key and the allowed range).
        """
        parsed = parse_mapping(values)
        out = cls(**(base.values() if base is not None else {}))
        out.param.update(**parsed)
        check_consistency(out)
        return out

    def values(self) -> dict:
        """All inputs as a plain ``{key: value}`` dict."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.param.values().items()
                if k != "name"}

    def snapshot(self) -> SimpleNamespace:
        """The inputs as plain attributes, for fast repeated reads."""
        keys = _keys(type(self))
        try:  # param >= 2 keeps set values here; reading it skips the descriptors
            set_values = self._param__private.values
        except AttributeError:  # pragma: no cover - other param layouts
            return SimpleNamespace(**{k: getattr(self, k) for k in keys})
        defaults = _defaults(type(self))
        return SimpleNamespace(**{k: set_values.get(k, defaults[k]) for k in keys})

    def changed(self, base: Scenario | None = None) -> dict:
        """Inputs that differ from ``base`` (the defaults when None)."""
        ref = (base or Scenario()).values()
        return {k: v for k, v in self.values().items() if ref[k] != v}


@functools.cache
def _keys(cls) -> tuple[str, ...]:
    """The input names of ``cls``, in declaration order (cached)."""
    return tuple(cls.keys())


@functools.cache
def _defaults(cls) -> dict:
    """Each input's declared default (cached; defaults are never reassigned)."""
    return {k: cls.param[k].default for k in _keys(cls)}


def parse_mapping(values: dict) -> dict:
    """Validate ``{key: text}`` pairs against the declarations.

    Raises
    ------
    InputError
        Naming the first bad key.
    """
    known = Scenario.keys()
    out = {}
    for key, raw in values.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=3)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise InputError(str(key)[:60], f"unknown key; {hint}`python -m levers keys` lists all "
                                            f"{len(known)}")
        out[key] = parse_value(Scenario.param[key], key, raw)
    return out


def require_weight_format(weights: str, hw_id: str, where: str = "the hardware") -> None:
    """Raise an :class:`InputError` when ``weights=fp4`` meets hardware without FP4."""
    if weights == "fp4" and not specs.get(hw_id).supports("fp4"):
        fp4 = [a.id for a in specs.load_all().values() if a.supports("fp4")]
        raise InputError(
            "weights",
            f"fp4 needs FP4 support on {where}; {hw_id} has none "
            f"(FP4 hardware: {', '.join(fp4)}); allowed here: bf16, fp8, int4",
        )


#: Smallest efficiency share a user may set; 0 selects the fitted value.
MIN_SHARE = 0.01


def require_share_or_auto(value: float, name: str) -> None:
    """Raise an :class:`InputError` for an efficiency share that is neither 0 (fitted) nor 0.01-1."""
    if 0 < value < MIN_SHARE:
        raise InputError(name, f"got {value:g}; allowed: 0 (the accelerator family's fitted value) "
                               f"or a share from {MIN_SHARE:g} to 1")


def check_consistency(s: Scenario) -> None:
    """Checks that involve more than one input.

    Raises
    ------
    InputError
        When ``weights=fp4`` is asked of an accelerator with no FP4 support,
        ``mfu`` or ``mbu`` is between 0 and 0.01, disaggregated serving is
        asked of static batching, an SLO band's lower edge lies above its
        upper edge, a price override is below $0.01/GPU-hour (but not 0, the
        spec's price), the small model that routing uses is larger than the
        big one, or a request (prompt plus reply; an agent's last turn; a
        reasoning reply with its thinking) is longer than a model's context
        window.
    """
    if "quantization" not in s.off:
        require_weight_format(s.weights, s.hardware, "the lever-5 hardware")
    require_share_or_auto(s.mfu, "mfu")
    require_share_or_auto(s.mbu, "mbu")
    if s.disaggregated and s.batching == "static" and "batching" not in s.off:
        raise InputError("disaggregated", "needs batching=continuous: static batches prefill and decode "
                                          "together by construction")
    for lo, hi in (("ttft_slo_low_ms", "ttft_slo_high_ms"), ("tpot_slo_low_ms", "tpot_slo_high_ms")):
        if getattr(s, lo) > getattr(s, hi):
            raise InputError(lo, f"must not exceed {hi} ({getattr(s, hi):g} ms)")
    for key in ("baseline_usd_per_gpu_hour", "usd_per_gpu_hour"):
        if 0 < getattr(s, key) < MIN_USD_PER_GPU_HOUR:  # a price of ~0 would divide the bill by ~0
            hi = Scenario.param[key].bounds[1]
            raise InputError(key, f"got {getattr(s, key):g}; allowed: 0 (the accelerator's own price) or a "
                                  f"price from {MIN_USD_PER_GPU_HOUR:g} to {hi:,g} [$/GPU-hour]")
    big = models.get(s.big_model, s.big_params_B, field="big_model")
    used = [("big_model", big)]
    if "routing" not in s.off and s.route_share > 0:
        small = models.get(s.small_model, s.small_params_B, field="small_model")
        if small.params_total_B > big.params_total_B:
            raise InputError("small_model", (
                f"{small.id} ({small.params_total_B:g}B parameters) is larger than the big model "
                f"{big.id} ({big.params_total_B:g}B); routing sends easy requests to the smaller "
                "model: pick a smaller small_model or a larger big_model"))
        used.append(("small_model", small))
    tokens = s.system_prompt_tokens + s.user_tokens + s.output_tokens
    field, what = "context", "system_prompt_tokens + user_tokens + output_tokens"
    if s.task_shape != "request":
        longest = tasks.per_request(
            s.task_shape, system_prompt_tokens=s.system_prompt_tokens, user_tokens=s.user_tokens,
            output_tokens=s.output_tokens, cache_hit_rate=0.0, thinking_multiple=s.thinking_multiple,
            turns=s.agent_turns, observation_tokens=s.observation_tokens).longest_request_tokens
        if longest > tokens:
            tokens = round(longest)
            field, what = (("agent_turns", "an agent's last turn: its whole history plus its reply")
                           if s.task_shape == "agentic" else
                           ("thinking_multiple", "prompt plus thinking plus reply"))
    for role, m in used:
        if m.context_window_tokens is not None and tokens > m.context_window_tokens:
            raise InputError(field, (
                f"a request of {tokens:,} tokens ({what}) "
                f"is longer than the context window of {role} {m.id}, {m.context_window_tokens:,} tokens"))
