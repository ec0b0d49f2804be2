"""Achieved shares of peak bandwidth and peak FLOPs, by accelerator family.

A datasheet peak is not what a serving engine reaches, and how far short it
falls depends on the vendor's kernels and the serving stack, not only on the
silicon. This module holds, per accelerator family (with the stack its
measurements were taken on), three fitted shares:

* ``bw``: share of peak HBM bandwidth reached while a decode step streams the
  weights and the KV cache,
* ``decode_flops``: share of peak FLOPs reached by a decode step's matmuls and
  attention (small-M GEMMs and memory-bound attention kernels reach much less
  than a prefill's large GEMMs),
* ``prefill_<fmt>``: share of the format's peak FLOPs reached by prefill.

Decode's achieved bandwidth share is then a curve of batch and context, not a
constant. A decode step moves ``S = W + B x ctx x kv`` bytes and does
``F = B x (2 x active + attn(ctx))`` FLOPs. With the step's bandwidth and
compute phases not overlapping (the weights of one layer must arrive before
its matmul runs, and the next layer's weights are not prefetched past it),

``t_step = S / (BW x bw) + F / (peak x decode_flops)``

so the share of peak bandwidth the step achieves is

``mbu(B, ctx) = S / (BW x t_step) = bw / (1 + (F / S) x (BW x bw) / (peak x decode_flops))``.

At batch 1 ``F / S`` is tiny and ``mbu -> bw``; as the batch grows, ``F / S``
(the step's arithmetic intensity) rises and the achieved share falls. Longer
contexts add KV bytes faster than attention FLOPs, so they keep the share up.

Compute shares are shares of the compute a part *sustains*. A datasheet
peak assumes the peak engine clock; under dense matrix work a part's board
power limit holds the clock lower, and two parts of one architecture can
differ there alone. AMD measured the median engine clock of a dense FP8 GEMM
at 1,230 MHz on the 750 W MI300X and 1,464 MHz on the 1,000 W MI325X, against
the 2,100 MHz both datasheet peaks assume (same 304 CUs, same 2,614.9 FP8
TFLOPS); their max-achievable FP8 FLOPs are 1,273 and 1,519 TFLOPS, 1.19x
apart (``levers/measurements/sustained_clocks.toml`` cites the source). So a
part with a published sustained clock gets ``peak x clock_share`` as the base
its family's ``decode_flops`` and ``prefill_<fmt>`` apply to, with
``clock_share = sustained clock / peak clock``; a part without one gets
``clock_share = 1`` (its family's fitted shares absorb whatever throttling its
measurements had). Bandwidth shares are not scaled: HBM runs on its own clock.

The parameters live in ``levers/measurements/efficiency_fit.toml``, written by
``python bench/fit_efficiency.py`` from the ``fit`` split of the measurements
in the same folder, with each family's residuals. Families without
measurements get the median of the fitted families of the same vendor (all
fitted families for a vendor without any) and are marked unfitted; their
uncertainty band is wider. A stand-in's compute shares are shares of the
datasheet peak: each lender's share times the median clock share of the
lender's parts. Nothing is fitted at run time.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import statistics
from dataclasses import dataclass, field, replace

from .datafile import check_keys, parse_text
from .errors import InputError, SpecError

_PACKAGE = "levers.measurements"
_FIT_FILE = "efficiency_fit.toml"
_CLOCK_FILE = "sustained_clocks.toml"

#: Accelerator id -> family. One family shares an architecture and a software
#: stack, so it shares kernel efficiency.
FAMILY = {
    "h100": "hopper",
    "h200": "hopper",
    "b200": "blackwell",
    "gb200": "blackwell",
    "mi300x": "cdna3",
    "mi325x": "cdna3",
    "mi355x": "cdna4",
    "a100": "ampere",
    "l40s": "ada",
    "tpu-v5e": "tpu",
    "tpu-v5p": "tpu",
    "tpu-v6e": "tpu",
}

#: Vendor of each family: a family without measurements borrows from the
#: fitted families of its vendor, whose kernels and serving stacks it shares.
VENDOR = {
    "hopper": "NVIDIA",
    "blackwell": "NVIDIA",
    "ampere": "NVIDIA",
    "ada": "NVIDIA",
    "cdna3": "AMD",
    "cdna4": "AMD",
    "tpu": "Google",
}

#: Widening of the band for a family with no measurements of its own.
UNFITTED_BAND_WIDENING = 2.0


@dataclass(frozen=True)
class FamilyFit:
    """Fitted efficiency of one accelerator family.

    Attributes
    ----------
    family, stack
        Family name and the serving stack its measurements were taken on.
    fitted
        False when no measurement of this family exists and the values are
        the median of the fitted families of the same vendor (of all fitted
        families when its vendor has none).
    bw
        Share of peak HBM bandwidth a decode step reaches for its bytes.
    decode_flops
        Share of peak FLOPs a decode step reaches for its FLOPs.
    prefill
        Share of peak FLOPs prefill reaches, by compute format.
    allreduce_us
        Fixed cost of one tensor-parallel all-reduce [us]: launch and
        synchronisation of the collective library (NCCL, RCCL) as this
        stack reaches it, fitted on multi-GPU points.
    points
        Measurements the fit used.
    log_rms, log_max
        Root-mean-square and largest ``|ln(modeled / measured)|`` over those
        points (for unfitted families, the widest fitted family's, widened).
    part, clock_share
        Empty and 1 for a family's fit (compute shares of the sustained
        peak); the accelerator id and its sustained/peak clock ratio for the
        fit as one part runs it (:func:`for_part`: compute shares of the
        datasheet peak, already times ``clock_share``).
    """

    family: str
    stack: str
    fitted: bool
    bw: float
    decode_flops: float
    prefill: dict[str, float] = field(default_factory=dict)
    allreduce_us: float = 10.0
    points: int = 0
    log_rms: float = 0.0
    log_max: float = 0.0
    part: str = ""
    clock_share: float = 1.0

    def prefill_share(self, fmt: str) -> float:
        """Prefill's share of the ``fmt`` peak; the family's mean share for a format it was not fitted on."""
        if fmt in self.prefill:
            return self.prefill[fmt]
        return statistics.fmean(self.prefill.values())

    def band(self) -> float:
        """Uncertainty factor of this family's throughput (one sided, >= 1)."""
        return math.exp(self.log_rms)


