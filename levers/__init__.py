"""Cost Levers: the engine behind the LLM-serving cost calculator.

Pure Python (standard library plus ``param``); it never imports Panel or
Bokeh. The public API mirrors the CLI::

    import levers
    s = levers.load_preset("chatbot", cache_hit_rate=0.5)
    w = levers.waterfall(s)
    w.steps[1].multiplier, w.final_cost_per_day
"""

from __future__ import annotations

from . import presets
from .errors import InputError, SpecError
from .scenario import LEVERS, Scenario
from .training import training_table
from .waterfall import Step, Waterfall, waterfall

__all__ = [
    "LEVERS",
    "InputError",
    "Scenario",
    "SpecError",
    "Step",
    "Waterfall",
    "load_preset",
    "preset_names",
    "throughput",
    "training_table",
    "waterfall",
]

__version__ = "0.1.0"


def preset_names() -> list[str]:
    """Names of the built-in scenarios."""
    return presets.names()


def load_preset(name: str = "chatbot", **overrides) -> Scenario:
    """A scenario from preset ``name`` with ``overrides`` applied on top.

    Values may be typed or text (as from a CLI or URL).

    Raises
    ------
    InputError
        For an unknown preset or key, or a value out of bounds.
    """
    base = Scenario.from_mapping(presets.overrides(name))
    return Scenario.from_mapping(overrides, base=base) if overrides else base


def throughput(model: str, hardware: str, gpus: int = 1, *, weights: str = "bf16",
               kv_cache: str = "bf16", input_tokens: int = 1000, output_tokens: int = 1000,
               concurrency: int = 0, batching: str = "continuous", mfu: float | None = None,
               mbu: float | None = None, memory_utilization: float | None = None,
               params_B: float | None = None, cached_tokens: int = 0,
               max_batch: int | None = None, slo: bool = False,
               tpot_slo_ms: float | None = None, ttft_slo_ms: float | None = None, pp: int = 1,
               expert_parallel: bool = False, attention_dp: int = 1, best_layout: bool = False) -> dict:
    """Throughput of one replica of ``model`` on ``gpus`` x ``hardware``.

    See :func:`levers.perf.throughput`; inputs are checked against the same
    declarations as the CLI's ``throughput`` subcommand. ``None`` takes the
    declared default (``max_batch``: the waterfall's 256).
    """
    from .throughput_cli import run

    return run(dict(model=model, hardware=hardware, gpus=gpus, weights=weights,
                    kv_cache=kv_cache, input=input_tokens, output=output_tokens,
                    concurrency=concurrency, batching=batching, mfu=mfu, mbu=mbu,
                    memory_utilization=memory_utilization, params_B=params_B,
                    cached=cached_tokens, max_batch=max_batch, slo=slo,
                    tpot_slo_ms=tpot_slo_ms, ttft_slo_ms=ttft_slo_ms, pp=pp,
                    expert_parallel=expert_parallel, attention_dp=attention_dp, best_layout=best_layout))
