"""Hosted APIs versus self-hosting: the API bill, the fleet bill, and where they cross.

Prices live in :mod:`levers.api_prices`, one TOML file per provider with a
``[[prices]]`` row per model, each row carrying its own ``source`` and
``as_of``. They are read lazily (on first use, through
``importlib.resources``) and validated like the accelerator specs: a bad row
raises :class:`~levers.errors.SpecError` naming the file and the field.

The self-hosted side is the waterfall's final step (all levers as set) at the
scenario's volume, so its bill comes in whole GPUs with at least one replica:
a staircase in requests per day. An API bill is linear in requests per day.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources

from . import models
from .datafile import Field, check_table, parse_text, read
from .errors import SpecError
from .scenario import Scenario
from .waterfall import waterfall

_PACKAGE = "levers.api_prices"

#: Input tokens per output token in the blended-price convention.
BLEND_INPUT_PER_OUTPUT = 3
BLEND_LABEL = "blended $/1M tokens at 3:1 input:output"

#: The volume range of the comparison [requests/day].
CURVE_MIN, CURVE_MAX = 1e4, 1e8
#: Points per decade of the $/day curve.
POINTS_PER_DECADE = 8

_TOP = {"id": Field("str"), "name": Field("str")}
#: Published per-token prices run from fractions of a cent to tens of dollars per million.
_PRICE = dict(lo=0.001, hi=1000, unit="$/1M tokens")
_ROW = {
    "model": Field("str"),
    "api_model": Field("str"),
    "usd_per_1m_input": Field("number", **_PRICE),
    "usd_per_1m_cached_input": Field("number", required=False, **_PRICE),
    "usd_per_1m_output": Field("number", **_PRICE),
    "source": Field("str"),
    "as_of": Field("date"),
    "note": Field("str", required=False),
}


@dataclass(frozen=True)
class Price:
    """One provider's published price for one model.

    Attributes
    ----------
    provider, provider_name
        Provider id (the file stem) and display name.
    model
        Model id in :mod:`levers.model_specs`.
    api_model
        The provider's name for the endpoint.
    usd_per_1m_input, usd_per_1m_output
        Uncached input and output prices [$/1M tokens].
    usd_per_1m_cached_input
        Price of input tokens read from the provider's prompt cache
        [$/1M tokens], or ``None`` when the provider offers no such rate (cached
        tokens then pay the full input price).
    source, as_of, note
        Provenance of the row.
    """

    provider: str
    provider_name: str
    model: str
    api_model: str
    usd_per_1m_input: float
    usd_per_1m_output: float
    usd_per_1m_cached_input: float | None
    source: str
    as_of: str
    note: str = ""

    @property
    def blended(self) -> float:
        """``(3 x input + 1 x output) / 4`` [$/1M tokens], uncached input."""
        k = BLEND_INPUT_PER_OUTPUT
        return (k * self.usd_per_1m_input + self.usd_per_1m_output) / (k + 1)

    def usd_per_request(self, prompt: float, cached: float, output: float) -> float:
        """Price of one request [$]: uncached, cached and output tokens at their rates.

        ``((prompt - cached) x input + cached x cached_input + output x output) / 1e6``,
        with cached tokens at the full input price where no cached rate exists.
        """
        cached_rate = self.usd_per_1m_cached_input
        if cached_rate is None:
            cached_rate = self.usd_per_1m_input
        return ((prompt - cached) * self.usd_per_1m_input + cached * cached_rate
                + output * self.usd_per_1m_output) / 1e6


# --- data ------------------------------------------------------------------
def parse(text: str, filename: str) -> list[Price]:
    """Parse and validate one provider file.

    Raises
    ------
    SpecError
        For bad TOML, an unknown or missing key, a price that is not a positive
        number, a cached price above the input price, an unknown model, an
        ``id`` other than the file stem, or a model listed twice.
    """
    return _validate(parse_text(text, filename), filename)


def _validate(data: dict, filename: str) -> list[Price]:
    rows = data.pop("prices", None)
    top = check_table(filename, "", data, _TOP)
    stem = filename.rsplit("/", 1)[-1].removesuffix(".toml")
    if top["id"] != stem:
        raise SpecError(f"{filename}: id", f"must match the file name {stem!r}, got {top['id']!r}")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise SpecError(f"{filename}: prices", "needs at least one [[prices]] table")
    known = set(models.load_all())
    out, seen = [], set()
    for i, raw in enumerate(rows):
        where = f"prices[{i}]."
        row = check_table(filename, where, raw, _ROW)
        if row["model"] not in known:
            raise SpecError(f"{filename}: {where}model",
                            f"unknown model {row['model']!r}; allowed: {', '.join(sorted(known))}")
        if row["model"] in seen:
            raise SpecError(f"{filename}: {where}model", f"{row['model']!r} is listed twice")
        seen.add(row["model"])
        cached = row.get("usd_per_1m_cached_input")
        if cached is not None and cached > row["usd_per_1m_input"]:
            raise SpecError(f"{filename}: {where}usd_per_1m_cached_input",
                            f"must not exceed usd_per_1m_input ({row['usd_per_1m_input']:g})")
        if not row["source"].startswith("https://"):
            raise SpecError(f"{filename}: {where}source", "must start with an https:// address")
        out.append(Price(provider=top["id"], provider_name=top["name"], model=row["model"],
                         api_model=row["api_model"], usd_per_1m_input=row["usd_per_1m_input"],
                         usd_per_1m_output=row["usd_per_1m_output"], usd_per_1m_cached_input=cached,
                         source=row["source"], as_of=row["as_of"], note=row.get("note", "")))
    return out


def load_dir(path) -> tuple[Price, ...]:
    """Read and validate every ``*.toml`` provider file in a directory.

    Raises
    ------
    SpecError
        If any file is invalid; the message names the file and the field.
    """
    from pathlib import Path

    out: list[Price] = []
    for p in sorted(Path(path).glob("*.toml")):
        out.extend(_validate(read(p, str(p)), str(p)))
    return tuple(out)


@functools.cache
def load_all() -> tuple[Price, ...]:
    """Every shipped price row, by provider then model (read once, on first call)."""
    out: list[Price] = []
    for entry in sorted(resources.files(_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            name = f"levers/api_prices/{entry.name}"
            out.extend(_validate(read(entry, name), name))
    return tuple(out)


def prices_for(model_id: str) -> list[Price]:
    """The price rows of ``model_id`` (empty when no provider on file serves it)."""
    return [p for p in load_all() if p.model == model_id]


# --- bills -----------------------------------------------------------------
def _routed(s: Scenario) -> bool:
    return "routing" not in s.off and s.route_share > 0


def api_usd_per_request(s: Scenario, big: Price, small: Price | None) -> float:
    """What one request of ``s`` costs on the API [$].

    The token mix is the scenario's: ``system_prompt_tokens + user_tokens``
    prompt tokens, of which ``cache_hit_rate`` are cached (when prefix caching
    is on), and ``output_tokens`` out. When routing is on and the provider also
    prices the small model, requests are routed as the fleet routes them:
    a *split* sends ``route_share`` to the small model and the rest to the big
    one; a *cascade* sends every request to the small model and the
    ``1 - route_share`` that escalate to the big one as well.
    """
    prompt = s.system_prompt_tokens + s.user_tokens
    cached = prompt * s.cache_hit_rate if "prefix_caching" not in s.off else 0.0
    out = s.output_tokens
    one_big = big.usd_per_request(prompt, cached, out)
    if small is None or not _routed(s):
        return one_big
    one_small = small.usd_per_request(prompt, cached, out)
    esc = 1.0 - s.route_share
    if s.route_policy == "cascade":
        return one_small + esc * one_big
    return s.route_share * one_small + esc * one_big


def _with(s: Scenario, **values) -> Scenario:
    return Scenario.from_mapping(values, base=s)


def fleet_usd_per_day(s: Scenario, requests_per_day: float) -> float:
    """The self-hosted bill at ``requests_per_day`` [$/day]: the waterfall's final cost."""
    return waterfall(_with(s, requests_per_day=requests_per_day)).final_cost_per_day


