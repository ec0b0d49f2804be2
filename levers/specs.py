"""Accelerator specifications, read from the ``hardware_specs`` data package.

Each accelerator lives in one human-readable TOML file,
``hardware_specs/<id>.toml``, with five tables (``compute``, ``memory``,
``power``, ``interconnect``, ``price``) that each carry their own ``source``
and ``as_of``. This module validates those files and turns them into frozen
:class:`Accelerator` records.

Nothing is read at import time: :func:`load_all` reads the package the first
time it is called and caches the result. Every problem in a data file is
reported as a :class:`~levers.errors.SpecError` whose message names the file
and the offending field (:mod:`levers.datafile` validates both catalogs), e.g.::

    hardware_specs/h100.toml: memory.hbm_GB: must be a number from 1 to 10,000 [GB], got -80

The module uses only the standard library.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datafile import Field, check_table, folder_entries, load_records, package_entries, parse_text
from .errors import InputError, SpecError

__all__ = [
    "FORMATS",
    "Accelerator",
    "Source",
    "get",
    "ids",
    "load_all",
    "load_dir",
    "parse",
]

#: Numeric formats understood by :meth:`Accelerator.peak_TFLOPS`.
FORMATS: tuple[str, ...] = ("bf16", "fp8", "int8", "fp4")

_PACKAGE = "hardware_specs"

# --- schema --------------------------------------------------------------
# Plausible ranges per chip: about two orders of magnitude around today's parts,
# so a typo (80e3 GB, 3.35e-3 TB/s) or a unit slip fails on load.
_TOP_LEVEL: dict[str, Field] = {
    "id": Field("str"),
    "name": Field("str"),
    "vendor": Field("str"),
    "notes": Field("str", required=False),
}

_PROVENANCE: dict[str, Field] = {
    "source": Field("str"),
    "as_of": Field("date"),
}


def _flops(required: bool = True, unit: str = "TFLOP/s") -> Field:
    return Field("number", required, lo=1, hi=100_000, unit=unit)


_TABLES: dict[str, dict[str, Field]] = {
    "compute": {
        "bf16_dense_TFLOPS": _flops(),
        "fp8_dense_TFLOPS": _flops(False),
        "int8_dense_TOPS": _flops(False, "TOP/s"),
        "fp4_dense_TFLOPS": _flops(False),
        **_PROVENANCE,
    },
    "memory": {
        "hbm_GB": Field("number", lo=1, hi=10_000, unit="GB"),
        "hbm_bandwidth_TBps": Field("number", lo=0.05, hi=200, unit="TB/s"),
        **_PROVENANCE,
    },
    "power": {
        "tdp_W": Field("number", lo=10, hi=10_000, unit="W"),
        "estimate": Field("bool", required=False),
        **_PROVENANCE,
    },
    "interconnect": {
        "scale_up_GBps": Field("number", lo=1, hi=100_000, unit="GB/s"),
        "scale_up_domain_GPUs": Field("int", required=False, lo=1, hi=100_000, unit="GPUs"),
        "scale_out_GBps": Field("number", required=False, lo=1, hi=100_000, unit="GB/s"),
        **_PROVENANCE,
    },
    "price": {
        "usd_per_hour": Field("number", lo=0.01, hi=1000, unit="$/chip-hour"),
        "estimate": Field("bool", required=False),
        **_PROVENANCE,
    },
}

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


# --- records -------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """Where one table's figures come from.

    Parameters
    ----------
    source
        URL or description of the source, including any caveat (secondary
        source, estimate basis).
    as_of
        Date of the source, or the date it was read, as ISO ``yyyy-mm`` or
        ``yyyy-mm-dd``.
    """

    source: str
    as_of: str


@dataclass(frozen=True)
class Accelerator:
    """One accelerator's published figures (per chip / per GPU).

    Parameters
    ----------
    id
        Short identifier, equal to the data file's stem (e.g. ``"h100"``).
    name
        Full product name.
    vendor
        Manufacturer.
    notes
        Free-text caveats (conflicting figures, estimates); may be empty.
    bf16_dense_TFLOPS
        Peak dense BF16 tensor throughput [TFLOP/s].
    fp8_dense_TFLOPS
        Peak dense FP8 throughput [TFLOP/s], or ``None`` without native FP8.
    int8_dense_TOPS
        Peak dense INT8 throughput [TOP/s], or ``None`` if not published.
    fp4_dense_TFLOPS
        Peak dense FP4 throughput [TFLOP/s], or ``None`` without native FP4.
    hbm_GB
        On-package memory capacity [GB].
    hbm_bandwidth_TBps
        Peak memory bandwidth [TB/s].
    tdp_W
        Board / module power [W].
    tdp_is_estimate
        ``True`` when the vendor publishes no power figure and ``tdp_W`` is
        our documented estimate.
    scale_up_GBps
        Per-chip scale-up link bandwidth, bidirectional aggregate [GB/s].
    scale_up_domain_GPUs, scale_out_GBps
        Chips one scale-up link joins (an 8-GPU NVLink node, a 72-GPU rack),
        and each chip's share of the scale-out network beyond it,
        bidirectional [GB/s]; ``None`` when the file gives none (the
        tensor-parallel group is then taken to sit in one scale-up domain).
    usd_per_hour
        Default on-demand price [USD per chip-hour].
    price_is_estimate
        True when no public price exists and ``usd_per_hour`` is a labelled
        placeholder (``estimate = true`` in the file's ``[price]`` table).
    sources
        Provenance per table, keyed ``'compute'``, ``'memory'``, ``'power'``,
        ``'interconnect'``, ``'price'``.
    """

    id: str
    name: str
    vendor: str
    notes: str
    bf16_dense_TFLOPS: float
    fp8_dense_TFLOPS: float | None
    int8_dense_TOPS: float | None
    fp4_dense_TFLOPS: float | None
    hbm_GB: float
    hbm_bandwidth_TBps: float
    tdp_W: float
    tdp_is_estimate: bool
    scale_up_GBps: float
    usd_per_hour: float
    price_is_estimate: bool = False
    scale_up_domain_GPUs: int | None = None
    scale_out_GBps: float | None = None
    sources: dict[str, Source] = field(default_factory=dict, compare=False, hash=False)

    def peak_TFLOPS(self, fmt: str) -> float | None:
        """Dense peak throughput for a numeric format.

        Parameters
        ----------
        fmt
            One of ``'bf16'``, ``'fp8'``, ``'int8'``, ``'fp4'``.

        Returns
        -------
        float or None
            Peak dense throughput [TFLOP/s] (for ``'int8'``: [TOP/s]), or
            ``None`` when the chip has no native support for ``fmt``.

        Raises
        ------
        InputError
            If ``fmt`` is not one of :data:`FORMATS`.
        """
        if fmt == "bf16":
            return self.bf16_dense_TFLOPS
        if fmt == "fp8":
            return self.fp8_dense_TFLOPS
        if fmt == "int8":
            return self.int8_dense_TOPS
        if fmt == "fp4":
            return self.fp4_dense_TFLOPS
        raise InputError("format", f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")

    def supports(self, fmt: str) -> bool:
        """Whether the chip has a published dense peak for ``fmt``.

        Parameters
        ----------
        fmt
            One of ``'bf16'``, ``'fp8'``, ``'int8'``, ``'fp4'``.

        Returns
        -------
        bool
            ``True`` if :meth:`peak_TFLOPS` returns a number for ``fmt``.
        """
        return self.peak_TFLOPS(fmt) is not None


# --- validation ----------------------------------------------------------
def _validate(data: dict[str, Any], filename: str) -> Accelerator:
    """Turn a parsed TOML document into an :class:`Accelerator`, or raise SpecError."""
    known = set(_TOP_LEVEL) | set(_TABLES)
    for key in data:
        if key not in known:
            allowed = ", ".join([*_TOP_LEVEL, *_TABLES])
            raise SpecError(f"{filename}: {key}", f"unknown key; allowed: {allowed}")

    top = check_table(filename, "", {k: v for k, v in data.items() if k in _TOP_LEVEL}, _TOP_LEVEL)
    stem = Path(filename).stem
    if top["id"] != stem:
        raise SpecError(
            f"{filename}: id", f"must equal the file name stem {stem!r}, got {top['id']!r}"
        )
    if not _ID_RE.match(top["id"]):
        raise SpecError(
            f"{filename}: id",
            f"must be lower-case letters, digits and '-', got {top['id']!r}",
        )

    tables: dict[str, dict[str, Any]] = {}
    for name, schema in _TABLES.items():
        if name not in data:
            raise SpecError(f"{filename}: {name}", "missing required table")
        raw = data[name]
        if not isinstance(raw, dict):
            raise SpecError(f"{filename}: {name}", "must be a table ([" + name + "])")
        tables[name] = check_table(filename, f"{name}.", raw, schema)

    c, m, p = tables["compute"], tables["memory"], tables["power"]
    return Accelerator(
        id=top["id"],
        name=top["name"],
        vendor=top["vendor"],
        notes=top.get("notes", ""),
        bf16_dense_TFLOPS=c["bf16_dense_TFLOPS"],
        fp8_dense_TFLOPS=c.get("fp8_dense_TFLOPS"),
        int8_dense_TOPS=c.get("int8_dense_TOPS"),
        fp4_dense_TFLOPS=c.get("fp4_dense_TFLOPS"),
        hbm_GB=m["hbm_GB"],
        hbm_bandwidth_TBps=m["hbm_bandwidth_TBps"],
        tdp_W=p["tdp_W"],
        tdp_is_estimate=p.get("estimate", False),
        scale_up_GBps=tables["interconnect"]["scale_up_GBps"],
        scale_up_domain_GPUs=tables["interconnect"].get("scale_up_domain_GPUs"),
        scale_out_GBps=tables["interconnect"].get("scale_out_GBps"),
        usd_per_hour=tables["price"]["usd_per_hour"],
        price_is_estimate=tables["price"].get("estimate", False),
        sources={name: Source(source=t["source"], as_of=t["as_of"]) for name, t in tables.items()},
    )


# --- public API ----------------------------------------------------------
def parse(text: str, filename: str) -> Accelerator:
    """Parse and validate one accelerator file.

    Parameters
    ----------
    text
        The file's TOML text.
    filename
        Name used in error messages; its stem must equal the file's ``id``.

    Returns
    -------
    Accelerator
        The validated record.

    Raises
    ------
    SpecError
        If the TOML is malformed or any field is missing, unknown, of the
        wrong type, outside its plausible range, or ``id`` differs from the stem.
    """
    return _validate(parse_text(text, filename), filename)


def load_dir(path: str | Path) -> dict[str, Accelerator]:
    """Read and validate every ``*.toml`` file in a directory.

    Parameters
    ----------
    path
        Directory holding accelerator files (not searched recursively).

    Returns
    -------
    dict of str to Accelerator
        Records keyed by id, sorted by id.

    Raises
    ------
    SpecError
        If any file is invalid; the message names the file and field.
    """
    return load_records(folder_entries(path), _validate)


@functools.cache
def load_all() -> dict[str, Accelerator]:
    """Read every accelerator shipped in the ``hardware_specs`` package.

    The result is cached after the first call; treat it as read-only.

    Returns
    -------
    dict of str to Accelerator
        Records keyed by id, sorted by id.

    Raises
    ------
    SpecError
        If a shipped file is invalid.
    """
    return load_records(package_entries(_PACKAGE), _validate)


def ids() -> list[str]:
    """Ids of all shipped accelerators, sorted.

    Returns
    -------
    list of str
        E.g. ``['a100', 'b200', ...]``.
    """
    return list(load_all())


def get(hw_id: str) -> Accelerator:
    """Look up a shipped accelerator by id.

    Parameters
    ----------
    hw_id
        Accelerator id, e.g. ``'h100'``.

    Returns
    -------
    Accelerator
        The matching record.

    Raises
    ------
    InputError
        With field ``'hardware'`` if ``hw_id`` is not a shipped id; the
        message lists the allowed ids.
    """
    table = load_all()
    if isinstance(hw_id, str) and hw_id in table:
        return table[hw_id]
    raise InputError("hardware", f"unknown id {hw_id!r}; allowed: {', '.join(table)}")