def _share(filename: str, key: str, value) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1
    if not ok:
        raise SpecError(f"{filename}: {key}", f"must be a share in (0, 1], got {value!r}")
    return float(value)


def parse(text: str, filename: str = f"levers/measurements/{_FIT_FILE}") -> dict[str, FamilyFit]:
    """Parse and validate the fit file; raise :class:`SpecError` naming the field."""
    data = parse_text(text, filename)
    for key in ("source", "as_of"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise SpecError(f"{filename}: {key}", "missing or empty")
    families = data.get("family")
    if not isinstance(families, dict) or not families:
        raise SpecError(f"{filename}: family", "needs at least one [family.<name>] table")
    fits: dict[str, FamilyFit] = {}
    for name, t in families.items():
        where = f"family.{name}"
        if name not in set(FAMILY.values()):
            allowed = ", ".join(sorted(set(FAMILY.values())))
            raise SpecError(f"{filename}: {where}", f"unknown family; allowed: {allowed}")
        prefill = {k.removeprefix("prefill_"): _share(filename, f"{where}.{k}", v)
                   for k, v in t.items() if k.startswith("prefill_")}
        if not prefill:
            raise SpecError(f"{filename}: {where}", "needs at least one prefill_<format> share")
        for k in ("stack",):
            if not isinstance(t.get(k), str):
                raise SpecError(f"{filename}: {where}.{k}", "missing or not text")
        n = t.get("points", 0)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise SpecError(f"{filename}: {where}.points", f"must be a whole number >= 1, got {n!r}")
        ar = t.get("allreduce_us", 10.0)
        if not isinstance(ar, int | float) or isinstance(ar, bool) or not 0 < ar <= 1000:
            raise SpecError(f"{filename}: {where}.allreduce_us", f"must be a number in (0, 1000], got {ar!r}")
        logs = {}
        for k in ("log_rms", "log_max"):
            v = t.get(k)
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v < 5:
                raise SpecError(f"{filename}: {where}.{k}", f"must be a number in [0, 5), got {v!r}")
            logs[k] = float(v)
        fits[name] = FamilyFit(
            family=name, stack=t["stack"], fitted=True,
            bw=_share(filename, f"{where}.bw", t.get("bw")),
            decode_flops=_share(filename, f"{where}.decode_flops", t.get("decode_flops")),
            prefill=prefill, allreduce_us=float(ar), points=n, **logs,
        )
    return fits


@functools.cache
def load() -> dict[str, FamilyFit]:
    """Fitted families, plus median stand-ins for the unfitted ones (read once, on first call)."""
    text = importlib.resources.files(_PACKAGE).joinpath(_FIT_FILE).read_text(encoding="utf-8")
    fits = parse(text)
    widest = max(fits.values(), key=lambda f: f.log_rms)
    for name in sorted(set(FAMILY.values()) - set(fits)):
        kin = [f for f in fits.values() if f.fitted and VENDOR[f.family] == VENDOR[name]]
        fitted = kin or [f for f in fits.values() if f.fitted]
        formats = {fmt for f in fitted for fmt in f.prefill}
        # the lenders' compute shares in datasheet terms: times their parts' median clock share
        clock = {f.family: statistics.median(clock_share(hw) for hw, fam in FAMILY.items() if fam == f.family)
                 for f in fitted}
        fits[name] = FamilyFit(
            family=name, stack="unfitted (median of " + ", ".join(f.family for f in fitted) + ")", fitted=False,
            bw=statistics.median(f.bw for f in fitted),
            decode_flops=statistics.median(f.decode_flops * clock[f.family] for f in fitted),
            prefill={fmt: statistics.median(f.prefill_share(fmt) * clock[f.family] for f in fitted)
                     for fmt in sorted(formats)},
            allreduce_us=statistics.median(f.allreduce_us for f in fitted),
            points=0,
            log_rms=widest.log_rms * UNFITTED_BAND_WIDENING,
            log_max=widest.log_max * UNFITTED_BAND_WIDENING,
        )
    return fits


@dataclass(frozen=True)
class SustainedClock:
    """One part's engine clock under dense matrix work, as its vendor measured it.

    Attributes
    ----------
    hardware
        Accelerator id.
    peak_MHz
        Engine clock the datasheet peak FLOPs assume [MHz].
    sustained_MHz
        Median engine clock while a dense GEMM runs at the part's board power [MHz].
    note
        What else the source gives (per-format clocks, achieved TFLOPS).
    """

    hardware: str
    peak_MHz: float
    sustained_MHz: float
    note: str = ""

    @property
    def share(self) -> float:
        """``sustained_MHz / peak_MHz`` [share]."""
        return self.sustained_MHz / self.peak_MHz


_CLOCK_KEYS = {"source", "url", "as_of", "conditions", "part"}
_PART_KEYS = {"peak_MHz", "sustained_MHz", "note"}


def parse_clocks(text: str, filename: str = f"levers/measurements/{_CLOCK_FILE}") -> dict[str, SustainedClock]:
    """Parse and validate the sustained-clock file; raise :class:`SpecError` naming the field."""
    data = parse_text(text, filename)
    check_keys(filename, "", data, _CLOCK_KEYS)
    for key in ("source", "url", "as_of", "conditions"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise SpecError(f"{filename}: {key}", "missing or empty")
    parts = data.get("part")
    if not isinstance(parts, dict) or not parts:
        raise SpecError(f"{filename}: part", "needs at least one [part.<accelerator id>] table")
    out = {}
    for hw, t in parts.items():
        where = f"part.{hw}"
        if hw not in FAMILY:
            raise SpecError(f"{filename}: {where}", f"unknown accelerator; known: {', '.join(FAMILY)}")
        if not isinstance(t, dict):
            raise SpecError(f"{filename}: {where}", "must be a table")
        check_keys(filename, where, t, _PART_KEYS)
        mhz = {}
        for key in ("peak_MHz", "sustained_MHz"):
            v = t.get(key)
            if not isinstance(v, int | float) or isinstance(v, bool) or not 100 <= v <= 10_000:
                raise SpecError(f"{filename}: {where}.{key}", f"must be a clock in [100, 10000] MHz, got {v!r}")
            mhz[key] = float(v)
        if mhz["sustained_MHz"] > mhz["peak_MHz"]:
            raise SpecError(f"{filename}: {where}.sustained_MHz",
                            f"must not exceed peak_MHz ({mhz['peak_MHz']:g}), got {mhz['sustained_MHz']:g}")
        out[hw] = SustainedClock(hardware=hw, note=str(t.get("note", "")), **mhz)
    return out


@functools.cache
def clocks() -> dict[str, SustainedClock]:
    """Published sustained clocks by accelerator id (read once, on first call)."""
    text = importlib.resources.files(_PACKAGE).joinpath(_CLOCK_FILE).read_text(encoding="utf-8")
    return parse_clocks(text)


def clock_share(hw_id: str) -> float:
    """Sustained over peak engine clock of ``hw_id`` under dense matrix work; 1 when none is published."""
    c = clocks().get(hw_id)
    return c.share if c else 1.0


def for_part(fit: FamilyFit, hw_id: str) -> FamilyFit:
    """``fit`` as accelerator ``hw_id`` runs it: compute shares of the datasheet peak [share].

    A fitted family's compute shares are shares of the sustained peak, so they
    are multiplied by :func:`clock_share`; an unfitted stand-in's are already
    shares of the datasheet peak (see :func:`load`). A fit already made for
    ``hw_id`` is returned as it is.

    Raises
    ------
    InputError
        When ``fit`` was already made for another accelerator.
    """
    if fit.part:
        if fit.part != hw_id:
            raise InputError("hardware", f"this efficiency fit is for {fit.part!r}, not {hw_id!r}")
        return fit
    s = clock_share(hw_id) if fit.fitted else 1.0
    return replace(fit, part=hw_id, clock_share=s, decode_flops=fit.decode_flops * s,
                   prefill={k: v * s for k, v in fit.prefill.items()})


def for_hardware(hw_id: str) -> FamilyFit:
    """The fit of ``hw_id``'s family, as ``hw_id`` runs it (:func:`for_part`).

    Raises
    ------
    InputError
        For an accelerator with no family.
    """
    if hw_id not in FAMILY:
        raise InputError("hardware", f"no efficiency family for {hw_id!r}; known: {', '.join(FAMILY)}")
    return for_part(load()[FAMILY[hw_id]], hw_id)


def prefill_mfu(hw_id: str, fmt: str) -> float:
    """Share of the ``fmt`` peak that prefill reaches on ``hw_id`` [share]."""
    return for_hardware(hw_id).prefill_share(fmt)


def decode_mbu(hw_id: str, peak_flops: float, bandwidth: float, step_bytes: float, step_flops: float,
               fixed_s: float = 0.0, fit: FamilyFit | None = None) -> float:
    """Share of peak bandwidth one decode step achieves [share].

    Parameters
    ----------
    hw_id
        Accelerator id (selects the family's fit).
    peak_flops, bandwidth
        Peak FLOPs of the compute format [FLOP/s] and peak HBM bandwidth
        [B/s] of the replica (``tp`` accelerators together).
    step_bytes
        Bytes the step reads: weights plus ``batch x context x kv`` [B].
    step_flops
        FLOPs the step does: ``batch x (2 x active + attention(context))`` [FLOP].
    fixed_s
        Time of the step that moves neither bytes nor FLOPs at the peak rates
        (collective latency beyond what the caller already counts) [s].
    fit
        Use these parameters instead of the shipped fit (for fitting); a
        family's fit is taken as ``hw_id`` runs it (:func:`for_part`).

    Returns
    -------
    float
        ``S / (BW x t_step)`` with ``t_step = S / (BW x bw) + F / (peak x
        decode_flops) + fixed_s``: see the module docstring for the derivation.
    """
    f = for_part(fit, hw_id) if fit else for_hardware(hw_id)
    t_step = step_bytes / (bandwidth * f.bw) + step_flops / (peak_flops * f.decode_flops) + fixed_s
    return step_bytes / (bandwidth * t_step)