def curve_volumes() -> list[float]:
    """Requests/day from :data:`CURVE_MIN` to :data:`CURVE_MAX`, evenly spaced in log."""
    n = round(math.log10(CURVE_MAX / CURVE_MIN) * POINTS_PER_DECADE)
    return [CURVE_MIN * (CURVE_MAX / CURVE_MIN) ** (i / n) for i in range(n + 1)]


class _Fleet:
    """The fleet bill as a function of volume, each volume computed once."""

    def __init__(self, s: Scenario):
        self.s = Scenario.from_mapping({}, base=s)  # a private copy to move the volume on
        self.memo: dict[float, float] = {}

    def __call__(self, x: float) -> float:
        if x not in self.memo:
            self.s.requests_per_day = x
            self.memo[x] = waterfall(self.s).final_cost_per_day
        return self.memo[x]


def break_even(fleet, usd_per_request: float, volumes: list[float], *,
               rel_tol: float = 1e-3) -> float | None:
    """The lowest volume at which self-hosting becomes no dearer than the API.

    Scans ``volumes`` for the first point where ``fleet(x) <= usd_per_request
    x x`` after a point where it was dearer, then bisects (in log volume)
    between the two to ``rel_tol``. The fleet bill rises in whole-GPU steps,
    so the two bills cross either on a step's flat part (where they are
    equal) or at a step's edge (where they differ by at most one step).

    Returns
    -------
    float or None
        [requests/day], or None when self-hosting is cheaper from the first
        volume on, or never cheaper in the range.
    """
    def cheaper(x):
        return fleet(x) <= usd_per_request * x

    prev = None
    for x in volumes:
        if cheaper(x):
            if prev is None:
                return None
            lo, hi = prev, x
            while hi / lo - 1 > rel_tol:
                mid = math.sqrt(lo * hi)
                lo, hi = (lo, mid) if cheaper(mid) else (mid, hi)
            return hi
        prev = x
    return None


