"""Sensitivity: which assumption moves the price of an output token most.

Each input in :data:`SWEEPS` is moved, alone, to the low and the high end of
a stated range around the scenario's own value (clipped to the input's
declared bounds), and the waterfall is recomputed. The result is the range of
the final $/1M output tokens each input spans, sorted by its width: a tornado
chart. Ranges are stated either as absolute steps (shares: ``±0.15``) or as
factors (lengths: ``x0.5`` to ``x2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import param

from . import specs
from .errors import InputError
from .scenario import Scenario
from .waterfall import waterfall

METRIC = "usd_per_1m_output"
METRIC_LABEL = "$/1M output tokens after all levers"


@dataclass(frozen=True)
class Sweep:
    """One input's range.

    Attributes
    ----------
    key
        Scenario input.
    label
        What the reader knows it as.
    low, high
        The ends: factors of the current value when ``relative``, else
        absolute steps added to it.
    relative
        Whether ``low`` and ``high`` are factors.
    """

    key: str
    label: str
    low: float
    high: float
    relative: bool

    def describe(self) -> str:
        """The stated range, e.g. ``"x0.5 to x2"`` or ``"-0.15 to +0.15"``."""
        if self.relative:
            return f"×{self.low:g} to ×{self.high:g}"
        return f"{self.low:+g} to {self.high:+g}"


#: The inputs moved in modeled mode, with their ranges.
SWEEPS: tuple[Sweep, ...] = (
    Sweep("cache_hit_rate", "prefix cache hit rate", -0.15, 0.15, False),
    Sweep("route_share", "share routed to the small model", -0.15, 0.15, False),
    Sweep("usd_per_gpu_hour", "GPU price", 0.7, 1.3, True),
    Sweep("mfu", "MFU (prefill efficiency)", 0.75, 1.25, True),
    Sweep("mbu", "MBU (decode efficiency)", 0.75, 1.25, True),
    Sweep("system_prompt_tokens", "system prompt length", 0.5, 2.0, True),
    Sweep("user_tokens", "user turn length", 0.5, 2.0, True),
    Sweep("output_tokens", "reply length", 0.5, 2.0, True),
    Sweep("peak_to_average", "peak-to-average load", 0.75, 1.5, True),
    Sweep("utilization", "utilization at peak", -0.1, 0.1, False),
    Sweep("requests_per_day", "requests per day", 0.5, 2.0, True),
)

#: In illustrative mode the bill is set by hand: move the hand-set figures.
ILLUSTRATIVE_SWEEPS: tuple[Sweep, ...] = (
    Sweep("baseline_cost_per_day", "baseline bill", 0.5, 2.0, True),
    Sweep("mult_prefix_caching", "prefix caching multiplier", 0.75, 1.25, True),
    Sweep("mult_batching", "batching multiplier", 0.75, 1.25, True),
    Sweep("mult_routing", "routing multiplier", 0.75, 1.25, True),
    Sweep("mult_quantization", "quantization multiplier", 0.75, 1.25, True),
    Sweep("mult_hardware", "hardware multiplier", 0.75, 1.25, True),
)


def _current(s: Scenario, key: str) -> float:
    """The value the scenario uses; a 0 price means the accelerator's spec price."""
    if key == "usd_per_gpu_hour" and not s.usd_per_gpu_hour:
        return specs.get(s.hardware).usd_per_hour
    return getattr(s, key)


def _end(s: Scenario, sw: Sweep, step: float) -> float:
    p = Scenario.param[sw.key]
    x = _current(s, sw.key)
    x = x * step if sw.relative else x + step
    lo, hi = p.bounds
    x = min(max(x, lo), hi)
    return round(x) if isinstance(p, param.Integer) else x


def sensitivity(s: Scenario) -> dict:
    """The tornado for scenario ``s``.

    Returns
    -------
    dict
        ``metric`` and ``label`` (what is measured), ``base`` (its value for
        ``s``) and ``rows``, widest swing first, each with ``key``, ``label``,
        ``range`` (the stated range), ``value`` (the current input),
        ``low_value``/``high_value`` (the input at each end, clipped to its
        bounds), ``low``/``high`` (the metric there, or None where the engine
        refuses the value; then ``low_error``/``high_error`` says why) and
        ``min``, ``max`` and ``swing`` (``max - min``) of the metric over both
        ends and the base.
    """
    base = getattr(waterfall(s).steps[-1], METRIC)
    sweeps = ILLUSTRATIVE_SWEEPS if s.mode == "illustrative" else SWEEPS
    run = Scenario.from_mapping({}, base=s)  # a private copy, one input moved at a time
    rows = []
    for sw in sweeps:
        row = {"key": sw.key, "label": sw.label, "range": sw.describe(), "value": _current(s, sw.key)}
        seen = [base]
        for end, step in (("low", sw.low), ("high", sw.high)):
            x = _end(s, sw, step)
            row[f"{end}_value"] = x
            try:
                moved = Scenario.from_mapping({sw.key: x}, base=run)
                row[end] = getattr(waterfall(moved).steps[-1], METRIC)
                seen.append(row[end])
            except InputError as e:
                row[end] = None
                row[f"{end}_error"] = str(e)
        row["min"], row["max"] = min(seen), max(seen)
        row["swing"] = row["max"] - row["min"]
        rows.append(row)
    rows.sort(key=lambda r: -r["swing"])
    return {"metric": METRIC, "label": METRIC_LABEL, "base": base, "rows": rows}
