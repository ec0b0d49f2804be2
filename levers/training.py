"""The hardware table: time, cost and energy to train a model on each accelerator.

Training a dense model of ``N`` parameters on ``D`` tokens costs about
``6 N D`` FLOPs (2 per parameter per token forward, 4 backward). At ``mfu``
of the dense BF16 peak on ``G`` accelerators:

* time ``= 6 N D / (G x peak x mfu)`` [s],
* GPU-hours ``= G x time / 3600``,
* cost ``= GPU-hours x $/GPU-hour``,
* energy ``= GPU-hours x TDP`` (accelerators only, at TDP) [Wh].
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import param

from . import specs
from .errors import InputError
from .params import Count, Quantity, parse_value


class TrainingInputs(param.Parameterized):
    """Inputs of the hardware table, declared once (CLI flags and widgets use them)."""

    params = Quantity(70e9, bounds=(1e6, 1e14), step=1e9, unit="parameters",
                      doc="model parameters N")
    tokens = Quantity(2e12, bounds=(1e6, 1e15), step=1e11, unit="tokens",
                      doc="training tokens D")
    mfu = Quantity(0.36, bounds=(0.01, 1), step=0.01, unit="share",
                   doc="model FLOPs utilization against the dense BF16 peak")
    gpus = Count(1024, bounds=(1, 1_000_000), unit="accelerators", doc="accelerators training together")
    usd_per_gpu_hour = Quantity(2.5, bounds=(0.01, 1000), step=0.05, unit="$/GPU-hour",
                                doc="an accelerator's price override (default: its spec price)")


@dataclass(frozen=True)
class TrainingRow:
    """One accelerator's row.

    Attributes
    ----------
    hardware, name
        Accelerator id and name.
    days
        Wall-clock training time [days].
    gpu_hours
        [GPU-hours].
    cost_usd
        [$].
    energy_mwh
        At TDP [MWh]; ``energy_is_estimate`` when the TDP is an estimate.
    usd_per_gpu_hour
        Price used [$/GPU-hour]; ``price_is_estimate`` when it is the spec's
        placeholder (no public price) rather than a quote or an override.
    bf16_dense_TFLOPS, tdp_W
        The spec figures used.
    fastest, cheapest
        Flags for the shortest time and the lowest cost in the table.
    """

    hardware: str
    name: str
    days: float
    gpu_hours: float
    cost_usd: float
    energy_mwh: float
    energy_is_estimate: bool
    usd_per_gpu_hour: float
    price_is_estimate: bool
    bf16_dense_TFLOPS: float
    tdp_W: float
    fastest: bool = False
    cheapest: bool = False


def training_table(
    params: float = 70e9,
    tokens: float = 2e12,
    mfu: float = 0.36,
    gpus: int = 1024,
    prices: dict[str, float] | None = None,
    hardware: list[str] | None = None,
) -> list[TrainingRow]:
    """Rows for every accelerator (or those in ``hardware``).

    Parameters
    ----------
    params, tokens, mfu, gpus
        Checked against :class:`TrainingInputs` bounds.
    prices
        ``{hardware id: $/GPU-hour}`` overriding the spec prices.

    Raises
    ------
    InputError
        For a value out of bounds, an unknown id or a non-positive price.
    """
    checked = {}
    for key, value in (("params", params), ("tokens", tokens), ("mfu", mfu), ("gpus", gpus)):
        checked[key] = parse_value(TrainingInputs.param[key], key, value)
    catalog = specs.load_all()
    prices = dict(prices or {})
    for hw_id, usd in prices.items():
        specs.get(hw_id)
        prices[hw_id] = parse_value(TrainingInputs.param.usd_per_gpu_hour, f"price {hw_id}", usd)
    ids = hardware or list(catalog)
    flops = 6.0 * checked["params"] * checked["tokens"]
    rows = []
    for hw_id in ids:
        hw = specs.get(hw_id)
        seconds = flops / (checked["gpus"] * hw.bf16_dense_TFLOPS * 1e12 * checked["mfu"])
        gpu_hours = checked["gpus"] * seconds / 3600
        usd = float(prices.get(hw_id, hw.usd_per_hour))
        rows.append(TrainingRow(
            hardware=hw.id, name=hw.name, days=seconds / 86_400, gpu_hours=gpu_hours,
            cost_usd=gpu_hours * usd, energy_mwh=gpu_hours * hw.tdp_W / 1e6,
            energy_is_estimate=hw.tdp_is_estimate, usd_per_gpu_hour=usd,
            price_is_estimate=hw.price_is_estimate and hw_id not in prices,
            bf16_dense_TFLOPS=hw.bf16_dense_TFLOPS, tdp_W=hw.tdp_W,
        ))
    if not rows:
        raise InputError("hardware", "no accelerator selected")
    fastest = min(r.days for r in rows)
    cheapest = min(r.cost_usd for r in rows)
    return [replace(r, fastest=r.days == fastest, cheapest=r.cost_usd == cheapest) for r in rows]