def comparison(s: Scenario, *, curve: bool = True) -> dict:
    """API bills next to the self-hosted bill for scenario ``s``.

    Returns
    -------
    dict
        ``model`` (the big model the API rows price), ``requests_per_day``,
        ``routing_on`` (whether requests are routed to the small model),
        ``self_hosted`` (``usd_per_day``, ``gpus``, ``hardware``, token prices
        and ``blended_usd_per_1m``), ``blend`` (the label of the 3:1
        convention), ``rows`` (one per provider: prices, ``source``,
        ``as_of``, ``usd_per_day``, ``usd_per_request``, ``blended_usd_per_1m``,
        ``routed`` (whether the small model is priced too),
        ``break_even_requests_per_day`` (None where none in range), the API
        bill there ``break_even_usd_per_day``, and ``verdict``) and, with ``curve``, ``curve``: ``volumes``
        [requests/day], ``self_hosted`` [$/day] and per provider its
        [$/day] at each volume.
    """
    note = ""
    if s.mode == "illustrative":
        s = _with(s, mode="modeled")
        note = ("illustrative multipliers do not scale with volume: the self-hosted bill here is "
                "the modeled fleet for the same settings")
    w = waterfall(s)
    final = w.steps[-1]
    k = BLEND_INPUT_PER_OUTPUT
    small_by_provider = {p.provider: p for p in prices_for(s.small_model)} if _routed(s) else {}
    volumes = curve_volumes()
    fleet = _Fleet(s)
    rows = []
    for big in prices_for(s.big_model):
        small = small_by_provider.get(big.provider)
        per_req = api_usd_per_request(s, big, small)
        be = break_even(fleet, per_req, volumes)
        if be is not None:
            verdict = "self-hosting is cheaper above the break-even volume"
        elif fleet(volumes[0]) <= per_req * volumes[0]:
            verdict = f"self-hosting is cheaper across the range from {volumes[0]:,.0f} requests/day"
        else:
            verdict = f"the API is cheaper across the range up to {volumes[-1]:,.0f} requests/day"
        rows.append({
            "provider": big.provider,
            "provider_name": big.provider_name,
            "model": big.model,
            "api_model": big.api_model,
            "small_model_priced": small is not None,
            "small_api_model": small.api_model if small else None,
            "usd_per_1m_input": big.usd_per_1m_input,
            "usd_per_1m_cached_input": big.usd_per_1m_cached_input,
            "usd_per_1m_output": big.usd_per_1m_output,
            "blended_usd_per_1m": big.blended,
            "source": big.source,
            "as_of": big.as_of,
            "note": big.note,
            "usd_per_request": per_req,
            "usd_per_day": per_req * s.requests_per_day,
            "break_even_requests_per_day": be,
            "break_even_usd_per_day": None if be is None else per_req * be,
            "verdict": verdict,
        })
    out = {
        "model": s.big_model,
        "requests_per_day": s.requests_per_day,
        "routing_on": _routed(s),
        "blend": BLEND_LABEL,
        "self_hosted": {
            "usd_per_day": w.final_cost_per_day,
            "gpus": final.gpus,
            "hardware": final.hardware,
            "usd_per_1m_input": final.usd_per_1m_input,
            "usd_per_1m_cached_input": final.usd_per_1m_cached_input,
            "usd_per_1m_output": final.usd_per_1m_output,
            "blended_usd_per_1m": (k * final.usd_per_1m_input + final.usd_per_1m_output) / (k + 1),
        },
        "rows": rows,
    }
    if note:
        out["note"] = note
    if not rows:
        out["message"] = (f"no hosted API price on file for {s.big_model}; providers on file price: "
                          f"{', '.join(sorted({p.model for p in load_all()}))}")
    if curve:
        out["curve"] = {
            "volumes": volumes,
            "self_hosted": [fleet(x) for x in volumes],
            "api": {r["provider"]: [r["usd_per_request"] * x for x in volumes] for r in rows},
        }
    return out

